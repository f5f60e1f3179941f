/**
 * Approved deviations. A failing check covered by an allowed-drift item or an
 * unexpired exception stays `fail` in the evidence (the auditor sees the real
 * state) but carries the covering item and raises no incident. An expired
 * exception covers nothing, and the result says so, so lapsed risk
 * acceptances surface instead of silently reactivating alerts.
 */
import type { Baseline, DriftResult } from "@msp/shared";

/** What covers a failing result, and notes for its reason. */
export interface Coverage {
  exception: DriftResult["exception"];
  notes: string[];
}

/** True while an exception's `expires` day (UTC) has not ended. */
export function exceptionActive(expires: string, now: Date): boolean {
  const endOfDay = Date.parse(`${expires}T00:00:00.000Z`) + 86_400_000;
  return now.getTime() < endOfDay;
}

/** Finds what covers a failing result of `checkId` at `now`. */
export function coverageFor(baseline: Baseline, checkId: string, now: Date): Coverage {
  const allowed = baseline.allowed_drift.find((a) => a.check_id === checkId);
  if (allowed !== undefined) {
    return {
      exception: { id: allowed.id, kind: "allowed_drift", expires: null },
      notes: [`allowed drift ${allowed.id} approved by ${allowed.approved_by}: ${allowed.reason}`],
    };
  }
  const notes: string[] = [];
  let exception: DriftResult["exception"] = null;
  for (const e of baseline.exceptions.filter((x) => x.check_id === checkId)) {
    if (!exceptionActive(e.expires, now)) {
      notes.push(`exception ${e.id} expired ${e.expires} (owner ${e.owner}); not applied`);
    } else if (exception === null) {
      exception = { id: e.id, kind: "exception", expires: e.expires };
      notes.push(`exception ${e.id} (${e.risk} risk, owner ${e.owner}, expires ${e.expires}): ${e.reason}`);
    }
  }
  return { exception, notes };
}
