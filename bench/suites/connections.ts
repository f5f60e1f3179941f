/**
 * Idle agents and a reconnect storm on one control-plane process: N agents,
 * each a real mTLS WebSocket client with its own client certificate from the
 * control plane's CA, played by two load-generator processes
 * (`bench/ingest/loadgen.ts`, fleet mode), connect and say hello to the real
 * agent endpoint (`bench/ingest/server.ts`) and stay idle. The figure is the
 * server process's RSS growth per connection (a full GC before each reading).
 * Then every connection is dropped at once and each agent reconnects with the
 * agent's own full-jitter exponential backoff, says hello and sends its next
 * evidence bundle; the storm passes when every bundle is acknowledged and
 * none is refused. Handshake cost is the server process's CPU time (all
 * threads) per reconnect, so the figure holds on a machine shared with others.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { ReadyResult, StormResult } from "../ingest/loadgen.js";
import { startBenchServer } from "../ingest/server.js";
import { type Loadgen, spawnLoadgen } from "../ingest/spawn.js";
import type { Row, Suite } from "../lib.js";

/** The fleet size for one control-plane process. */
const TARGET_AGENTS = 10_000;
/** Load-generator processes; each also uses its own 127.0.0.x source addresses. */
const PROCESSES = 2;
/** The agent's default reconnect policy (agent/src/transport/options.ts). */
const AGENT_BACKOFF = { initialMs: 1_000, maxMs: 60_000 };

/** A full GC before each RSS reading, so garbage does not hide (or pose as) connection memory. */
function collect(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** Settles the heap and returns RSS in bytes. */
async function settledRss(): Promise<number> {
  collect();
  await new Promise((r) => setTimeout(r, 200));
  collect();
  return process.memoryUsage().rss;
}

/** The connections suite. */
export const connectionsSuite: Suite = {
  name: "connections",
  title: "Idle agents and a reconnect storm on one control-plane process",
  description:
    `Agents are real mTLS WebSocket clients (one client certificate each, from the control plane's CA) in ${PROCESSES} ` +
    "load-generator processes; the endpoint and ingest run in this process. RSS growth is per hello'd idle " +
    "connection after a full GC. The storm drops every connection at once; agents reconnect with the agent's " +
    `full-jitter backoff (${AGENT_BACKOFF.initialMs} ms doubling to ${AGENT_BACKOFF.maxMs / 1000} s) and each sends one ` +
    "bundle. Server CPU is the process's user + system time over all threads. Targets from issue 10.",
  async run(opts) {
    const n = opts.quick ? 400 : TARGET_AGENTS;
    const dir = mkdtempSync(join(tmpdir(), "msp-bench-connections-"));
    const server = await startBenchServer({ dir, workers: availableParallelism() });
    const gens: Loadgen[] = [];
    const rows: Row[] = [];
    try {
      const ids = server.enrol("agent-c-", n);
      const before = await settledRss();
      const per = Math.ceil(n / PROCESSES);
      for (let p = 0; p < PROCESSES; p++) {
        const group = ids.slice(p * per, (p + 1) * per);
        if (group.length === 0) continue;
        gens.push(
          spawnLoadgen(
            {
              mode: "fleet",
              tls: server.tls,
              agents: group,
              connectConcurrency: 64,
              localAddresses: [1, 2, 3, 4].map((k) => `127.0.0.${1 + p * 4 + k}`),
              backoff: AGENT_BACKOFF,
            },
            dir,
          ),
        );
      }
      const started = performance.now();
      const ready = await Promise.all(gens.map((g) => g.next<ReadyResult>()));
      const connectSeconds = (performance.now() - started) / 1000;
      const connected = ready.reduce((s, r) => s + r.connected, 0);
      const live = server.endpoint.connections().length;
      if (connected !== n || live !== n) {
        throw new Error(
          `connections bench: ${connected} agents connected, the server holds ${live}, of ${n}`,
        );
      }
      const idle = await settledRss();
      const perConnKiB = (idle - before) / n / 1024;

      const c0 = { ...server.endpoint.counters };
      const cpuBefore = process.cpuUsage();
      const stormStart = performance.now();
      for (const g of gens) g.send("storm");
      const storms = await Promise.all(gens.map((g) => g.next<StormResult>()));
      const stormSeconds = (performance.now() - stormStart) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuMsPerReconnect = (cpu.user + cpu.system) / 1000 / n;
      const acked = storms.reduce((s, r) => s + r.acked, 0);
      const errorFrames = storms.reduce((s, r) => s + r.errorFrames, 0);
      const retries = storms.reduce((s, r) => s + r.retries, 0);
      const failures = new Map<string, number>();
      for (const r of storms) {
        for (const [why, count] of Object.entries(r.failures))
          failures.set(why, (failures.get(why) ?? 0) + count);
      }
      if (failures.size > 0) {
        const text = [...failures]
          .sort((a, b) => b[1] - a[1])
          .map(([why, count]) => `${count} x ${why}`)
          .join("; ");
        console.error(`bench: connections: storm attempts that failed and were retried: ${text}`);
      }
      const stats = server.ingest.stats();
      const c = server.endpoint.counters;
      const refusedUpgrades = Object.values(c.refusals).reduce((s, v) => s + v, 0);
      const refused = errorFrames + stats.rejected + (n - acked);
      if (stats.stored !== n) {
        throw new Error(`connections bench: ${stats.stored} bundles stored after the storm, expected ${n}`);
      }
      const p99 = Math.max(...storms.map((s) => s.p99Ms));
      const tenThousandMiB = (before + perConnKiB * 1024 * TARGET_AGENTS) / 2 ** 20;

      rows.push(
        {
          figure: "idle agents connected to one process",
          value: connected,
          unit: "agents",
          target: { kind: "atLeast", value: TARGET_AGENTS },
          bound: opts.quick ? "--quick runs a small fleet" : "the fleet size this run was given",
        },
        {
          figure: `time to connect ${n} agents (64 handshakes in flight per process)`,
          value: connectSeconds,
          unit: "s",
        },
        { figure: `server RSS with ${n} idle agents`, value: idle / 2 ** 20, unit: "MiB" },
        {
          figure: "server RSS growth per idle agent",
          value: perConnKiB,
          unit: "KiB",
          target: { kind: "ref", value: 62 },
        },
        {
          figure:
            n === TARGET_AGENTS
              ? `server RSS with ${TARGET_AGENTS} idle agents, as measured`
              : `server RSS with ${TARGET_AGENTS} idle agents, EXTRAPOLATED from ${n}`,
          value: n === TARGET_AGENTS ? idle / 2 ** 20 : tenThousandMiB,
          unit: "MiB",
          target: { kind: "atMost", value: 1024 },
          bound: "per-connection memory: TLS socket buffers, the ws and Connection objects",
        },
        {
          figure: `reconnect storm: all ${n} agents back and their bundles acked`,
          value: stormSeconds,
          unit: "s",
        },
        { figure: "reconnect storm: p99 drop-to-ack per agent", value: p99, unit: "ms" },
        { figure: "reconnect storm: reconnects per second (wall)", value: n / stormSeconds, unit: "/s" },
        {
          figure: "reconnect storm: server CPU per reconnect (TLS handshake, upgrade, hello, one bundle)",
          value: cpuMsPerReconnect,
          unit: "ms",
        },
        {
          figure: "reconnect storm: reconnects per second per server core (from CPU time)",
          value: 1000 / cpuMsPerReconnect,
          unit: "/s",
          target: { kind: "ref", value: 85 },
        },
        {
          figure: "reconnect storm: connection attempts retried by the backoff",
          value: retries,
          unit: "attempts",
        },
        {
          figure: "reconnect storm: upgrades refused by the endpoint",
          value: refusedUpgrades,
          unit: "upgrades",
        },
        {
          figure: "reconnect storm: connections the server closed for no hello within 10 s",
          value: c.helloTimeouts - c0.helloTimeouts,
          unit: "connections",
        },
        {
          figure: "reconnect storm: connections the server dropped for a missed pong",
          value: c.keepaliveTimeouts - c0.keepaliveTimeouts,
          unit: "connections",
        },
        {
          figure: "reconnect storm: evidence refused or not acknowledged",
          value: refused,
          unit: "bundles",
          target: { kind: "atMost", value: 0 },
        },
      );
    } finally {
      await Promise.all(gens.map((g) => g.end()));
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
