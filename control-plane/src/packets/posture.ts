/**
 * Control posture: for one clinic and one month, every citation of the HIPAA
 * catalog with pass, fail or not covered, and the bundles that decide it.
 *
 * Evidence for a control is any result that cites it: a drift check result
 * (`pass` or `fail`; `error` and `skipped` prove nothing either way) or a
 * runbook execution / restore test whose runbook lists it in
 * `hipaa_controls` (`success` passes; `failure`, `timeout` and `rolled_back`
 * fail; refusals, interruptions and dry runs prove nothing). Results are
 * grouped per (agent, check); a control's status is its state at the end of
 * the month:
 *
 * - `fail` when the latest result of any (agent, check) citing it failed;
 * - `pass` when at least one (agent, check) cites it and every latest result passed;
 * - `not_covered` when nothing this month cites it. A control is never passed
 *   for lack of evidence.
 *
 * The month's failures stay visible in `checks[].fail` even when a later
 * result passed. `evidence` lists the deciding bundles (the latest result of
 * each (agent, check)), so an auditor can open each one.
 */
import { HIPAA_CONTROLS } from "@msp/shared";
import type { Db } from "../db/index.js";
import { type MonthBundle, type MonthEvidence, readMonth } from "./month.js";

/** A control's state at the end of the month. */
export type ControlStatus = "pass" | "fail" | "not_covered";

/** One bundle behind a control's status. */
export interface EvidenceRef {
  bundle_id: string;
  agent_id: string;
  seq: number;
  sha256: string;
  kind: string;
  time: string;
}

/** One catalog control with its status and evidence. */
export interface ControlPosture {
  citation: string;
  title: string;
  /** Safeguard family from the catalog. */
  family: string;
  status: ControlStatus;
  /**
   * Results per check id this month, summed over agents. Runbook evidence is
   * listed as `runbook:<RUNBOOK-ID>`.
   */
  checks: { check_id: string; pass: number; fail: number }[];
  /** The latest result of each (agent, check) citing the control, oldest first. */
  evidence: EvidenceRef[];
}

/** Every control of the catalog, in catalog order, for one clinic-month. */
export interface Posture {
  clinic_id: string;
  month: string;
  controls: ControlPosture[];
}

/** One (agent, check) series of results over the month. */
export interface Track {
  check_id: string;
  agent_id: string;
  citations: readonly string[];
  pass: number;
  fail: number;
  latest: { status: "pass" | "fail"; ref: EvidenceRef } | null;
}

const RUNBOOK_PASS = new Set(["success"]);
const RUNBOOK_FAIL = new Set(["failure", "timeout", "rolled_back"]);

const refOf = (b: MonthBundle): EvidenceRef => ({
  bundle_id: b.bundle_id,
  agent_id: b.agent_id,
  seq: b.seq,
  sha256: b.sha256,
  kind: b.kind,
  time: b.created_at,
});

/** The (agent, check) results of a month; exported for the packet's other sections. */
export function trackResults(evidence: MonthEvidence): Track[] {
  const tracks = new Map<string, Track>();
  const record = (
    b: MonthBundle,
    checkId: string,
    citations: readonly string[],
    status: "pass" | "fail" | null,
  ) => {
    const key = `${b.agent_id}\u0000${checkId}`;
    let t = tracks.get(key);
    if (t === undefined) {
      t = { check_id: checkId, agent_id: b.agent_id, citations, pass: 0, fail: 0, latest: null };
      tracks.set(key, t);
    }
    // The citations of the newest result win: a baseline may re-map a check.
    t.citations = citations;
    if (status === null) return;
    t[status] += 1;
    t.latest = { status, ref: refOf(b) };
  };
  // Bundles arrive ordered by (created_at, agent_id, seq), so "latest" is the last one recorded.
  for (const b of evidence.bundles) {
    const { drift, execution, runbook_id, hipaa_controls } = b.facts;
    if (drift !== null) {
      for (const r of drift.results) {
        const status = r.status === "pass" || r.status === "fail" ? r.status : null;
        record(b, r.check_id, r.citation, status);
      }
    }
    if (execution !== null && runbook_id !== null && hipaa_controls.length > 0) {
      const status = RUNBOOK_PASS.has(execution.outcome)
        ? "pass"
        : RUNBOOK_FAIL.has(execution.outcome)
          ? "fail"
          : null;
      record(b, `runbook:${runbook_id}`, hipaa_controls, status);
    }
  }
  return [...tracks.values()];
}

/** Posture from an already-read month (the packet reads the month once for every section). */
export function postureOf(evidence: MonthEvidence): Posture {
  const byCitation = new Map<string, Track[]>();
  for (const t of trackResults(evidence)) {
    if (t.latest === null) continue;
    for (const c of t.citations) {
      const list = byCitation.get(c) ?? [];
      list.push(t);
      byCitation.set(c, list);
    }
  }
  const controls = HIPAA_CONTROLS.map((control): ControlPosture => {
    const tracks = byCitation.get(control.citation) ?? [];
    const checks = new Map<string, { check_id: string; pass: number; fail: number }>();
    for (const t of tracks) {
      const c = checks.get(t.check_id) ?? { check_id: t.check_id, pass: 0, fail: 0 };
      c.pass += t.pass;
      c.fail += t.fail;
      checks.set(t.check_id, c);
    }
    const refs = new Map<string, EvidenceRef>();
    for (const t of tracks) if (t.latest !== null) refs.set(t.latest.ref.sha256, t.latest.ref);
    const status: ControlStatus =
      tracks.length === 0 ? "not_covered" : tracks.some((t) => t.latest?.status === "fail") ? "fail" : "pass";
    return {
      citation: control.citation,
      title: control.title,
      family: control.family,
      status,
      checks: [...checks.values()].sort((a, b) => a.check_id.localeCompare(b.check_id)),
      evidence: [...refs.values()].sort(
        (a, b) => a.time.localeCompare(b.time) || a.agent_id.localeCompare(b.agent_id) || a.seq - b.seq,
      ),
    };
  });
  return { clinic_id: evidence.clinic_id, month: evidence.month, controls };
}

/**
 * The posture heatmap of one clinic-month, read from the evidence tables.
 * Throws `invalid_input` for a malformed clinic id or month.
 */
export function computePosture(db: Db, query: { clinicId: string; month: string /* YYYY-MM */ }): Posture {
  return postureOf(readMonth(db, query));
}
