/**
 * The fault suite's world: a real control-plane deployment (`msp-cp init`)
 * served by a child process (`msp-cp serve`, killable by PID), agents enrolled
 * with the agent's own `enroll()` and run as child processes (the real daemon
 * from their config), and the one check every case ends with: the control
 * plane's stored evidence against what the agent produced.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  type AgentConfig,
  bundleHash,
  type EvidenceBundle,
  loadSigningKey,
  silentLogger,
  systemClock,
  verifyBundle,
  verifyChain,
} from "@msp/shared";
import { expect } from "vitest";
import { agentParts, enroll, loadAgentConfig } from "../../agent/src/index.js";
import { initDeployment } from "../../control-plane/src/cli/init.js";
import { openDatabase } from "../../control-plane/src/db/index.js";
import type { AgentChildOptions } from "./agent-child.js";

/** The repository root: children run there so `--import tsx` resolves. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CP_MAIN = join(REPO_ROOT, "control-plane", "src", "cli", "main.ts");
const AGENT_CHILD = fileURLToPath(new URL("./agent-child.ts", import.meta.url));

/** A child process that announced itself with one JSON line on stdout. */
export interface Proc {
  child: ChildProcess;
  pid: number;
  ready: Record<string, unknown>;
  /** Every later stdout line, in order. */
  lines: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGKILL by default) to this PID and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a TypeScript entry under `node --import tsx` and waits for its first (JSON) stdout line. */
export function spawnEntry(
  entry: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<Proc> {
  const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    // Keep the tail only: a busy control plane logs a lot, and only the end explains a failure.
    err = (err + d.toString("utf8")).slice(-200_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const lines: string[] = [];
  return new Promise<Proc>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry} did not announce itself within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited early (code ${code}, signal ${signal}): ${err}`));
    });
    let first = true;
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (!first) {
        lines.push(line);
        return;
      }
      first = false;
      clearTimeout(timer);
      let ready: Record<string, unknown>;
      try {
        ready = JSON.parse(line) as Record<string, unknown>;
      } catch (e) {
        reject(new Error(`${entry} announced a non-JSON line ${JSON.stringify(line)}: ${String(e)}`));
        return;
      }
      resolve({
        child,
        pid: child.pid as number,
        ready,
        lines,
        stderr: () => err,
        exited,
        async kill(signal = "SIGKILL") {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, signal);
          await exited;
        },
      });
    });
  });
}

/**
 * A scratch directory on tmpfs (`/dev/shm`) when there is one. The suite kills
 * processes, not machines: pages a process committed survive its SIGKILL in
 * the page cache, so what the cases prove does not depend on the disk, while
 * fsync on a busy disk would make 10,000 durable appends take minutes.
 * (Power loss is a different fault, not covered here.)
 */
export function scratchDir(prefix: string): string {
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  return mkdtempSync(join(base, prefix));
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

/** Polls `probe` until it returns something other than undefined; fails naming `what`. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
  explain: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A control-plane deployment on disk plus the process serving it (when one is running). */
export interface Deployment {
  dir: string;
  configFile: string;
  dataDir: string;
  adminKey: string;
  caPem: string;
  /** The fixed port every `serve` of this deployment listens on, so agents find it after a restart. */
  port: number;
  /** The serving child process, or null while the control plane is down. */
  proc: Proc | null;
  /** Starts `msp-cp serve` as a child process and waits until it listens. */
  serve(): Promise<Proc>;
  /** Calls the operator API over HTTPS, trusting only the deployment's CA. */
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/**
 * `msp-cp init` into `dir` (in-process), with the runbook library the control
 * plane pins; `env` adds `MSP_CP__*` overrides to every `serve`.
 */
export async function createDeployment(
  dir: string,
  runbooksDir: string,
  env: Record<string, string> = {},
): Promise<Deployment> {
  const made = await initDeployment({
    dir,
    host: "127.0.0.1",
    port: 0,
    publicUrl: "https://127.0.0.1:0",
    clock: systemClock,
  });
  const port = await freePort();
  const caPem = readFileSync(join(dir, "ca.crt"), "utf8");
  const dep: Deployment = {
    dir,
    configFile: made.configFile,
    dataDir: join(dir, "data"),
    adminKey: made.adminKey,
    caPem,
    port,
    proc: null,
    async serve() {
      const proc = await spawnEntry(CP_MAIN, ["serve", "--config", made.configFile], {
        MSP_CP__LISTEN__PORT: String(port),
        MSP_CP__RUNBOOKS_DIR: runbooksDir,
        ...env,
      });
      dep.proc = proc;
      return proc;
    },
    api: (method, path, body) =>
      new Promise((resolve, reject) => {
        const text = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            host: "127.0.0.1",
            port,
            method,
            path,
            ca: caPem,
            headers: {
              authorization: `Bearer ${made.adminKey}`,
              ...(text
                ? { "content-type": "application/json", "content-length": Buffer.byteLength(text) }
                : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const raw = Buffer.concat(chunks).toString("utf8");
              resolve({ status: res.statusCode ?? 0, body: (raw === "" ? null : JSON.parse(raw)) as never });
            });
          },
        );
        req.on("error", reject);
        req.end(text);
      }),
  };
  // The data dir must exist before the first serve for the DB path helpers below.
  mkdirSync(dep.dataDir, { recursive: true });
  return dep;
}

/** An enrolled agent: its config on disk and the public half of its evidence key. */
export interface FaultAgent {
  agentId: string;
  clinicId: string;
  configFile: string;
  config: AgentConfig;
  evidencePublicKey: string;
}

/**
 * Creates the clinic if needed, enrolls `agentId` with the agent's own
 * `enroll()` and writes its baseline (one disk-usage check that passes, so no
 * incident and no planned remediation interferes) and config (`patch` applied).
 */
export async function enrollAgent(
  dep: Deployment,
  work: string,
  clinicId: string,
  agentId: string,
  runbooksDir: string,
  patch: (config: AgentConfig) => Record<string, unknown> = (c) => c,
): Promise<FaultAgent> {
  const clinic = await dep.api("POST", "/v1/clinics", { client_id: clinicId, name: `Clinic ${clinicId}` });
  if (clinic.status !== 201 && clinic.status !== 409) throw new Error(`clinic: ${clinic.status}`);
  const token = await dep.api<{ token: string }>("POST", `/v1/clinics/${clinicId}/enrollment-tokens`, {});
  if (token.status !== 201) throw new Error(`token: ${token.status} ${JSON.stringify(token.body)}`);
  const root = join(work, agentId);
  const watched = join(root, "watched");
  mkdirSync(watched, { recursive: true });
  const baselineFile = join(root, "baseline.yaml");
  const enrolled = await enroll({
    url: `https://127.0.0.1:${dep.port}`,
    token: token.body.token,
    caPem: dep.caPem,
    agentId,
    hostname: agentId,
    clinicId,
    configOut: join(root, "agent.yaml"),
    stateDir: join(root, "state"),
    baselineFile,
    runbooksDir,
  });
  // JSON is YAML: the test package has no YAML writer.
  writeFileSync(
    baselineFile,
    JSON.stringify({
      version: 1,
      id: "faults-v1",
      baseline_version: "1.0.0",
      description: "fault suite baseline: one check that passes",
      checks: [
        {
          type: "disk_usage",
          id: "phi_quota",
          citation: ["164.308(a)(1)(ii)(D)"],
          severity: "high",
          directory: watched,
          quota_mb: 100,
          max_used_percent: 90,
        },
      ],
    }),
  );
  const base = loadAgentConfig(enrolled.config_file);
  writeFileSync(
    enrolled.config_file,
    JSON.stringify(
      patch({
        ...base,
        hostname: agentId,
        offline_autonomy: [],
        path_roots: { targets: [watched] },
      }),
    ),
  );
  const config = loadAgentConfig(enrolled.config_file);
  const key = await loadSigningKey(config.evidence_key_file);
  return {
    agentId,
    clinicId,
    configFile: enrolled.config_file,
    config,
    evidencePublicKey: key.publicKey.toString("base64"),
  };
}

/** Runs the real agent daemon for `agent` as a child process (see agent-child.ts). */
export function spawnAgent(agent: FaultAgent, options: AgentChildOptions = {}): Promise<Proc> {
  return spawnEntry(AGENT_CHILD, [agent.configFile, JSON.stringify(options)]);
}

/** Transport timings for tests: quick reconnects, 1 s keepalive and welcome timeout. */
export const FAST_TRANSPORT: NonNullable<AgentChildOptions["transport"]> = {
  backoff: { initialMs: 100, maxMs: 1_000 },
  pingIntervalMs: 1_000,
  welcomeTimeoutMs: 3_000,
};

/** One stored row of the control plane's evidence table. */
export interface StoredEvidence {
  seq: number;
  sha256: string;
  kind: string;
  bundle: EvidenceBundle;
}

/** The agent's evidence as the control plane stored it, read from its database, in seq order. */
export function storedEvidence(dep: Deployment, agentId: string): StoredEvidence[] {
  const db = openDatabase(join(dep.dataDir, "control-plane.db"));
  try {
    const rows = db
      .prepare<[string], { seq: number; sha256: string; kind: string; body: string }>(
        "SELECT seq, sha256, kind, body FROM evidence_bundles WHERE agent_id = ? ORDER BY seq, id",
      )
      .all(agentId);
    return rows.map((r) => ({ ...r, bundle: JSON.parse(r.body) as EvidenceBundle }));
  } finally {
    db.close();
  }
}

/** The chain anomalies the control plane recorded for the agent (kind and seq). */
export function anomaliesOf(dep: Deployment, agentId: string): { kind: string; seq: number | null }[] {
  const db = openDatabase(join(dep.dataDir, "control-plane.db"));
  try {
    return db
      .prepare<[string], { kind: string; seq: number | null }>(
        "SELECT kind, seq FROM evidence_anomalies WHERE agent_id = ? AND resolved_at IS NULL ORDER BY id",
      )
      .all(agentId);
  } finally {
    db.close();
  }
}

/** The count of the agent's stored bundles (cheap, for polling). */
export function storedCount(dep: Deployment, agentId: string): number {
  const db = openDatabase(join(dep.dataDir, "control-plane.db"));
  try {
    const row = db
      .prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM evidence_bundles WHERE agent_id = ?")
      .get(agentId);
    return row?.n ?? 0;
  } finally {
    db.close();
  }
}

/** The agent outbox's head and backlog, read with the agent's own code while no agent process runs. */
export async function outboxState(agent: FaultAgent) {
  const parts = agentParts(agent.config, silentLogger);
  try {
    const outbox = await parts.outbox();
    return { head: outbox.head(), stats: outbox.stats() };
  } finally {
    await parts.close();
  }
}

/** The outbox head read from the agent's SQLite file while the agent runs (a concurrent WAL reader). */
export function liveHead(agent: FaultAgent): { last_seq: number; acked_seq: number } {
  const file = join(agent.config.state_dir, "outbox.sqlite");
  const none = { last_seq: 0, acked_seq: 0 };
  // Opening a missing file would create it under the agent's feet.
  if (!existsSync(file)) return none;
  const db = openDatabase(file);
  try {
    const row = db
      .prepare<[], { last_seq: number; acked_seq: number }>(
        "SELECT last_seq, acked_seq FROM meta WHERE id = 1",
      )
      .get();
    return row ?? none;
  } catch (e) {
    // The agent has created the file but not yet its schema.
    if (String(e).includes("no such table")) return none;
    throw e;
  } finally {
    db.close();
  }
}

/** Waits until the running agent's outbox is fully acked with at least `minSeq` produced. */
export function drained(
  agent: FaultAgent,
  minSeq: number,
  proc: Pick<Proc, "stderr"> | null,
  timeoutMs = 60_000,
) {
  return until(
    `${agent.agentId}: outbox acked up to at least seq ${minSeq}`,
    () => {
      const h = liveHead(agent);
      return h.last_seq >= minSeq && h.acked_seq === h.last_seq ? h : undefined;
    },
    timeoutMs,
    () =>
      `outbox ${JSON.stringify(liveHead(agent))}\nagent stderr tail:\n${proc?.stderr().slice(-3000) ?? ""}`,
  );
}

/**
 * The suite's invariant (DESIGN 1 and 2): the agent produced seqs
 * 1..last_seq; the control plane holds each exactly once, every signature
 * verifies with the agent's key, the chain links from genesis to the agent's
 * own head hash, the outbox is drained (every row acked and deleted) and no
 * chain anomaly is open. Returns the stored evidence for case-specific checks.
 */
export async function expectEvidenceIntact(dep: Deployment, agent: FaultAgent): Promise<StoredEvidence[]> {
  const { head, stats } = await outboxState(agent);
  const stored = storedEvidence(dep, agent.agentId);
  expect(head.last_seq).toBeGreaterThan(0);
  expect(stored.map((s) => s.seq)).toEqual(Array.from({ length: head.last_seq }, (_, i) => i + 1));
  const bundles = stored.map((s) => s.bundle);
  expect(verifyChain(bundles).problems).toEqual([]);
  const bad = bundles.filter((b) => !verifyBundle(b, agent.evidencePublicKey).ok).map((b) => b.seq);
  expect(bad).toEqual([]);
  // verifyChain hashed every bundle to check each link; the head must be the agent's own head.
  const last = stored.at(-1);
  expect(last === undefined ? null : bundleHash(last.bundle)).toBe(head.last_hash);
  expect(head.acked_seq).toBe(head.last_seq);
  expect(stats.rows).toBe(0);
  expect(anomaliesOf(dep, agent.agentId)).toEqual([]);
  return stored;
}
