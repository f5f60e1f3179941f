/**
 * Performing one action of a run (a step, a rollback action or a validation)
 * and recording it as an `ActionTaken`. Each attempt re-reads the script,
 * checks its bytes against the pin and executes a private copy of exactly
 * those bytes, so a script swapped after load (or between retries) is
 * refused rather than run. The shared script libraries the runbook pins
 * (`scripts/lib/*.sh`) are checked and copied the same way, into a
 * directory MSP_LIB_DIR names. Retries back off exponentially through the
 * injected Clock.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { ActionTaken, Clock } from "@msp/shared";
import { cutChars, emptyCapture } from "./capture.js";
import { type RunEnvironment, scriptEnvironment } from "./environment.js";
import type { Journal } from "./journal.js";
import { describeMismatch, type LoadedRunbook, type PinMismatch, readPinned } from "./library.js";
import type { ProcessRunner } from "./process.js";

/** One action to perform, normalised from a step, rollback action or validation. */
export interface ActionSpec {
  phase: ActionTaken["phase"];
  /** Step number for steps; 1-based position within its phase otherwise. */
  step: number;
  name: string;
  /** `scripts/<name>.sh`, or null for a message-only rollback action. */
  script: string | null;
  message: string | null;
  timeoutSeconds: number;
  /** Attempts in all (1 when the action is not retried). */
  maxAttempts: number;
  expectedExitCode: number;
  evidenceRequired: readonly string[];
}

/** Retry backoff: base, doubled per attempt, capped. */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

/** What a run lends each of its actions. */
export interface ActionRuntime {
  runId: string;
  runbook: LoadedRunbook;
  env: RunEnvironment;
  binDir: string;
  clock: Clock;
  journal: Journal;
  retry: RetryPolicy;
  killGraceMs: number;
  bashPath: string;
  /** Starts each attempt's script (runProcess outside benchmarks). */
  runProcess: ProcessRunner;
}

/** An action's record plus what the run needs to explain its outcome. */
export interface ActionOutcome {
  action: ActionTaken;
  /** Why the action did not succeed, for the bundle's reason. */
  detail: string | null;
  /** Set when the script did not match its pin: the run must stop and report a refusal. */
  refusal: string | null;
}

/** The delay before attempt `attempt + 1`, after `attempt` failed attempts. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.baseMs * 2 ** (attempt - 1), policy.maxMs);
}

/** A record for an action that was not run (a step after a critical failure). */
export function skippedAction(spec: ActionSpec, pinned: string | null, at: Date): ActionTaken {
  return record(spec, pinned, at, 0, { result: "skipped", attempts: 0 });
}

function record(
  spec: ActionSpec,
  pinned: string | null,
  startedAt: Date,
  durationMs: number,
  fields: Partial<ActionTaken> & Pick<ActionTaken, "result" | "attempts">,
): ActionTaken {
  return {
    step: spec.step,
    phase: spec.phase,
    action: spec.name,
    script_sha256: pinned,
    exit_code: null,
    signal: null,
    started_at: startedAt.toISOString(),
    duration_ms: Math.max(0, Math.round(durationMs)),
    stdout: emptyCapture(),
    stderr: emptyCapture(),
    outputs: {},
    ...fields,
  };
}

/** Performs `spec` as action number `idx` of the run, journaling its start, attempts and end. */
export async function performAction(
  spec: ActionSpec,
  idx: number,
  rt: ActionRuntime,
): Promise<ActionOutcome> {
  const start = rt.clock.now();
  const pinned = spec.script === null ? null : (rt.runbook.scripts.get(spec.script) ?? null);
  rt.journal.actionStarted(rt.runId, idx, {
    phase: spec.phase,
    step: spec.step,
    action: spec.name,
    script_sha256: pinned,
    started_at: start.toISOString(),
  });
  const outcome = await attempt(spec, idx, pinned, start, rt);
  rt.journal.actionFinished(rt.runId, idx, outcome.action);
  return outcome;
}

async function attempt(
  spec: ActionSpec,
  idx: number,
  pinned: string | null,
  start: Date,
  rt: ActionRuntime,
): Promise<ActionOutcome> {
  const elapsed = () => rt.clock.now().getTime() - start.getTime();
  if (spec.script === null) {
    // A message-only rollback action (alert_administrator): recorded, nothing executed.
    const outputs: Record<string, string> =
      spec.message === null ? {} : { message: cutChars(spec.message, 512) };
    return {
      action: record(spec, null, start, 0, { result: "ok", attempts: 0, outputs }),
      detail: null,
      refusal: null,
    };
  }
  if (pinned === null) {
    // The loader guarantees every referenced script is pinned; reaching this is a bug, so refuse loudly.
    const refusal = `${spec.script} has no pin in the loaded catalog`;
    return {
      action: record(spec, null, start, 0, { result: "refused", attempts: 0 }),
      detail: refusal,
      refusal,
    };
  }
  for (let n = 1; ; n++) {
    const check = readPinned(rt.runbook.dir, spec.script, pinned);
    if (!check.ok) {
      const refusal = describeMismatch(check.mismatch);
      const action = record(spec, pinned, start, elapsed(), { result: "refused", attempts: n - 1 });
      return { action, detail: refusal, refusal };
    }
    const libs = copyLibraries(rt, join(rt.binDir, `${idx}-${n}-lib`));
    if (!libs.ok) {
      const refusal = describeMismatch(libs.mismatch);
      const action = record(spec, pinned, start, elapsed(), { result: "refused", attempts: n - 1 });
      return { action, detail: refusal, refusal };
    }
    const copy = join(rt.binDir, `${idx}-${n}-${basename(spec.script)}`);
    writeFileSync(copy, check.bytes, { mode: 0o500, flag: "wx" });
    rt.journal.actionAttempt(rt.runId, idx, n, null);
    const result = await rt.runProcess({
      command: rt.bashPath,
      args: [copy],
      cwd: rt.env.workDir,
      env: scriptEnvironment(rt.env, {
        name: spec.name,
        step: spec.step,
        phase: spec.phase,
        attempt: n,
        libDir: libs.dir,
      }),
      timeoutMs: spec.timeoutSeconds * 1000,
      killGraceMs: rt.killGraceMs,
      onSpawn: (pgid) => rt.journal.actionAttempt(rt.runId, idx, n, pgid),
    });
    const missing = spec.evidenceRequired.filter((k) => !Object.hasOwn(result.outputs, k));
    let detail: string | null = null;
    let outcome: ActionTaken["result"] = "ok";
    if (result.timedOut) {
      outcome = "timeout";
      detail = `timed out after ${spec.timeoutSeconds} s`;
    } else if (result.spawnError !== null) {
      outcome = "failed";
      detail = `could not start: ${result.spawnError}`;
    } else if (result.exitCode !== spec.expectedExitCode) {
      outcome = "failed";
      detail =
        result.exitCode === null
          ? `killed by ${result.signal ?? "a signal"}`
          : `exited ${result.exitCode}, expected ${spec.expectedExitCode}`;
    } else if (missing.length > 0) {
      outcome = "failed";
      detail = `missing required evidence: ${missing.join(", ")}`;
    }
    if (outcome === "ok" || n >= spec.maxAttempts) {
      const action = record(spec, pinned, start, elapsed(), {
        result: outcome,
        attempts: n,
        exit_code: result.exitCode,
        signal: result.signal,
        stdout: result.stdout,
        stderr: result.stderr,
        outputs: result.outputs,
      });
      const tries = n > 1 ? ` (after ${n} attempts)` : "";
      return { action, detail: detail === null ? null : `${detail}${tries}`, refusal: null };
    }
    await rt.clock.sleep(backoffMs(rt.retry, n));
  }
}

/**
 * Checks every pinned library of the runbook against its pin and writes the
 * checked bytes into `dir` (made here), so what a script sources is exactly
 * what was pinned. Returns the directory, or null when the runbook has none.
 */
function copyLibraries(
  rt: ActionRuntime,
  dir: string,
): { ok: true; dir: string | null } | { ok: false; mismatch: PinMismatch } {
  if (rt.runbook.libs.length === 0) return { ok: true, dir: null };
  mkdirSync(dir, { mode: 0o700 });
  for (const lib of rt.runbook.libs) {
    const check = readPinned(rt.runbook.dir, lib, rt.runbook.scripts.get(lib) ?? "");
    if (!check.ok) return { ok: false, mismatch: check.mismatch };
    writeFileSync(join(dir, basename(lib)), check.bytes, { mode: 0o400, flag: "wx" });
  }
  return { ok: true, dir };
}
