/**
 * Helpers for transport integration and fault tests: child processes that
 * announce themselves with one JSON line (the stub control plane, and later
 * the real agent for the agent-SIGKILL test), polling with deadlines, and the
 * per-test world of keys, certificates and directories.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { generateSigningKey, type SigningKey, seedOf } from "@msp/shared";
import type { OutboxPort, TransportLogger, TransportOptions } from "../../agent/src/transport/index.js";
import type { IngestServerConfig } from "../support/ingest-server.js";
import { type AgentIdentity, type CertPair, createTestPki, type TestPki } from "../support/pki.js";

/** The repository root: child processes run there so `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const INGEST_SERVER = fileURLToPath(new URL("../support/ingest-server.ts", import.meta.url));

/** A child process started by {@link spawnTs}. */
export interface TsChild {
  child: ChildProcess;
  /** The first stdout line, parsed as JSON (the child's "ready" announcement). */
  ready: Record<string, unknown>;
  /** Everything the child wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** Resolves with the exit code or signal once the child has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGKILL by default) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs a TypeScript entry point under `node --import tsx` and waits for its
 * first stdout line, which must be JSON. Fails with the child's stderr if it
 * exits or stays silent past `timeoutMs`.
 */
export function spawnTs(entry: string, args: string[], timeoutMs = 15_000): Promise<TsChild> {
  const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return new Promise<TsChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry} did not announce itself within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited early (code ${code}, signal ${signal}): ${err}`));
    });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        const ready = JSON.parse(line) as Record<string, unknown>;
        resolve({
          child,
          ready,
          stderr: () => err,
          exited,
          async kill(signal = "SIGKILL") {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            await exited;
          },
        });
      } catch (e) {
        reject(new Error(`${entry} announced a non-JSON line ${JSON.stringify(line)}: ${String(e)}`));
      }
    });
  });
}

/** Starts the stub control plane as a separate process; restart by passing the old port back in `config`. */
export async function spawnIngestServer(
  config: IngestServerConfig,
  dir: string,
): Promise<TsChild & { port: number }> {
  const file = join(dir, `ingest-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child = await spawnTs(INGEST_SERVER, ["--config", file]);
  const port = child.ready.port;
  if (typeof port !== "number")
    throw new Error(`ingest server announced no port: ${JSON.stringify(child.ready)}`);
  return { ...child, port };
}

/** Polls `check` until it returns true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs = 10_000,
  everyMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Sleeps real time; only for letting a refused connection be retried a few times. */
export const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One enrolled agent: identity, evidence key, client certificate. */
export interface TestAgent {
  who: AgentIdentity;
  evidenceKey: SigningKey;
  tls: CertPair;
}

/** Everything a transport test needs on disk and in memory; `cleanup()` removes it. */
export interface TransportWorld {
  dir: string;
  pki: TestPki;
  controlPlaneKey: SigningKey;
  agent: TestAgent;
  /** A second enrolled agent of the same clinic, for identity-mismatch tests. */
  other: TestAgent;
  /** A stub config registering both agents, storing under `<dir>/<name>`. */
  serverConfig(name: string, extra?: Partial<IngestServerConfig>): IngestServerConfig;
  cleanup(): void;
}

/** Builds the PKI, the control-plane key and two enrolled agents of clinic-001. */
export function createTransportWorld(): TransportWorld {
  const dir = mkdtempSync(join(tmpdir(), "msp-transport-"));
  const pki = createTestPki();
  const controlPlaneKey = generateSigningKey();
  const enroll = (agent_id: string): TestAgent => {
    const who = { agent_id, client_id: "clinic-001" };
    return { who, evidenceKey: generateSigningKey(), tls: pki.issueClient(agent_id, who) };
  };
  const agent = enroll("srv-primary");
  const other = enroll("srv-backup");
  return {
    dir,
    pki,
    controlPlaneKey,
    agent,
    other,
    serverConfig: (name, extra = {}) => ({
      port: 0,
      dataDir: join(dir, name),
      tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.ca.certFile },
      controlPlaneSeed: seedOf(controlPlaneKey).toString("base64"),
      agents: Object.fromEntries(
        [agent, other].map((a) => [
          a.who.agent_id,
          { client_id: a.who.client_id, evidence_public_key: a.evidenceKey.publicKey.toString("base64") },
        ]),
      ),
      ...extra,
    }),
    cleanup: () => {
      pki.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One captured log call. */
export interface LogLine {
  level: "info" | "warn" | "error";
  msg: string;
  fields: Record<string, unknown> | undefined;
}

/** A logger that keeps every line, so tests can assert on what was logged (and show it on failure). */
export function memoryLogger(): TransportLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine["level"]) => (msg: string, fields?: Record<string, unknown>) => {
    lines.push({ level, msg, fields });
  };
  return { lines, info: at("info"), warn: at("warn"), error: at("error") };
}

/** Transport options for `agent` against `url`, with test-speed timings; `extra` overrides any of them. */
export function agentTransportOptions(
  world: TransportWorld,
  agent: TestAgent,
  url: string,
  outbox: OutboxPort,
  extra: Partial<TransportOptions> = {},
): TransportOptions {
  return {
    url,
    ca: world.pki.ca.cert,
    cert: agent.tls.cert,
    key: agent.tls.key,
    hello: {
      ...agent.who,
      hostname: agent.who.agent_id,
      agent_version: "0.1.0-test",
      catalog_sha256: "d".repeat(64),
    },
    outbox,
    onCommand: async () => {},
    logger: memoryLogger(),
    sendWindow: 16,
    backoff: { initialMs: 20, maxMs: 200 },
    pingIntervalMs: 5_000,
    welcomeTimeoutMs: 5_000,
    ...extra,
  };
}
