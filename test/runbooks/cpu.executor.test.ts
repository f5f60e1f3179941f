/**
 * RB-CPU-001 through the executor, against real CPU-burning processes: an
 * allow-listed burner is stopped, one that is not allow-listed is refused by
 * the script and keeps burning. Each signed bundle is checked.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  actionTable,
  expectPinned,
  expectSealed,
  incident,
  type LibraryExecutor,
  libraryExecutor,
  outputsOf,
  stepEvidence,
} from "./executor-harness.js";
import { alive, sandbox, writeExecutable } from "./helpers.js";

const box = sandbox("msp-rbx-cpu-");
const children: ChildProcess[] = [];
let h: LibraryExecutor;
let burnOk: string;
let burnDenied: string;

beforeAll(() => {
  // Process names are the file names (at most 15 characters, what the kernel keeps).
  burnOk = writeExecutable(join(box.dir, "msp-xburn-ok"), "while :; do :; done");
  burnDenied = writeExecutable(join(box.dir, "msp-xburn-deny"), "while :; do :; done");
  h = libraryExecutor({ path_roots: {}, process_allowlist: ["msp-xburn-ok"] });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
afterAll(() => {
  h?.close();
  box.cleanup();
});

/** Starts a burner and waits until it has really started spinning. */
async function burn(path: string): Promise<number> {
  const child = spawn(path, [], { stdio: "ignore" });
  children.push(child);
  await new Promise((r) => setTimeout(r, 300));
  if (child.pid === undefined || !alive(child.pid)) throw new Error(`${path} did not start`);
  return child.pid;
}

const params = (name: string) => ({
  process_name: name,
  cpu_threshold_percent: 10,
  sample_ms: 400,
  grace_seconds: 1,
});

describe("RB-CPU-001 through the executor", () => {
  it("stops an allow-listed runaway process and signs evidence of the measurement and the kill", async () => {
    const pid = await burn(burnOk);
    const b = await h.run({
      runbookId: "RB-CPU-001",
      params: params("msp-xburn-ok"),
      incident: incident("high_cpu", 12),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-CPU-001", 720);
    expect(b.execution).toMatchObject({ outcome: "success", reason: null, sla_met: true });
    expect(b.execution?.success_criteria.every((c) => c.met)).toBe(true);
    expect(actionTable(b)).toEqual([
      ["step", "measure_cpu", "ok", 0],
      ["step", "check_legitimacy", "ok", 0],
      ["step", "remediate_runaway", "ok", 0],
      ["step", "verify_cpu", "ok", 0],
      ["validation", "cpu_back_to_normal", "ok", 0],
    ]);
    const ev = stepEvidence(b);
    expect(ev).toMatchObject({
      top_pid: String(pid),
      top_process: "msp-xburn-ok",
      over_threshold: "yes",
      process_allowlisted: "yes",
      planned_action: "terminate",
      remediation: "terminated",
      signal_sent: "TERM",
      target_stopped: "yes",
      remediation_verified: "yes",
      cpu_normal: "yes",
    });
    expect(Number(ev.top_cpu_percent)).toBeGreaterThanOrEqual(10);
    // The effect: the burner is gone.
    expect(alive(pid)).toBe(false);
  });

  it("refuses a runaway process that is not allow-listed, leaves it running, and says so in the bundle", async () => {
    const pid = await burn(burnDenied);
    const b = await h.run({
      runbookId: "RB-CPU-001",
      params: params("msp-xburn-deny"),
      incident: incident("high_cpu", 1),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-CPU-001", 60);
    expect(actionTable(b)).toEqual([
      ["step", "measure_cpu", "ok", 0],
      ["step", "check_legitimacy", "failed", 65],
      ["step", "remediate_runaway", "skipped", null],
      ["step", "verify_cpu", "skipped", null],
      ["rollback", "alert_administrator", "ok", null],
    ]);
    expect(b.execution).toMatchObject({
      outcome: "failure",
      reason: "step 2 (check_legitimacy) exited 65, expected 0; no rollback script",
    });
    expect(outputsOf(b, "measure_cpu")).toMatchObject({ top_pid: String(pid), over_threshold: "yes" });
    expect(outputsOf(b, "check_legitimacy")).toMatchObject({
      process_allowlisted: "no",
      refused: "not_allowlisted",
      refused_name: "msp-xburn-deny",
    });
    expect(alive(pid)).toBe(true);
  });
});
