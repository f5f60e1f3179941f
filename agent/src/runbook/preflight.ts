/**
 * The checks a request passes before anything runs: the runbook is loaded
 * (not refused), the command was planned against this agent's pin, every
 * file of the runbook still matches its pin, and the parameters are valid.
 * A failure here is a refusal bundle; nothing was executed.
 */
import type { RunbookDefinition } from "@msp/shared";
import type { RunbookRef } from "./drafts.js";
import { describeMismatch, type LoadedRunbook, type RunbookLibrary, readPinned } from "./library.js";
import { type ParamValue, validateParams } from "./params.js";

/** Everything a run needs, or what its refusal bundle must say. */
export type Preflight =
  | { ok: true; runbook: LoadedRunbook; params: Readonly<Record<string, ParamValue>> }
  | {
      ok: false;
      /** The runbook reference for the refusal bundle, when the runbook is known at all. */
      ref: RunbookRef | null;
      definition: RunbookDefinition | null;
      reason: string;
    };

/** Checks a request against the library and the agent's path roots; see the module comment. */
export function preflight(
  library: RunbookLibrary,
  req: { runbookId: string; params: Record<string, unknown>; expectedSha256?: string | undefined },
  pathRoots: Readonly<Record<string, readonly string[]>>,
): Preflight {
  const rb = library.runbooks.get(req.runbookId);
  if (rb === undefined) {
    const known = library.refused.get(req.runbookId);
    if (known === undefined) {
      return {
        ok: false,
        ref: null,
        definition: null,
        reason: `runbook ${req.runbookId} is not in this agent's catalog`,
      };
    }
    const ref =
      known.pinnedSha256 === null
        ? null
        : {
            runbook_id: known.id,
            runbook_version: known.version ?? "unknown",
            runbook_sha256: known.pinnedSha256,
            steps_total: 0,
            steps_executed: 0,
          };
    return {
      ok: false,
      ref,
      definition: null,
      reason: `runbook ${req.runbookId} is refused: ${known.reason}`,
    };
  }
  const def = rb.definition;
  const refuse = (reason: string): Preflight => ({
    ok: false,
    ref: {
      runbook_id: rb.id,
      runbook_version: def.version,
      runbook_sha256: rb.sha256,
      steps_total: def.steps.length,
      steps_executed: 0,
    },
    definition: def,
    reason,
  });
  if (req.expectedSha256 !== undefined && req.expectedSha256 !== rb.sha256) {
    return refuse(
      `the command pins ${rb.file} at sha256 ${req.expectedSha256}, this agent's catalog pins ${rb.sha256}`,
    );
  }
  // Every file still matches its pin, so a library tampered with after load runs nothing at all.
  for (const [file, pinned] of [[rb.file, rb.sha256] as const, ...rb.scripts]) {
    const check = readPinned(rb.dir, file, pinned);
    if (!check.ok) return refuse(describeMismatch(check.mismatch));
  }
  const params = validateParams(def, req.params, pathRoots);
  if (!params.ok) return refuse(`invalid parameters: ${params.problems.join("; ")}`);
  return { ok: true, runbook: rb, params: params.values };
}
