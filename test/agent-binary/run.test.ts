/**
 * The built executable against the real control plane: `msp-agent` copied
 * into an empty directory with no node_modules enrolls itself with a token
 * from the API (`msp-agent enroll`), runs as the daemon (`msp-agent run`, with
 * the runbook library and the SQLite addon it carries inside), and its drift
 * evidence arrives at the control plane, verified, and is acked back: the
 * outbox empties and the chain head is acknowledged.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.js";
import { ensureAgentBinary } from "./build.js";

const CLINIC = "clinic-bin";
const AGENT = "srv-bin";

let t: TestControlPlane;
let work: string;
let exe: string;
let empty: string;
let child: ChildProcess | undefined;
let stderr = "";

/**
 * Runs the copied executable to completion from the empty directory. Asynchronous on purpose:
 * the control plane runs in this process, and a synchronous spawn would stall it.
 */
function agent(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
    execFile(exe, args, { cwd: empty, env, encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

async function get<T>(path: string): Promise<T> {
  const res = await t.api<T>("GET", path, t.adminKey);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Polls until `probe` returns a value; on timeout names what it waited for and shows the agent's log tail. */
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}\nagent stderr:\n${stderr.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "msp-agent-run-"));
  empty = join(work, "empty");
  mkdirSync(empty);
  exe = join(empty, "msp-agent");
  copyFileSync(ensureAgentBinary(), exe);
  t = await startTestControlPlane({ dir: join(work, "cp") });
}, 180_000);

afterAll(async () => {
  if (child?.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  await t?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("msp-agent run (the built executable) against the real control plane", () => {
  it("enrolls with an API token, streams drift evidence the control plane verifies, and applies its acks", async () => {
    expect(
      (await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "Clinic Bin" })).status,
    ).toBe(201);
    const token = await t.api<{ token: string }>(
      "POST",
      `/v1/clinics/${CLINIC}/enrollment-tokens`,
      t.adminKey,
      {},
    );
    expect(token.status).toBe(201);
    const tokenFile = join(work, "token");
    writeFileSync(tokenFile, `${token.body.token}\n`, { mode: 0o600 });
    const caFile = join(work, "cp", "ca.crt");

    // A fresh backup: the one check passes, so no incident (and no remediation) follows.
    const backups = join(work, "backups");
    mkdirSync(backups);
    writeFileSync(join(backups, "backup-1.tar.gz"), "x".repeat(100));
    const baseline = join(work, "baseline.yaml");
    writeFileSync(
      baseline,
      [
        "version: 1",
        "id: bin-v1",
        "baseline_version: 1.0.0",
        "description: binary run test baseline",
        "checks:",
        "  - type: backup_freshness",
        "    id: backup_fresh",
        '    citation: ["164.308(a)(7)(ii)(A)"]',
        "    severity: high",
        `    directory: ${backups}`,
        "    max_age_hours: 24",
      ].join("\n"),
    );
    const config = join(work, "etc", "agent.yaml");
    // No --runbooks-dir: the daemon must unpack the library embedded in the executable.
    const enrolled = await agent([
      "enroll",
      "--json",
      "--url",
      `https://127.0.0.1:${t.cp.port}`,
      "--token-file",
      tokenFile,
      "--ca-file",
      caFile,
      "--agent-id",
      AGENT,
      "--clinic",
      CLINIC,
      "--hostname",
      AGENT,
      "--config-out",
      config,
      "--state-dir",
      join(work, "state"),
      "--baseline",
      baseline,
    ]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(JSON.parse(enrolled.stdout)).toMatchObject({
      agent_id: AGENT,
      client_id: CLINIC,
      config_file: config,
    });

    const proc = spawn(exe, ["run", "--config", config], {
      cwd: empty,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    proc.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
    const ready = await Promise.race([
      new Promise<string>((r) => createInterface({ input: proc.stdout }).once("line", r)),
      exited.then((code) => {
        throw new Error(`msp-agent run exited with ${code} before it was ready:\n${stderr}`);
      }),
    ]);
    expect(JSON.parse(ready)).toMatchObject({ running: true, agent_id: AGENT });

    interface BundleView {
      bundle_id: string;
      agent_id: string;
      kind: string;
      seq: number;
    }
    const stored = await until("the drift bundle stored by the control plane", async () => {
      const page = await get<{ bundles: BundleView[] }>(
        `/v1/clinics/${CLINIC}/evidence?agent_id=${AGENT}&kind=drift_check`,
      );
      return page.bundles[0];
    });
    expect(stored).toMatchObject({ agent_id: AGENT, kind: "drift_check" });
    const one = await get<{ verification: { signature: string; body_intact: boolean } }>(
      `/v1/clinics/${CLINIC}/evidence/${stored.bundle_id}`,
    );
    expect(one.verification).toMatchObject({ signature: "valid", body_intact: true });

    // The ack travels back and the outbox deletes what it covers (status reads the same SQLite file).
    interface Status {
      head: { last_seq: number; acked_seq: number };
      outbox: { rows: number };
    }
    const acked = await until("the agent's outbox to apply the control plane's ack", async () => {
      const s = await agent(["status", "--json", "--config", config]);
      if (s.code !== 0) throw new Error(`status failed: ${s.stderr}`);
      const status = JSON.parse(s.stdout) as Status;
      return status.head.acked_seq >= stored.seq ? status : undefined;
    });
    expect(acked.head.acked_seq).toBeGreaterThanOrEqual(stored.seq);

    proc.kill("SIGTERM");
    expect(await exited, stderr).toBe(0);
    const after = JSON.parse((await agent(["status", "--json", "--config", config])).stdout) as Status;
    expect(after.head.acked_seq).toBe(after.head.last_seq);
    expect(after.outbox.rows).toBe(0);
    // Nothing but JSON log lines on stderr, and none at error level.
    const lines = stderr
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: string; msg: string });
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    expect(lines.map((l) => l.msg)).toContain("agent stopped");
  }, 90_000);
});
