/**
 * RB-CPU-001 against real CPU-burning processes: an allow-listed one is
 * stopped (SIGTERM, or SIGKILL when it ignores SIGTERM), one that is not
 * allow-listed is refused and keeps running, and one that belongs to an
 * allow-listed supervisor service is restarted through supervisor.
 *
 * The runs pass process_name so that the verdict does not depend on what
 * else the test machine is busy with; one test measures without it to show
 * the top-consumer ranking finds the burner on its own.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  alive,
  contractEnv,
  type RunOptions,
  runbook,
  runRunbook,
  runScript,
  type Supervisor,
  sandbox,
  startSupervisor,
  stepNamed,
  writeExecutable,
} from "./helpers.js";

const box = sandbox();
const children: ChildProcess[] = [];
let runs = 0;
let burnOk: string;
let burnStubborn: string;
let burnDenied: string;

beforeAll(() => {
  // Process names are the script file names (at most 15 characters, what the kernel keeps).
  burnOk = writeExecutable(join(box.dir, "msp-burn-ok"), "while :; do :; done");
  burnStubborn = writeExecutable(join(box.dir, "msp-burn-hard"), "trap '' TERM\nwhile :; do :; done");
  burnDenied = writeExecutable(join(box.dir, "msp-burn-deny"), "while :; do :; done");
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});
afterAll(() => box.cleanup());

/** Starts a burner and waits until it has really started spinning. */
async function burn(path: string): Promise<number> {
  const child = spawn(path, [], { stdio: "ignore" });
  children.push(child);
  await new Promise((r) => setTimeout(r, 300));
  if (child.pid === undefined || !alive(child.pid)) throw new Error(`${path} did not start`);
  return child.pid;
}

function options(params: Record<string, string | number>, extra: Partial<RunOptions> = {}): RunOptions {
  runs += 1;
  return {
    params: { cpu_threshold_percent: 10, sample_ms: 400, grace_seconds: 1, ...params },
    workDir: box.mkdir(`work-${runs}`),
    stateDir: box.mkdir("state"),
    env: { MSP_PROCESS_ALLOWLIST: "msp-burn-ok msp-burn-hard" },
    ...extra,
  };
}

describe("RB-CPU-001", () => {
  it("stops an allow-listed runaway process with SIGTERM", async () => {
    const pid = await burn(burnOk);
    const run = await runRunbook("RB-CPU-001", options({ process_name: "msp-burn-ok" }));
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);
    expect(run.evidence).toMatchObject({
      top_pid: String(pid),
      top_process: "msp-burn-ok",
      over_threshold: "yes",
      process_allowlisted: "yes",
      planned_action: "terminate",
      remediation: "terminated",
      signal_sent: "TERM",
      target_stopped: "yes",
      remediation_verified: "yes",
      cpu_normal: "yes",
    });
    expect(Number(run.evidence.top_cpu_percent)).toBeGreaterThanOrEqual(10);
    expect(alive(pid)).toBe(false);
    expect(run.validations.map((v) => [v.name, v.code])).toEqual([["cpu_back_to_normal", 0]]);
  });

  it("escalates to SIGKILL when the process ignores SIGTERM for the grace period", async () => {
    const pid = await burn(burnStubborn);
    const run = await runRunbook("RB-CPU-001", {
      ...options({ process_name: "msp-burn-hard" }),
      validate: false,
    });
    expect(run.failedAt).toBeUndefined();
    expect(run.evidence).toMatchObject({
      planned_action: "terminate",
      signal_sent: "KILL",
      target_stopped: "yes",
      remediation_verified: "yes",
    });
    expect(stepNamed(run, "remediate_runaway").stderr).toContain("ignored SIGTERM");
    expect(alive(pid)).toBe(false);
  });

  it("refuses a runaway process that is not allow-listed and leaves it running", async () => {
    const pid = await burn(burnDenied);
    const run = await runRunbook("RB-CPU-001", options({ process_name: "msp-burn-deny" }));
    expect(run.evidence).toMatchObject({ top_process: "msp-burn-deny", over_threshold: "yes" });
    expect(run.failedAt).toBe("check_legitimacy");
    expect(stepNamed(run, "check_legitimacy").code).toBe(65);
    expect(run.evidence).toMatchObject({
      process_allowlisted: "no",
      refused: "not_allowlisted",
      refused_name: "msp-burn-deny",
    });
    expect(run.steps.map((s) => s.name)).toEqual(["measure_cpu", "check_legitimacy"]);
    expect(alive(pid)).toBe(true);
  });

  it("finds the burner among all processes without a name filter", async () => {
    const pid = await burn(burnDenied);
    // top_count 20: on a busy machine other processes may outrank the burner in a top five.
    const o = options({ cpu_threshold_percent: 6400, top_count: 20 });
    const run = await runScript("scripts/cpu_measure.sh", contractEnv(runbook("RB-CPU-001"), o), {
      cwd: o.workDir,
    });
    expect(run.code).toBe(0);
    expect(run.evidence.over_threshold).toBe("no");
    const sampled = readFileSync(join(o.workDir, "cpu_top.tsv"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    const row = sampled.find((r) => r[1] === String(pid));
    expect(row?.[3]).toBe("msp-burn-deny");
    expect(Number(row?.[0])).toBeGreaterThanOrEqual(10);
    expect(Number(run.evidence.processes_sampled)).toBeGreaterThan(1);
    expect(run.evidence.top_processes).toContain(`msp-burn-deny(${pid})`);
    expect(alive(pid)).toBe(true);
  });

  it("changes nothing in dry-run mode", async () => {
    const pid = await burn(burnOk);
    const run = await runRunbook(
      "RB-CPU-001",
      options({ process_name: "msp-burn-ok" }, { dryRun: true, validate: false }),
    );
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);
    expect(run.evidence).toMatchObject({
      planned_action: "terminate",
      remediation: "dry_run",
      remediation_verified: "skipped",
    });
    expect(alive(pid)).toBe(true);
  });

  describe("a runaway process of an allow-listed service", () => {
    let supervisor: Supervisor;
    beforeAll(async () => {
      // Burns on its first start only, so that the restart visibly cures it.
      const marker = join(box.dir, "indexer-started-once");
      const indexer = writeExecutable(
        join(box.dir, "msp-indexer"),
        `if [[ -e ${JSON.stringify(marker)} ]]; then while :; do sleep 1; done; fi\n: > ${JSON.stringify(marker)}\nwhile :; do :; done`,
      );
      supervisor = await startSupervisor(box.mkdir("supervisor"), [{ name: "indexer", command: indexer }]);
    });
    afterAll(async () => {
      await supervisor?.stop();
    });

    it("is restarted through the service manager instead of being killed", async () => {
      const before = await supervisor.pid("indexer");
      const run = await runRunbook(
        "RB-CPU-001",
        options(
          { process_name: "msp-indexer" },
          {
            env: {
              MSP_PROCESS_ALLOWLIST: "",
              MSP_SERVICE_ALLOWLIST: "indexer",
              MSP_SERVICE_MANAGER: "supervisor",
              MSP_SUPERVISOR_CONF: supervisor.conf,
            },
            validate: false,
          },
        ),
      );
      expect(run.failedAt).toBeUndefined();
      expect(run.evidence).toMatchObject({
        top_pid: String(before),
        planned_action: "restart_service",
        target_service: "indexer",
        remediation: "restarted_service",
        target_stopped: "yes",
        remediation_verified: "yes",
        cpu_normal: "yes",
      });
      expect(await supervisor.state("indexer")).toBe("RUNNING");
      expect(await supervisor.pid("indexer")).not.toBe(before);
    });
  });
});
