/**
 * Load generator for the ingest bench, run as its own process so its TLS,
 * signing and JSON work does not share the server's event loop:
 *
 *   node --import tsx bench/ingest/loadgen.ts <config.json>
 *
 * `stream` mode: each agent connects over mTLS, says hello, then streams a
 * pre-signed chain of ~2 KB bundles with a send window, timing each bundle
 * from send to the cumulative ack that covers it. Prints one JSON line with
 * the totals. `idle` mode: opens `idle` hello'd connections, prints
 * `{"ready":N}` and holds them until stdin closes.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import {
  bundleHash,
  type EvidenceBundle,
  GENESIS_HASH,
  PROTOCOL_VERSION,
  signBundle,
  signingKeyFromSeed,
} from "../../shared/src/index.js";
import { sampleBundle } from "../fixtures.js";

/** The part of a `ws` client this generator uses (the root package has neither ws nor its types). */
interface WebSocket {
  send(data: string): void;
  terminate(): void;
  on(event: "message", fn: (data: Buffer) => void): void;
  once(event: "open", fn: () => void): void;
  once(event: "message", fn: (data: Buffer) => void): void;
  once(event: "error", fn: (err: Error) => void): void;
  once(event: "unexpected-response", fn: (req: unknown, res: { statusCode?: number }) => void): void;
}
type WebSocketCtor = new (url: string, options: Record<string, unknown>) => WebSocket;

// The agent depends on ws, and this process plays agents.
const WebSocket = createRequire(new URL("../../agent/package.json", import.meta.url))("ws") as WebSocketCtor;

/** What the bench process passes in. */
export interface LoadgenConfig {
  mode: "stream" | "idle";
  url: string;
  ca: string;
  cert: string;
  key: string;
  /** stream: one entry per agent (identity + evidence seed); idle: agents named by header. */
  agents: { agent_id: string; client_id: string; seed: string }[];
  bundlesPerAgent: number;
  window: number;
  idle: number;
}

/** The stream result line. */
export interface StreamResult {
  bundles: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function open(cfg: LoadgenConfig, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(cfg.url, {
    ca: cfg.ca,
    cert: cfg.cert,
    key: cfg.key,
    perMessageDeflate: false,
    headers,
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function hello(ws: WebSocket, agent_id: string, client_id: string): Promise<void> {
  ws.send(
    JSON.stringify({
      type: "hello",
      protocol_version: PROTOCOL_VERSION,
      agent_id,
      client_id,
      hostname: "bench",
      agent_version: "bench",
      last_seq: 0,
      catalog_sha256: "d".repeat(64),
    }),
  );
  return new Promise((resolve, reject) => {
    ws.once("message", (data) => {
      const f = JSON.parse(String(data)) as { type: string };
      if (f.type === "welcome") resolve();
      else reject(new Error(`expected welcome, got ${String(data)}`));
    });
  });
}

async function stream(cfg: LoadgenConfig): Promise<StreamResult> {
  const chains = cfg.agents.map((a) => {
    const key = signingKeyFromSeed(Buffer.from(a.seed, "base64"));
    const out: string[] = [];
    let prev = GENESIS_HASH;
    for (let seq = 1; seq <= cfg.bundlesPerAgent; seq++) {
      const b: EvidenceBundle = signBundle(
        { ...sampleBundle({ seq, prevHash: prev }), agent_id: a.agent_id, client_id: a.client_id },
        key,
      );
      prev = bundleHash(b);
      out.push(JSON.stringify({ type: "bundle", bundle: b }));
    }
    return out;
  });
  const sockets = await Promise.all(
    cfg.agents.map(async (a) => {
      const ws = await open(cfg, { "x-bench-agent": a.agent_id });
      await hello(ws, a.agent_id, a.client_id);
      return ws;
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  await Promise.all(
    sockets.map(
      (ws, i) =>
        new Promise<void>((resolve) => {
          const frames = chains[i] as string[];
          const sentAt: number[] = [];
          let next = 0;
          let acked = 0;
          const pump = () => {
            while (next < frames.length && next - acked < cfg.window) {
              sentAt[next] = performance.now();
              ws.send(frames[next] as string);
              next++;
            }
          };
          ws.on("message", (data) => {
            const f = JSON.parse(String(data)) as { type: string; receipt?: { up_to_seq: number } };
            if (f.type === "error") errors++;
            if (f.type !== "ack" || f.receipt === undefined) return;
            const now = performance.now();
            for (; acked < f.receipt.up_to_seq; acked++) latencies.push(now - (sentAt[acked] as number));
            if (acked === frames.length) resolve();
            else pump();
          });
          pump();
        }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  for (const ws of sockets) ws.terminate();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? 0;
  return { bundles: latencies.length, seconds, p50Ms: pct(50), p99Ms: pct(99), errors };
}

async function idle(cfg: LoadgenConfig): Promise<void> {
  const sockets: WebSocket[] = [];
  // A few handshakes at a time: thousands at once only measure the accept queue.
  for (let i = 0; i < cfg.idle; i += 50) {
    const batch = Array.from({ length: Math.min(50, cfg.idle - i) }, async (_, j) => {
      const id = `idle-${i + j}`;
      const ws = await open(cfg, { "x-bench-agent": id });
      await hello(ws, id, "clinic-bench");
      sockets.push(ws);
    });
    await Promise.all(batch);
  }
  process.stdout.write(`${JSON.stringify({ ready: sockets.length })}\n`);
  process.stdin.resume();
  await new Promise((r) => process.stdin.once("end", r));
  for (const ws of sockets) ws.terminate();
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: loadgen.ts <config.json>");
  const cfg = JSON.parse(readFileSync(file, "utf8")) as LoadgenConfig;
  if (cfg.mode === "stream") process.stdout.write(`${JSON.stringify(await stream(cfg))}\n`);
  else await idle(cfg);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  },
);
