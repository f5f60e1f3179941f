import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import type { ExecutorOptions } from "./executor.js";
import {
  createTestExecutor,
  type RunbookFixture,
  testRequest as request,
  runbookDefinition,
} from "./testkit.js";

const step = (n: number, name: string, over: Record<string, unknown> = {}) => ({
  step: n,
  name,
  script: `scripts/${name}.sh`,
  timeout_seconds: 10,
  ...over,
});

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});
const setup = (runbooks: RunbookFixture[], over: Partial<ExecutorOptions> = {}) => {
  const t = createTestExecutor(runbooks, over);
  closers.push(() => t.exec.close());
  return t;
};

describe("executor: a successful run", () => {
  const fixture: RunbookFixture = {
    definition: runbookDefinition("RB-DISK-001", {
      params: {
        service: { type: "string", pattern: "[a-z]+" },
        target: { type: "path", root: "targets" },
        keep: { type: "integer", min: 1, max: 9, default: 3 },
      },
      steps: [step(1, "check", { evidence_required: ["free_pct"] }), step(2, "clean")],
      post_execution_validation: [{ name: "verify", script: "scripts/verify.sh" }],
      success_criteria: [
        'status == "ok"',
        "free_pct >= 20",
        "check.free_pct == 40",
        "clean.shared == 'from-check'",
      ],
      evidence_artifacts: { required: ["status"] },
    }),
    scripts: {
      "scripts/check.sh":
        'env > "$MSP_STATE_DIR/env.txt"\npwd > "$MSP_STATE_DIR/cwd.txt"\necho from-check > shared.txt\necho free_pct=40\necho status=ok\n',
      "scripts/clean.sh": 'echo "shared=$(cat "$MSP_WORK_DIR/shared.txt")"\n',
      "scripts/verify.sh": "exit 0\n",
    },
  };

  it("runs every step, validates, evaluates criteria and yields one verified bundle", async () => {
    const { exec, sink, clock, targets, state, stateDir } = setup([fixture]);
    process.env.MSP_LEAK_TEST = "agent-secret";
    const incident = {
      incident_id: "INC-20260301-0001",
      event_type: "disk_full" as const,
      severity: "high" as const,
      detected_at: "2026-03-01T09:58:00.000Z",
    };
    const bundle = await exec.run(request({ params: { service: "nginx", target: targets }, incident }));
    delete process.env.MSP_LEAK_TEST;

    expect(sink.problems()).toEqual([]);
    expect(sink.bundles).toHaveLength(1);
    expect(bundle.kind).toBe("runbook_execution");
    expect(bundle.execution).toMatchObject({
      outcome: "success",
      reason: null,
      command_id: "CMD-test-00000001",
      operator: "service:msp-agent",
      trigger: "control_plane",
      mttr_seconds: 120,
      sla_target_seconds: 1800,
      sla_met: true,
    });
    expect(bundle.execution?.success_criteria.every((c) => c.met)).toBe(true);
    expect(bundle.runbook).toMatchObject({ runbook_id: "RB-DISK-001", steps_total: 2, steps_executed: 2 });
    expect(bundle.hipaa_controls).toEqual(["164.308(a)(1)(ii)(D)"]);
    expect(bundle.actions_taken.map((a) => [a.phase, a.action, a.result, a.exit_code, a.attempts])).toEqual([
      ["step", "check", "ok", 0, 1],
      ["step", "clean", "ok", 0, 1],
      ["validation", "verify", "ok", 0, 1],
    ]);
    expect(bundle.actions_taken[0]?.script_sha256).toBe(sha256Hex(fixture.scripts["scripts/check.sh"] ?? ""));
    expect(bundle.actions_taken[1]?.outputs).toEqual({ shared: "from-check" });

    // The environment is exactly the contract: nothing of the agent's own leaks in.
    const env = Object.fromEntries(
      readFileSync(state("env.txt"), "utf8")
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    for (const bashOwn of ["PWD", "SHLVL", "_", "OLDPWD"]) delete env[bashOwn];
    const runDir = join(stateDir, "runbooks", "runs", bundle.outputs.run_id ?? "");
    expect(env).toEqual({
      PATH: "/run/wrappers/bin:/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: join(runDir, "home"),
      LANG: "C.UTF-8",
      TMPDIR: join(runDir, "tmp"),
      MSP_WORK_DIR: join(runDir, "work"),
      MSP_STATE_DIR: state("").replace(/\/$/, ""),
      MSP_SERVICE_MANAGER: "supervisor",
      MSP_SUPERVISOR_CONF: "/etc/supervisor/supervisord.conf",
      MSP_SERVICE_ALLOWLIST: "nginx postgresql",
      MSP_PROCESS_ALLOWLIST: "burn",
      MSP_DRY_RUN: "0",
      MSP_RUNBOOK_ID: "RB-DISK-001",
      MSP_RUN_ID: bundle.outputs.run_id,
      MSP_STEP: "check",
      MSP_STEP_NUMBER: "1",
      MSP_PHASE: "step",
      MSP_ATTEMPT: "1",
      MSP_ROOTS_TARGETS: targets,
      MSP_ROOTS_LOGS: "/var/log:/srv/logs",
      MSP_PARAM_SERVICE: "nginx",
      MSP_PARAM_TARGET: targets,
      MSP_PARAM_KEEP: "3",
    });
    expect(readFileSync(state("cwd.txt"), "utf8").trim()).toBe(join(runDir, "work"));
    // The private run dir is gone and nothing is left for recovery.
    expect(readdirSync(join(stateDir, "runbooks", "runs"))).toEqual([]);
    expect(await exec.recoverInterrupted()).toEqual([]);
    expect(clock.sleeps).toEqual([]);
  });

  it("marks a restore test and measures MTTR from the start when there is no incident", async () => {
    const def = runbookDefinition("RB-RESTORE-001", {
      triggers: [{ event_type: "restore_test_due" }],
      sla_target_seconds: 7200,
      steps: [step(1, "restore")],
    });
    const { exec, sink } = setup([
      { definition: def, scripts: { "scripts/restore.sh": "echo restored=1\n" } },
    ]);
    const b = await exec.run(
      request({ runbookId: "RB-RESTORE-001", trigger: "offline_autonomy", commandId: null }),
    );
    expect(b.kind).toBe("restore_test");
    expect(b.execution).toMatchObject({
      outcome: "success",
      mttr_seconds: 0,
      sla_met: true,
      command_id: null,
    });
    expect(sink.problems()).toEqual([]);
  });

  it("fails a step whose required evidence is missing, and a run whose criteria are not met", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "a", { evidence_required: ["free_pct"], critical: false }), step(2, "b")],
      success_criteria: ["done == true"],
    });
    const { exec } = setup([
      { definition: def, scripts: { "scripts/a.sh": "echo x=1\n", "scripts/b.sh": "echo done=false\n" } },
    ]);
    const b = await exec.run(request());
    expect(b.actions_taken.map((a) => a.result)).toEqual(["failed", "ok"]);
    expect(b.execution?.outcome).toBe("failure");
    expect(b.execution?.reason).toBe(
      'non-critical step 1 (a) missing required evidence: free_pct; criterion done == true not met: evaluated to false with done="false"',
    );
  });

  it("fails a run whose validation exits unexpectedly", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "a")],
      post_execution_validation: [{ name: "v", script: "scripts/v.sh", expected_exit_code: 0 }],
    });
    const { exec } = setup([
      { definition: def, scripts: { "scripts/a.sh": "true\n", "scripts/v.sh": "exit 4\n" } },
    ]);
    const b = await exec.run(request());
    expect(b.execution).toMatchObject({ outcome: "failure", reason: "validation v exited 4, expected 0" });
  });

  it("hands the injected process runner exactly the pinned bytes, the step's timeout and the contract environment", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "one", { timeout_seconds: 7 }), step(2, "two", { timeout_seconds: 9 })],
    });
    const scripts = { "scripts/one.sh": "echo one=1\n", "scripts/two.sh": "echo two=1\n" };
    const seen: {
      bytes: string;
      command: string;
      cwd: string;
      timeoutMs: number;
      step: string | undefined;
    }[] = [];
    const { exec, sink } = setup([{ definition: def, scripts }], {
      bashPath: "/bin/bash",
      processRunner: async (spec) => {
        seen.push({
          bytes: readFileSync(spec.args[0] ?? "", "utf8"),
          command: spec.command,
          cwd: spec.cwd,
          timeoutMs: spec.timeoutMs,
          step: spec.env.MSP_STEP,
        });
        const empty = { excerpt: "", bytes: 0, sha256: sha256Hex(""), truncated: false };
        return {
          exitCode: 0,
          signal: null,
          timedOut: false,
          spawnError: null,
          stdout: empty,
          stderr: empty,
          outputs: { [`${spec.env.MSP_STEP}_ran`]: "1" },
        };
      },
    });
    const b = await exec.run(request());
    const runDir = join("runbooks", "runs", b.outputs.run_id ?? "");
    expect(seen.map((s) => [s.bytes, s.command, s.timeoutMs, s.step])).toEqual([
      ["echo one=1\n", "/bin/bash", 7000, "one"],
      ["echo two=1\n", "/bin/bash", 9000, "two"],
    ]);
    for (const s of seen) expect(s.cwd.endsWith(join(runDir, "work"))).toBe(true);
    expect(b.actions_taken.map((a) => a.outputs)).toEqual([{ one_ran: "1" }, { two_ran: "1" }]);
    expect(b.execution?.outcome).toBe("success");
    expect(sink.problems()).toEqual([]);
  });
});
