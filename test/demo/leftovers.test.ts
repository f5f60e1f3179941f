/**
 * A daemon left behind by an interrupted demo run is stopped by the next run
 * through its PID file, and only if that PID still runs the recorded command
 * line (a recycled PID is never signalled). Real processes, no mocks.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stopLeftovers } from "../../demo/children.js";

const box = mkdtempSync(join(tmpdir(), "msp-demo-pids-"));
const started: ChildProcess[] = [];

/** A long-running process whose command line carries `tag`. */
function sleeper(tag: string): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)", tag], { stdio: "ignore" });
  started.push(child);
  return child;
}
const exited = (c: ChildProcess) =>
  new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once("exit", r)));

afterAll(async () => {
  for (const c of started)
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) c.kill("SIGKILL");
  rmSync(box, { recursive: true, force: true });
});

describe("stopLeftovers", () => {
  it("stops a recorded daemon still running its recorded command line", async () => {
    const child = sleeper("--config /demo/a.yaml");
    writeFileSync(join(box, "agent.pid"), `${child.pid}\n--config /demo/a.yaml\n`);
    expect(await stopLeftovers(box)).toEqual([`agent (pid ${child.pid})`]);
    await exited(child);
    expect(existsSync(`/proc/${child.pid}`)).toBe(false);
  });

  it("leaves alone a PID that now runs something else", async () => {
    const child = sleeper("--config /elsewhere.yaml");
    writeFileSync(join(box, "control-plane.pid"), `${child.pid}\nserve --config /demo/cp.yaml\n`);
    expect(await stopLeftovers(box)).toEqual([]);
    expect(existsSync(`/proc/${child.pid}`)).toBe(true);
  });

  it("ignores PID files naming no running process or no number", async () => {
    const other = mkdtempSync(join(box, "other-"));
    writeFileSync(join(other, "gone.pid"), "999999999\nserve\n");
    writeFileSync(join(other, "bad.pid"), "not-a-pid\nserve\n");
    expect(await stopLeftovers(other)).toEqual([]);
    expect(await stopLeftovers(join(box, "missing"))).toEqual([]);
  });
});
