/**
 * Load generator for the ingest and connections benches, run as its own
 * process so its TLS, signing and JSON work does not share the control
 * plane's event loop:
 *
 *   node --import tsx bench/ingest/loadgen.ts <config.json>
 *
 * Every agent is a real mTLS WebSocket client with its own client certificate,
 * issued here by the bench CA (the bench process hands over the CA key, so the
 * server process does not hold thousands of certificates it would not hold in
 * production). The agents of one process share one P-256 TLS key pair; their
 * certificates, serials and identities are distinct. Evidence keys are derived
 * from agent ids (`benchEvidenceKey`), as the server derives the public halves.
 *
 * `stream` mode: each agent says hello; the process prints
 * `{"event":"connected"}` and waits for a `go` line; then each agent sends a pre-signed chain of
 * ~2 KB bundles through a send window (like the agent's outbox), either as
 * fast as the window allows or paced at `ratePerAgent` bundles/s. Latency is
 * from a bundle's send time (its scheduled time when paced, so a stalled
 * window counts against the server) to the cumulative ack covering it. Prints
 * one JSON line ({@link StreamResult}).
 *
 * `fleet` mode: connects and hellos every agent (`connectConcurrency` at a
 * time), prints `{"event":"ready",...}`, and holds them idle. On a `storm`
 * line on stdin it drops every connection at once, and each agent reconnects
 * as the real agent does (full-jitter exponential backoff, the agent's
 * `Backoff`), says hello, sends its next bundle and waits for the ack; then it
 * prints `{"event":"stormed",...}` ({@link StormResult}). It exits when stdin
 * closes.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { Backoff, type BackoffPolicy } from "../../agent/src/transport/backoff.js";
import { openCertificateAuthority } from "../../control-plane/src/pki/authority.js";
import {
  bundleHash,
  type EvidenceBundle,
  GENESIS_HASH,
  PROTOCOL_VERSION,
  signBundle,
  systemClock,
} from "../../shared/src/index.js";
import { sampleBundle } from "../fixtures.js";
import { BENCH_CLINIC, type BenchTls, benchEvidenceKey } from "./server.js";

/** The part of a `ws` client this generator uses (the root package has neither ws nor its types). */
interface WebSocket {
  send(data: string): void;
  terminate(): void;
  on(event: "message", fn: (data: Buffer) => void): void;
  on(event: "close", fn: () => void): void;
  on(event: "error", fn: (err: Error) => void): void;
  once(event: "open", fn: () => void): void;
  once(event: "message", fn: (data: Buffer) => void): void;
  once(event: "error", fn: (err: Error) => void): void;
  once(event: "close", fn: () => void): void;
  once(event: "unexpected-response", fn: (req: unknown, res: { statusCode?: number }) => void): void;
  removeAllListeners(): void;
}
type WebSocketCtor = new (url: string, options: Record<string, unknown>) => WebSocket;

// The agent depends on ws, and this process plays agents.
const WebSocket = createRequire(new URL("../../agent/package.json", import.meta.url))("ws") as WebSocketCtor;

/** What the bench process passes in. */
export type LoadgenConfig =
  | {
      mode: "stream";
      tls: BenchTls;
      agents: string[];
      bundlesPerAgent: number;
      window: number;
      /** Bundles per second each agent offers; 0 sends as fast as the window allows. */
      ratePerAgent: number;
    }
  | {
      mode: "fleet";
      tls: BenchTls;
      agents: string[];
      connectConcurrency: number;
      /** 127.0.0.x source addresses, used in turn, so ports do not run out. */
      localAddresses: string[];
      /** The agent's reconnect policy. */
      backoff: BackoffPolicy;
    };

/** The stream result line. */
export interface StreamResult {
  bundles: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** The fleet's ready line. */
export interface ReadyResult {
  event: "ready";
  connected: number;
  seconds: number;
}

/** The fleet's storm result line. */
export interface StormResult {
  event: "stormed";
  /** Agents that reconnected, said hello and had their bundle acknowledged. */
  acked: number;
  /** Error frames received (a refused bundle gets one). */
  errorFrames: number;
  /** Failed connection attempts that the backoff retried. */
  retries: number;
  /** Why attempts failed: error message (first 60 characters) -> count. */
  failures: Record<string, number>;
  /** From the drop to the last ack. */
  seconds: number;
  /** From the drop to each agent's ack. */
  p50Ms: number;
  p99Ms: number;
}

interface Identity {
  agent_id: string;
  cert: string;
}

/** Issues one client certificate per agent, all for one fresh TLS key pair. */
function issueAll(tls: BenchTls, agents: readonly string[]): { key: string; ids: Identity[] } {
  const ca = openCertificateAuthority({
    keyPem: tls.caKeyPem,
    certificatePem: tls.caPem,
    clock: systemClock,
  });
  const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const publicKeyPem = pair.publicKey.export({ format: "pem", type: "spki" }).toString();
  const key = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const ids = agents.map((agent_id) => ({
    agent_id,
    cert: ca.issueClientCertificate({ clinicId: BENCH_CLINIC, agentId: agent_id, publicKeyPem, days: 30 })
      .certificate_pem,
  }));
  return { key, ids };
}

function open(tls: BenchTls, id: Identity, key: string, localAddress?: string): Promise<WebSocket> {
  const ws = new WebSocket(tls.url, {
    ca: tls.caPem,
    cert: id.cert,
    key,
    perMessageDeflate: false,
    handshakeTimeout: 120_000,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  return new Promise((resolve, reject) => {
    // A failed attempt must not leave its socket open: with an unexpected-response listener, ws
    // leaves aborting the request to the caller.
    const fail = (e: Error) => {
      discard(ws);
      reject(e);
    };
    ws.once("open", () => resolve(ws));
    ws.once("error", fail);
    ws.once("unexpected-response", (_q, res) => fail(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** Sends hello and resolves with the welcome's acked_seq. */
function hello(ws: WebSocket, agent_id: string): Promise<number> {
  ws.send(
    JSON.stringify({
      type: "hello",
      protocol_version: PROTOCOL_VERSION,
      agent_id,
      client_id: BENCH_CLINIC,
      hostname: "bench",
      agent_version: "bench",
      last_seq: 0,
      catalog_sha256: "d".repeat(64),
    }),
  );
  return new Promise((resolve, reject) => {
    ws.once("message", (data) => {
      const f = JSON.parse(String(data)) as { type: string; acked_seq?: number };
      if (f.type === "welcome") resolve(f.acked_seq ?? 0);
      else reject(new Error(`expected welcome, got ${String(data).slice(0, 300)}`));
    });
    ws.once("close", () => reject(new Error("closed before welcome")));
  });
}

/** The agent's signed chain from seq `from` on, as bundle frames. */
function chain(agent_id: string, count: number, from = 1, prevHash = GENESIS_HASH): string[] {
  const key = benchEvidenceKey(agent_id);
  const out: string[] = [];
  let prev = prevHash;
  for (let seq = from; seq < from + count; seq++) {
    const b: EvidenceBundle = signBundle(
      { ...sampleBundle({ seq, prevHash: prev }), agent_id, client_id: BENCH_CLINIC },
      key,
    );
    prev = bundleHash(b);
    out.push(JSON.stringify({ type: "bundle", bundle: b }));
  }
  return out;
}

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function stream(cfg: Extract<LoadgenConfig, { mode: "stream" }>): Promise<StreamResult> {
  const { key, ids } = issueAll(cfg.tls, cfg.agents);
  const chains = cfg.agents.map((a) => chain(a, cfg.bundlesPerAgent));
  const sockets = await Promise.all(
    ids.map(async (id) => {
      const ws = await open(cfg.tls, id, key);
      await hello(ws, id.agent_id);
      return ws;
    }),
  );
  // Connected and said hello: the bench starts its CPU accounting now and answers `go`.
  process.stdout.write(`${JSON.stringify({ event: "connected" })}\n`);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === "go") break;
  lines.close();
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const interval = cfg.ratePerAgent > 0 ? 1000 / cfg.ratePerAgent : 0;
  await Promise.all(
    sockets.map(
      (ws, i) =>
        new Promise<void>((resolve, reject) => {
          const frames = chains[i] as string[];
          const sentAt: number[] = [];
          // Paced agents start at staggered offsets, as independent agents would.
          const offset = interval * (i / sockets.length);
          let next = 0;
          let acked = 0;
          let timer: NodeJS.Timeout | undefined;
          const pump = () => {
            const now = performance.now();
            while (next < frames.length && next - acked < cfg.window) {
              const due = start + offset + next * interval;
              if (due > now) {
                timer ??= setTimeout(() => {
                  timer = undefined;
                  pump();
                }, due - now);
                return;
              }
              sentAt[next] = interval > 0 ? due : now;
              ws.send(frames[next] as string);
              next++;
            }
          };
          ws.on("message", (data) => {
            const f = JSON.parse(String(data)) as { type: string; receipt?: { up_to_seq: number } };
            if (f.type === "error") {
              // A refused bundle is never acked: stop rather than wait for it.
              errors++;
              reject(new Error(`${cfg.agents[i]}: error frame ${String(data).slice(0, 300)}`));
            }
            if (f.type !== "ack" || f.receipt === undefined) return;
            const now = performance.now();
            for (; acked < f.receipt.up_to_seq; acked++) latencies.push(now - (sentAt[acked] as number));
            if (acked === frames.length) {
              if (timer !== undefined) clearTimeout(timer);
              resolve();
            } else pump();
          });
          pump();
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  for (const ws of sockets) ws.terminate();
  latencies.sort((a, b) => a - b);
  return { bundles: latencies.length, seconds, p50Ms: pct(latencies, 50), p99Ms: pct(latencies, 99), errors };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

async function fleet(cfg: Extract<LoadgenConfig, { mode: "fleet" }>): Promise<void> {
  const { key, ids } = issueAll(cfg.tls, cfg.agents);
  const sockets: (WebSocket | null)[] = ids.map(() => null);
  const source = (i: number) => cfg.localAddresses[i % cfg.localAddresses.length];
  const started = performance.now();
  await pool(ids, cfg.connectConcurrency, async (id, i) => {
    const ws = await open(cfg.tls, id, key, source(i));
    await hello(ws, id.agent_id);
    sockets[i] = ws;
  });
  // Pre-sign each agent's next bundle now, so the storm times the server rather than this process.
  const frames = cfg.agents.map((a) => chain(a, 1)[0] as string);
  const ready: ReadyResult = {
    event: "ready",
    connected: sockets.filter((s) => s !== null).length,
    seconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() !== "storm") continue;
    process.stdout.write(`${JSON.stringify(await storm(cfg, ids, key, sockets, frames))}\n`);
  }
  for (const ws of sockets) ws?.terminate();
}

/** Closes a socket abruptly, as a crash or a network cut would, ignoring whatever it still emits. */
function discard(ws: WebSocket): void {
  ws.removeAllListeners();
  ws.on("error", () => {});
  ws.terminate();
}

/** Sends one bundle frame and resolves on the ack covering seq 1; rejects on an error frame or a close. */
function sendForAck(ws: WebSocket, frame: string, onErrorFrame: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ws.on("message", (data) => {
      const f = JSON.parse(String(data)) as { type: string; receipt?: { up_to_seq: number } };
      if (f.type === "error") {
        onErrorFrame();
        reject(new Error(`error frame: ${String(data).slice(0, 300)}`));
      }
      if (f.type === "ack" && (f.receipt?.up_to_seq ?? 0) >= 1) resolve();
    });
    ws.once("close", () => reject(new Error("closed before ack")));
    ws.send(frame);
  });
}

/** Drops every connection, then reconnects each agent as the real agent would and sends one bundle. */
async function storm(
  cfg: Extract<LoadgenConfig, { mode: "fleet" }>,
  ids: readonly Identity[],
  key: string,
  sockets: (WebSocket | null)[],
  frames: readonly string[],
): Promise<StormResult> {
  const dropped = performance.now();
  for (const [i, ws] of sockets.entries()) {
    if (ws !== null) discard(ws);
    sockets[i] = null;
  }
  let errorFrames = 0;
  let retries = 0;
  const failures: Record<string, number> = {};
  const times: number[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await Promise.all(
    ids.map(async (id, i) => {
      const backoff = new Backoff(cfg.backoff, Math.random);
      for (;;) {
        await sleep(backoff.next());
        let ws: WebSocket | null = null;
        try {
          ws = await open(cfg.tls, id, key, cfg.localAddresses[i % cfg.localAddresses.length]);
          const acked = await hello(ws, id.agent_id);
          // A bundle acknowledged on an earlier connection is not resent (the agent's outbox deleted it).
          if (acked < 1) await sendForAck(ws, frames[i] as string, () => errorFrames++);
          times.push(performance.now() - dropped);
          sockets[i] = ws;
          return;
        } catch (e) {
          retries++;
          const why = String((e as Error).message ?? e).slice(0, 60);
          failures[why] = (failures[why] ?? 0) + 1;
          if (ws !== null) discard(ws);
        }
      }
    }),
  );
  times.sort((a, b) => a - b);
  return {
    event: "stormed",
    acked: times.length,
    errorFrames,
    retries,
    failures,
    seconds: (performance.now() - dropped) / 1000,
    p50Ms: pct(times, 50),
    p99Ms: pct(times, 99),
  };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: loadgen.ts <config.json>");
  const cfg = JSON.parse(readFileSync(file, "utf8")) as LoadgenConfig;
  if (cfg.mode === "stream") process.stdout.write(`${JSON.stringify(await stream(cfg))}\n`);
  else await fleet(cfg);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  },
);
