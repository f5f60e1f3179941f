/**
 * One validated run, from first step to bundle draft: steps in order, rollback
 * after a critical failure, post-execution validation and success criteria
 * after a clean pass, then the outcome. Everything here is already checked
 * (pins, parameters); what remains are outcomes, which are values.
 *
 * Outcome rules: a pin mismatch found mid-run is `refused`; a critical step
 * failure is `rolled_back` when at least one rollback *script* ran and all of
 * them succeeded, else `timeout` or `failure` by its cause. After a clean
 * pass, a dry run is `dry_run` (unmet criteria are expected when nothing
 * changed, and are named in the reason); otherwise failed validation, criteria
 * or required evidence make it `failure`, and a run with none is `success`.
 */
import type { ActionTaken } from "@msp/shared";
import type { BundleDraft } from "../evidence/index.js";
import { type ActionRuntime, type ActionSpec, performAction, skippedAction } from "./actions.js";
import { executionSummary, type RunContext } from "./drafts.js";
import { evaluateExpression } from "./expression.js";
import type { ExecutionSummary } from "./journal.js";

type Stop = { kind: "failure" | "timeout" | "refusal"; detail: string };

/** Executes the run described by `rt` and returns its draft (not yet handed to the sink). */
export async function executeRun(rt: ActionRuntime, ctx: RunContext): Promise<BundleDraft> {
  const def = rt.runbook.definition;
  const actions: ActionTaken[] = [];
  const notes: string[] = [];
  let idx = 0;
  let stop: Stop | null = null;

  for (const step of def.steps) {
    const spec: ActionSpec = {
      phase: "step",
      step: step.step,
      name: step.name,
      script: step.script,
      message: null,
      timeoutSeconds: step.timeout_seconds,
      maxAttempts: step.retry_on_failure ? step.max_attempts : 1,
      expectedExitCode: 0,
      evidenceRequired: step.evidence_required,
    };
    if (stop !== null) {
      actions.push(skippedAction(spec, rt.runbook.scripts.get(step.script) ?? null, rt.clock.now()));
      continue;
    }
    const out = await performAction(spec, idx++, rt);
    actions.push(out.action);
    if (out.action.result === "ok") continue;
    const what = `step ${step.step} (${step.name}) ${out.detail ?? out.action.result}`;
    if (out.refusal !== null) stop = { kind: "refusal", detail: `refused at ${what}` };
    else if (step.critical)
      stop = { kind: out.action.result === "timeout" ? "timeout" : "failure", detail: what };
    else notes.push(`non-critical ${what}`);
  }

  let rollbackScripts = 0;
  let rollbackOk = true;
  if (stop !== null) {
    for (const [i, rb] of def.rollback.entries()) {
      const spec: ActionSpec = {
        phase: "rollback",
        step: i + 1,
        name: rb.action,
        script: rb.script ?? null,
        message: rb.message ?? null,
        timeoutSeconds: rb.timeout_seconds,
        maxAttempts: 1,
        expectedExitCode: 0,
        evidenceRequired: [],
      };
      const out = await performAction(spec, idx++, rt);
      actions.push(out.action);
      if (spec.script === null) continue;
      rollbackScripts++;
      if (out.action.result !== "ok") {
        rollbackOk = false;
        notes.push(`rollback ${rb.action} ${out.detail ?? out.action.result}`);
      }
    }
  }

  let criteria: ExecutionSummary["success_criteria"];
  let failedChecks = false;
  if (stop === null) {
    for (const [i, v] of def.post_execution_validation.entries()) {
      const spec: ActionSpec = {
        phase: "validation",
        step: i + 1,
        name: v.name,
        script: v.script,
        message: null,
        timeoutSeconds: v.timeout_seconds,
        maxAttempts: 1,
        expectedExitCode: v.expected_exit_code,
        evidenceRequired: [],
      };
      const out = await performAction(spec, idx++, rt);
      actions.push(out.action);
      if (out.refusal !== null) {
        stop = { kind: "refusal", detail: `refused at validation ${v.name}: ${out.refusal}` };
        break;
      }
      if (out.action.result !== "ok") {
        failedChecks = true;
        notes.push(`validation ${v.name} ${out.detail ?? out.action.result}`);
      }
    }
  }
  if (stop === null) {
    const evidence = evidenceOf(actions);
    criteria = rt.runbook.criteria.map((c) => ({
      expression: c.expression,
      ...evaluateExpression(c.tree, evidence),
    }));
    for (const c of criteria) if (!c.met) notes.push(`criterion ${c.expression} not met: ${c.detail}`);
    const missing = def.evidence_artifacts.required.filter((k) => !evidence.has(k));
    if (missing.length > 0) notes.push(`required evidence missing: ${missing.join(", ")}`);
    failedChecks ||= missing.length > 0 || criteria.some((c) => !c.met);
  } else {
    const why = `not evaluated: the run stopped at ${stop.detail}`;
    criteria = rt.runbook.criteria.map((c) => ({ expression: c.expression, met: false, detail: why }));
  }

  const outcome = decide(stop, rollbackScripts, rollbackOk, failedChecks, rt.env.dryRun);
  const parts = [...(stop === null ? [] : [stop.detail]), ...notes];
  if (stop !== null && stop.kind !== "refusal") {
    parts.push(
      rollbackScripts === 0
        ? "no rollback script"
        : rollbackOk
          ? "rollback completed"
          : "rollback incomplete",
    );
  }
  const reason =
    parts.length === 0
      ? rt.env.dryRun
        ? "dry run"
        : null
      : `${rt.env.dryRun ? "dry run: " : ""}${parts.join("; ")}`;
  const restore = def.triggers.some((t) => t.event_type === "restore_test_due");
  return {
    kind: outcome === "refused" ? "runbook_refusal" : restore ? "restore_test" : "runbook_execution",
    incident: ctx.incident,
    runbook: {
      runbook_id: rt.runbook.id,
      runbook_version: def.version,
      runbook_sha256: rt.runbook.sha256,
      steps_total: def.steps.length,
      steps_executed: actions.filter((a) => a.phase === "step" && a.attempts > 0).length,
    },
    actions_taken: actions,
    drift: null,
    hipaa_controls: def.hipaa_controls,
    execution: executionSummary(ctx, rt.clock.now(), outcome, reason, criteria),
    outputs: { run_id: rt.runId, dry_run: rt.env.dryRun ? "true" : "false", ...libraryPins(rt) },
  };
}

/**
 * The pins of the script libraries the run's scripts sourced, as
 * `lib_sha256` = `common.sh:<sha256> service.sh:<sha256>`: an action's
 * `script_sha256` covers only its own file, so without this an auditor could
 * not tell which library bytes a script ran with.
 */
function libraryPins(rt: ActionRuntime): Record<string, string> {
  if (rt.runbook.libs.length === 0) return {};
  const pins = rt.runbook.libs.map((l) => `${l.slice(l.lastIndexOf("/") + 1)}:${rt.runbook.scripts.get(l)}`);
  return { lib_sha256: pins.join(" ") };
}

function decide(
  stop: Stop | null,
  rollbackScripts: number,
  rollbackOk: boolean,
  failedChecks: boolean,
  dryRun: boolean,
): ExecutionSummary["outcome"] {
  if (stop !== null) {
    if (stop.kind === "refusal") return "refused";
    if (rollbackScripts > 0 && rollbackOk) return "rolled_back";
    return stop.kind;
  }
  // A dry run changes nothing, so criteria that describe the state after the
  // remediation (usage back under the threshold, service running) are
  // expected to be unmet: they are reported in the reason, and the outcome is
  // `dry_run`. A step that failed, timed out or was refused still decides.
  if (dryRun) return "dry_run";
  return failedChecks ? "failure" : "success";
}

/**
 * The evidence criteria see: every key the steps printed (a later step wins
 * a repeated key), also reachable as `<step_name>.<key>`.
 */
function evidenceOf(actions: readonly ActionTaken[]): Map<string, string> {
  const evidence = new Map<string, string>();
  for (const a of actions) {
    if (a.phase !== "step") continue;
    for (const [k, v] of Object.entries(a.outputs)) {
      evidence.set(k, v);
      evidence.set(`${a.action}.${k}`, v);
    }
  }
  return evidence;
}
