import { existsSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { ExecutorOptions } from "./executor.js";
import { groupAlive, procStat } from "./process.js";
import {
  createTestExecutor,
  drive,
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

describe("executor: retries, timeouts and rollback", () => {
  it("retries with exponential backoff through the injected clock, capped", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "flaky", { retry_on_failure: true, max_attempts: 5 })],
    });
    const script =
      'n=$(cat "$MSP_STATE_DIR/n" 2>/dev/null || echo 0); echo $((n+1)) > "$MSP_STATE_DIR/n"\necho "attempt=$MSP_ATTEMPT"\nexit 1\n';
    const { exec, clock, state } = setup([{ definition: def, scripts: { "scripts/flaky.sh": script } }], {
      retry: { baseMs: 1000, maxMs: 3000 },
    });
    const b = await drive(clock, exec.run(request()));
    expect(clock.sleeps).toEqual([1000, 2000, 3000, 3000]);
    expect(readFileSync(state("n"), "utf8").trim()).toBe("5");
    expect(b.actions_taken[0]).toMatchObject({
      result: "failed",
      attempts: 5,
      exit_code: 1,
      outputs: { attempt: "5" },
    });
    expect(b.actions_taken[0]?.duration_ms).toBe(9000);
    expect(b.execution).toMatchObject({
      outcome: "failure",
      reason: "step 1 (flaky) exited 1, expected 0 (after 5 attempts); no rollback script",
    });
  });

  it("stops retrying once an attempt succeeds", async () => {
    const def = runbookDefinition("RB-DISK-001", { steps: [step(1, "flaky", { retry_on_failure: true })] });
    const script = '[ "$MSP_ATTEMPT" -ge 2 ] && { echo ok=1; exit 0; }\nexit 1\n';
    const { exec, clock } = setup([{ definition: def, scripts: { "scripts/flaky.sh": script } }]);
    const b = await drive(clock, exec.run(request()));
    expect(clock.sleeps).toEqual([1000]);
    expect(b.actions_taken[0]).toMatchObject({ result: "ok", attempts: 2 });
    expect(b.execution?.outcome).toBe("success");
  });

  it("rolls back in order after a critical failure and skips the remaining steps", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "one"), step(2, "two"), step(3, "three")],
      rollback: [
        { action: "undo", script: "scripts/undo.sh" },
        { action: "alert_administrator", message: "Disk remediation failed" },
      ],
      post_execution_validation: [{ name: "verify", script: "scripts/verify.sh" }],
      success_criteria: ["x == 1"],
    });
    const { exec, sink, state } = setup([
      {
        definition: def,
        scripts: {
          "scripts/one.sh": 'touch "$MSP_STATE_DIR/one"\n',
          "scripts/two.sh": "echo broken >&2\nexit 2\n",
          "scripts/three.sh": 'touch "$MSP_STATE_DIR/three"\n',
          "scripts/undo.sh": 'echo "undone=$MSP_PHASE"\ntouch "$MSP_STATE_DIR/undo"\n',
          "scripts/verify.sh": 'touch "$MSP_STATE_DIR/verify"\n',
        },
      },
    ]);
    const b = await exec.run(request());
    expect(b.actions_taken.map((a) => [a.phase, a.step, a.action, a.result])).toEqual([
      ["step", 1, "one", "ok"],
      ["step", 2, "two", "failed"],
      ["step", 3, "three", "skipped"],
      ["rollback", 1, "undo", "ok"],
      ["rollback", 2, "alert_administrator", "ok"],
    ]);
    expect(b.actions_taken[1]?.stderr.excerpt).toBe("broken\n");
    expect(b.actions_taken[3]?.outputs).toEqual({ undone: "rollback" });
    expect(b.actions_taken[4]).toMatchObject({
      script_sha256: null,
      attempts: 0,
      outputs: { message: "Disk remediation failed" },
    });
    expect(b.execution).toMatchObject({
      outcome: "rolled_back",
      reason: "step 2 (two) exited 2, expected 0; rollback completed",
    });
    expect(b.execution?.success_criteria).toEqual([
      {
        expression: "x == 1",
        met: false,
        detail: "not evaluated: the run stopped at step 2 (two) exited 2, expected 0",
      },
    ]);
    expect(b.runbook?.steps_executed).toBe(2);
    expect([
      existsSync(state("one")),
      existsSync(state("three")),
      existsSync(state("undo")),
      existsSync(state("verify")),
    ]).toEqual([true, false, true, false]);
    expect(sink.problems()).toEqual([]);
  });

  it("records a non-critical failure and carries on", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "one", { critical: false }), step(2, "two")],
      rollback: [{ action: "alert_administrator", message: "failed" }],
    });
    const { exec } = setup([
      { definition: def, scripts: { "scripts/one.sh": "exit 1\n", "scripts/two.sh": "true\n" } },
    ]);
    const b = await exec.run(request());
    expect(b.actions_taken.map((a) => a.result)).toEqual(["failed", "ok"]);
    expect(b.execution).toMatchObject({
      outcome: "success",
      reason: "non-critical step 1 (one) exited 1, expected 0",
    });
  });

  it("reports a timed-out critical step as timeout when only a message rollback exists", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "hang", { timeout_seconds: 1 })],
      rollback: [{ action: "alert_administrator", message: "hung" }],
    });
    const { exec } = setup([
      { definition: def, scripts: { "scripts/hang.sh": "echo started=1\nsleep 30\n" } },
    ]);
    const b = await exec.run(request());
    expect(b.actions_taken[0]).toMatchObject({
      result: "timeout",
      signal: "SIGTERM",
      exit_code: null,
      outputs: { started: "1" },
    });
    expect(b.execution).toMatchObject({
      outcome: "timeout",
      reason: "step 1 (hang) timed out after 1 s; no rollback script",
    });
  });

  it("kills the timed-out step's whole process group, children and grandchildren, then rolls back", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [step(1, "hang", { timeout_seconds: 1 }), step(2, "after")],
      rollback: [{ action: "undo", script: "scripts/undo.sh" }],
    });
    // A child (sleep) and a grandchild (a subshell's sleep), all in the script's process group.
    const hang = [
      'sleep 1000 &\necho "child=$!"',
      '( sleep 1000 & echo "grandchild=$!"; wait ) &',
      'echo "pgid=$$"',
      "while :; do sleep 0.05; done",
      "",
    ].join("\n");
    const { exec, sink, state } = setup([
      {
        definition: def,
        scripts: {
          "scripts/hang.sh": hang,
          "scripts/after.sh": 'touch "$MSP_STATE_DIR/after"\n',
          "scripts/undo.sh": 'touch "$MSP_STATE_DIR/undo"\necho undone=yes\n',
        },
      },
    ]);
    const b = await exec.run(request());
    const hung = b.actions_taken[0];
    expect(hung).toMatchObject({ result: "timeout", signal: "SIGTERM", exit_code: null, attempts: 1 });
    const pids = ["child", "grandchild"].map((k) => Number(hung?.outputs[k]));
    for (const pid of pids) expect(pid).toBeGreaterThan(1);
    const gone = (pid: number) => {
      const s = procStat(pid);
      return s === null || s.state === "Z" || s.state === "X";
    };
    expect(pids.map(gone)).toEqual([true, true]);
    expect(groupAlive(Number(hung?.outputs.pgid))).toBe(false);
    expect(b.actions_taken.map((a) => [a.phase, a.action, a.result])).toEqual([
      ["step", "hang", "timeout"],
      ["step", "after", "skipped"],
      ["rollback", "undo", "ok"],
    ]);
    expect(b.execution).toMatchObject({
      outcome: "rolled_back",
      reason: "step 1 (hang) timed out after 1 s; rollback completed",
    });
    expect([existsSync(state("after")), existsSync(state("undo"))]).toEqual([false, true]);
    expect(sink.problems()).toEqual([]);
  });
});
