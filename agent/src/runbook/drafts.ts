/**
 * Building bundle drafts. Every execution ends in exactly one draft (success,
 * failure, timeout, rollback, dry run, refusal or interruption); these
 * helpers keep the shared parts (MTTR, SLA, the execution summary, the
 * runbook reference) computed one way for all of them.
 */
import type { ActionTaken } from "@msp/shared";
import { limits } from "@msp/shared";
import type { BundleDraft } from "../evidence/index.js";
import { cutChars, emptyCapture } from "./capture.js";
import type { ApprovalRecord, ExecutionSummary, IncidentRef, RunTrigger, UnfinishedRun } from "./journal.js";

/** The runbook reference of a bundle. */
export type RunbookRef = NonNullable<BundleDraft["runbook"]>;

/** Who ran what, for whom, since when: the part of a summary fixed when a run starts. */
export interface RunContext {
  incident: IncidentRef | null;
  commandId: string | null;
  trigger: RunTrigger;
  approval: ApprovalRecord;
  operator: string;
  startedAt: Date;
  slaTargetSeconds: number;
}

/**
 * Mean time to resolve, in seconds: from the incident's detection (or from
 * the run's start when there is no incident) to the run's end.
 */
export function mttrSeconds(ctx: RunContext, finishedAt: Date): number {
  const from = ctx.incident === null ? ctx.startedAt : new Date(ctx.incident.detected_at);
  return Math.max(0, Math.round(finishedAt.getTime() - from.getTime()) / 1000);
}

/** The execution summary of a finished (or abandoned) run. */
export function executionSummary(
  ctx: RunContext,
  finishedAt: Date,
  outcome: ExecutionSummary["outcome"],
  reason: string | null,
  criteria: ExecutionSummary["success_criteria"],
): ExecutionSummary {
  const mttr = mttrSeconds(ctx, finishedAt);
  return {
    command_id: ctx.commandId,
    outcome,
    started_at: ctx.startedAt.toISOString(),
    finished_at: finishedAt.toISOString(),
    mttr_seconds: mttr,
    sla_target_seconds: ctx.slaTargetSeconds,
    sla_met: mttr <= ctx.slaTargetSeconds,
    operator: ctx.operator,
    trigger: ctx.trigger,
    approval: ctx.approval,
    reason: reason === null ? null : cutChars(reason, limits.MAX_TEXT_CHARS),
    success_criteria: criteria.map((c) => ({
      expression: c.expression,
      met: c.met,
      detail: c.detail === null ? null : cutChars(c.detail, limits.MAX_TEXT_CHARS),
    })),
  };
}

/** A refusal: nothing (or nothing more) was run, and the reason names why. */
export function refusalDraft(
  ctx: RunContext,
  finishedAt: Date,
  runbook: RunbookRef | null,
  hipaaControls: readonly string[],
  reason: string,
): BundleDraft {
  return {
    kind: "runbook_refusal",
    incident: ctx.incident,
    runbook,
    actions_taken: [],
    drift: null,
    hipaa_controls: [...hipaaControls],
    execution: executionSummary(ctx, finishedAt, "refused", reason, []),
    outputs: {},
  };
}

/**
 * The bundle for a run the journal shows unfinished: the agent died (or
 * failed) mid-run. Finished actions are reported as recorded; an action that
 * was running is reported as `interrupted`.
 */
export function interruptedDraft(u: UnfinishedRun, recoveredAt: Date, cause: string | null): BundleDraft {
  const r = u.run;
  const actions: ActionTaken[] = u.actions.map(
    (a) =>
      a.finished ?? {
        ...a.started,
        result: "interrupted",
        exit_code: null,
        signal: null,
        attempts: a.attempts,
        duration_ms: 0,
        stdout: emptyCapture(),
        stderr: emptyCapture(),
        outputs: {},
      },
  );
  const open = u.actions.find((a) => a.finished === null)?.started;
  const where =
    open === undefined
      ? actions.length === 0
        ? "before its first action"
        : `after ${actions.length} action(s)`
      : `during ${open.phase} ${open.step} (${open.action})`;
  const ctx: RunContext = {
    incident: r.incident,
    commandId: r.commandId,
    trigger: r.trigger,
    approval: r.approval,
    operator: r.operator,
    startedAt: new Date(r.startedAt),
    slaTargetSeconds: r.slaTargetSeconds,
  };
  const reason = `${cause ?? "the agent stopped"} ${where}; recovered from the execution journal${r.dryRun ? " (dry run)" : ""}`;
  return {
    kind: "runbook_interrupted",
    incident: r.incident,
    runbook: {
      runbook_id: r.runbookId,
      runbook_version: r.runbookVersion,
      runbook_sha256: r.runbookSha256,
      steps_total: r.stepsTotal,
      steps_executed: actions.filter((a) => a.phase === "step" && a.attempts > 0).length,
    },
    actions_taken: actions,
    drift: null,
    hipaa_controls: r.hipaaControls,
    execution: executionSummary(ctx, recoveredAt, "interrupted", reason, []),
    outputs: { run_id: r.runId },
  };
}
