/**
 * The agent (issue 4): how fast evidence is made durable, how fast a backlog
 * replays to the control plane after an outage, and what the executable
 * costs to start and to keep running.
 *
 * - Durable enqueue: signed, fsync'd SQLite appends to a fresh outbox (`benchOutboxAppend`).
 * - Replay: N queued bundles streamed by the real transport over real mTLS to
 *   the stub ingest endpoint (test/support/ingest-server.ts, which verifies,
 *   fsyncs and acks each bundle), counted for loss and duplicates. The queue
 *   is an in-memory signed chain so the figure is the transport's and the
 *   endpoint's, not the time to prefill an fsync-per-append outbox.
 * - Cold start and idle RSS of `agent/dist/msp-agent` next to `node agent/dist/bundle.cjs`.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { benchOutboxAppend } from "../../agent/src/outbox/bench.js";
import { createTransport } from "../../agent/src/transport/index.js";
import { canonicalBytes, generateSigningKey, saveSigningKey, seedOf } from "../../shared/src/index.js";
import { startIngestServer } from "../../test/support/ingest-server.js";
import { createTestPki, type TestPki } from "../../test/support/pki.js";
import { MemoryOutbox } from "../../test/transport/memory-outbox.js";
import type { Row, Suite, SuiteOptions } from "../lib.js";

const REPO = resolve(import.meta.dirname, "..", "..");
const EXE = join(REPO, "agent", "dist", "msp-agent");
const BUNDLE = join(REPO, "agent", "dist", "bundle.cjs");
const WHO = { agent_id: "srv-bench", client_id: "clinic-bench" };

/** Replays `n` queued bundles and reports rate, duration, loss and duplicates. */
async function replay(n: number, pki: TestPki, dir: string): Promise<Row[]> {
  const evidenceKey = generateSigningKey();
  const cpKey = generateSigningKey();
  const server = await startIngestServer({
    port: 0,
    dataDir: join(dir, "ingest"),
    tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.ca.certFile },
    controlPlaneSeed: seedOf(cpKey).toString("base64"),
    agents: {
      [WHO.agent_id]: {
        client_id: WHO.client_id,
        evidence_public_key: evidenceKey.publicKey.toString("base64"),
      },
    },
  });
  const client = pki.issueClient("bench", WHO);
  const outbox = new MemoryOutbox(evidenceKey, cpKey.publicKey.toString("base64"), WHO);
  const sample = outbox.append(n)[0];
  const bytes = sample === undefined ? 0 : canonicalBytes(sample).length;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  outbox.onAck = (acked) => {
    if (acked === n) done();
  };
  const transport = createTransport({
    url: server.url,
    ca: pki.ca.cert,
    cert: client.cert,
    key: client.key,
    hello: { ...WHO, hostname: WHO.agent_id, agent_version: "bench", catalog_sha256: "d".repeat(64) },
    outbox,
    onCommand: async () => undefined,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    sendWindow: 256,
  });
  const start = process.hrtime.bigint();
  transport.start();
  await finished;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await transport.stop();
  const stored = server.stored(WHO.agent_id).map((b) => b.seq);
  await server.stop();
  const unique = new Set(stored);
  return [
    { figure: "replayed bundle size (canonical bytes)", value: bytes, unit: "B" },
    { figure: `replay of ${n} queued bundles over mTLS`, value: n / seconds, unit: "bundles/s" },
    {
      figure: `replay of ${n} queued bundles: duration`,
      value: seconds,
      unit: "s",
      target: { kind: "atMost", value: (30 * n) / 100_000 },
      bound:
        "the stub endpoint fsyncs every bundle before acking it; the disk's fsync latency bounds the rate",
    },
    {
      figure: "replay: bundles lost",
      value: n - unique.size,
      unit: "",
      target: { kind: "atMost", value: 0 },
    },
    {
      figure: "replay: bundles stored twice",
      value: stored.length - unique.size,
      unit: "",
      target: { kind: "atMost", value: 0 },
    },
  ];
}

/** Writes a config for an idle daemon (control plane unreachable, hourly checks). */
async function idleConfig(pki: TestPki, dir: string): Promise<string> {
  const state = join(dir, "state");
  mkdirSync(join(dir, "backups"), { recursive: true });
  await saveSigningKey(join(state, "evidence.key"), generateSigningKey());
  const client = pki.issueClient("idle", WHO);
  const baseline = join(dir, "baseline.yaml");
  writeFileSync(
    baseline,
    `version: 1\nid: bench\nbaseline_version: 1.0.0\ndescription: bench\nchecks:\n  - type: backup_freshness\n    id: backup_fresh\n    citation: ["164.308(a)(7)(ii)(A)"]\n    severity: high\n    directory: ${join(dir, "backups")}\n    max_age_hours: 24\n`,
  );
  const config = join(dir, "agent.yaml");
  writeFileSync(
    config,
    [
      "version: 1",
      `agent_id: ${WHO.agent_id}`,
      `client_id: ${WHO.client_id}`,
      "control_plane:",
      "  url: wss://127.0.0.1:9/v1/agent",
      `  ca_file: ${pki.ca.certFile}`,
      `  cert_file: ${client.certFile}`,
      `  key_file: ${client.keyFile}`,
      `  public_key: ${generateSigningKey().publicKey.toString("base64")}`,
      `evidence_key_file: ${join(state, "evidence.key")}`,
      `state_dir: ${state}`,
      `baseline_file: ${baseline}`,
      `runbooks_dir: ${join(REPO, "runbooks")}`,
      "log_level: error",
    ].join("\n"),
  );
  return config;
}

/** Median wall time of `cmd version` over `runs` cold starts, in ms. */
function coldStartMs(cmd: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd[0] as string, [...cmd.slice(1), "version"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd.join(" ")} version failed: ${r.stderr}`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** RSS of a `run` daemon that has started and settled for `settleMs`, in MB. */
async function idleRssMb(cmd: string[], config: string, settleMs: number): Promise<number> {
  const child = spawn(cmd[0] as string, [...cmd.slice(1), "run", "--config", config], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  try {
    await new Promise<void>((resolveReady, reject) => {
      child.once("exit", (code) => reject(new Error(`${cmd.join(" ")} run exited with ${code}: ${stderr}`)));
      createInterface({ input: child.stdout }).once("line", () => resolveReady());
    });
    await new Promise((r) => setTimeout(r, settleMs));
    const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return kb / 1024;
  } finally {
    child.kill("SIGTERM");
  }
}

/** The agent suite. */
export const agentSuite: Suite = {
  name: "agent",
  title: "Agent: durable enqueue, replay after an outage, executable start and footprint",
  description:
    "Durable enqueue is a signed, fsync'd SQLite commit per bundle. Replay streams a queued backlog through the " +
    "real transport over mTLS to the stub ingest endpoint on 127.0.0.1 (full run: 100,000 bundles; --quick: 2,000). " +
    "Cold start is the median `version` call; idle RSS is a `run` daemon with an unreachable control plane.",
  async run(opts: SuiteOptions) {
    const rows: Row[] = [];
    const enqueue = await benchOutboxAppend(opts.quick ? 100 : 2000);
    rows.push({
      figure: "outbox durable enqueue (signed, fsync per append)",
      value: enqueue.perSecond,
      unit: "bundles/s",
    });
    const dir = mkdtempSync(join(tmpdir(), "msp-bench-agent-"));
    const pki = createTestPki();
    try {
      rows.push(...(await replay(opts.quick ? 2000 : 100_000, pki, dir)));
      const runs = opts.quick ? 3 : 9;
      const settle = opts.quick ? 1000 : 3000;
      const config = await idleConfig(pki, dir);
      const rss = async (figure: string, cmd: string[]) => {
        try {
          rows.push({ figure, value: await idleRssMb(cmd, config, settle), unit: "MB" });
        } catch (e) {
          // A daemon that cannot start is reported on stderr rather than failing the other figures.
          process.stderr.write(`agent suite: ${figure} not measured: ${(e as Error).message}\n`);
        }
      };
      if (existsSync(EXE)) {
        rows.push({ figure: "cold start, msp-agent version", value: coldStartMs([EXE], runs), unit: "ms" });
        await rss("idle RSS, msp-agent run", [EXE]);
      } else {
        process.stderr.write(
          "agent suite: agent/dist/msp-agent is missing; run `pnpm build:agent` for its figures\n",
        );
      }
      if (existsSync(BUNDLE)) {
        const node = [process.execPath, BUNDLE];
        rows.push({
          figure: "cold start, node bundle.cjs version",
          value: coldStartMs(node, runs),
          unit: "ms",
        });
        await rss("idle RSS, node bundle.cjs run", node);
      }
    } finally {
      pki.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
