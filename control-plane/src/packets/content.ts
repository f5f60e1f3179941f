/**
 * The packet's content: a plain JSON value holding every figure of the ten
 * sections, computed from one read of the clinic-month (bundles, incident
 * records, WORM tables). Renderers (Markdown, HTML, PDF) only format it, so
 * the three outputs can never disagree on a figure. The content depends on
 * the stored data alone; `generated_at` is the one wall-clock field.
 */
import type { Db } from "../db/index.js";
import { buildManifest, type Manifest } from "./manifest.js";
import { readMonth } from "./month.js";
import { type Posture, postureOf } from "./posture.js";
import {
  type BackupRun,
  type BackupWeek,
  backupRuns,
  backupWeeks,
  driftTotals,
  type ExceptionRow,
  exceptions,
  type HostChecks,
  type HostTime,
  hostChecks,
  type IncidentRow,
  type RestoreTest,
  type ResultCounts,
  remediations,
  restoreTests,
  timeSync,
} from "./sections.js";

/** The executive summary's KPIs; a null figure means no evidence to compute it from. */
export interface Kpis {
  /** Passing share of decided drift results (pass / (pass + fail)), percent. */
  compliance_percent: number | null;
  drift_results: ResultCounts;
  controls: { pass: number; fail: number; not_covered: number };
  /** Mean time to remediate over incidents whose remediation succeeded, seconds. */
  mttr_seconds: number | null;
  /** Backup freshness checks passed / decided, percent. */
  backup_success_percent: number | null;
  incidents_total: number;
  /** Incidents fixed by a runbook without an operator starting it (trigger control_plane or offline_autonomy). */
  incidents_auto_fixed: number;
  sla_met: number;
  sla_missed: number;
}

/** Everything a packet says. */
export interface PacketContent {
  format: "msp-compliance-packet-v1";
  clinic: { id: string; name: string };
  month: string;
  period: { from: string; to: string };
  generated_at: string;
  kpis: Kpis;
  posture: Posture;
  backups: { weeks: BackupWeek[]; runs: BackupRun[]; restore_tests: RestoreTest[]; freshness: HostChecks[] };
  time_sync: HostTime[];
  access: { ssh: HostChecks[]; audit: HostChecks[] };
  encryption: { at_rest: HostChecks[]; in_transit: HostChecks[] };
  incidents: IncidentRow[];
  exceptions: ExceptionRow[];
  manifest: Manifest;
}

const percent = (part: number, whole: number) =>
  whole === 0 ? null : Math.round((part / whole) * 10_000) / 100;

interface IncidentTableRow {
  incident_id: string;
  agent_id: string | null;
  incident_type: string;
  severity: string;
  detected_at: string;
  status: string;
  runbook_id: string | null;
  mttr_seconds: number | null;
  sla_met: number | null;
}

/** Incidents recorded by the control plane this month that no execution bundle answers. */
function unanswered(
  db: Db,
  clinicId: string,
  from: string,
  to: string,
  answered: Set<string>,
): IncidentRow[] {
  const rows = db
    .prepare(
      `SELECT incident_id, agent_id, incident_type, severity, detected_at, status, runbook_id, mttr_seconds, sla_met
       FROM incidents WHERE client_id = ? AND detected_at >= ? AND detected_at < ?
       ORDER BY detected_at, incident_id`,
    )
    .all(clinicId, from, to) as IncidentTableRow[];
  return rows
    .filter((r) => !answered.has(r.incident_id))
    .map((r) => ({
      incident_id: r.incident_id,
      event_type: r.incident_type,
      severity: r.severity,
      agent_id: r.agent_id ?? "",
      detected_at: r.detected_at,
      runbook_id: r.runbook_id,
      outcome: r.status,
      trigger: null,
      mttr_seconds: null,
      sla_met: null,
      bundle_id: null,
      source: "control_plane",
    }));
}

/**
 * Computes a packet's content. `clinicName` and `generatedAt` come from the
 * caller (registry and clock); everything else from the database.
 */
export function buildContent(
  db: Db,
  input: { clinicId: string; clinicName: string; month: string; generatedAt: Date },
): PacketContent {
  const evidence = readMonth(db, { clinicId: input.clinicId, month: input.month });
  const posture = postureOf(evidence);
  const fixes = remediations(evidence);
  const incidents = [
    ...fixes,
    ...unanswered(
      db,
      evidence.clinic_id,
      evidence.from,
      evidence.to,
      new Set(fixes.map((f) => f.incident_id)),
    ),
  ].sort((a, b) => a.detected_at.localeCompare(b.detected_at) || a.incident_id.localeCompare(b.incident_id));
  const succeeded = fixes.filter((f) => f.outcome === "success");
  const totals = driftTotals(evidence);
  const freshness = hostChecks(evidence, "backup");
  const fresh = freshness.reduce((s, h) => ({ pass: s.pass + h.pass, fail: s.fail + h.fail }), {
    pass: 0,
    fail: 0,
  });
  const statusCount = (s: string) => posture.controls.filter((c) => c.status === s).length;
  const mttrs = succeeded.map((f) => f.mttr_seconds).filter((m): m is number => m !== null);
  return {
    format: "msp-compliance-packet-v1",
    clinic: { id: evidence.clinic_id, name: input.clinicName },
    month: evidence.month,
    period: { from: evidence.from, to: evidence.to },
    generated_at: input.generatedAt.toISOString(),
    kpis: {
      compliance_percent: percent(totals.pass, totals.pass + totals.fail),
      drift_results: totals,
      controls: {
        pass: statusCount("pass"),
        fail: statusCount("fail"),
        not_covered: statusCount("not_covered"),
      },
      mttr_seconds:
        mttrs.length === 0 ? null : Math.round((mttrs.reduce((s, m) => s + m, 0) / mttrs.length) * 10) / 10,
      backup_success_percent: percent(fresh.pass, fresh.pass + fresh.fail),
      incidents_total: incidents.length,
      incidents_auto_fixed: succeeded.filter((f) => f.trigger !== "operator_cli").length,
      sla_met: fixes.filter((f) => f.sla_met === true).length,
      sla_missed: fixes.filter((f) => f.sla_met === false).length,
    },
    posture,
    backups: {
      weeks: backupWeeks(evidence),
      runs: backupRuns(evidence),
      restore_tests: restoreTests(evidence),
      freshness,
    },
    time_sync: timeSync(evidence),
    access: { ssh: hostChecks(evidence, "ssh"), audit: hostChecks(evidence, "audit") },
    encryption: {
      at_rest: hostChecks(evidence, "encryption"),
      in_transit: hostChecks(evidence, "certificates"),
    },
    incidents,
    exceptions: exceptions(evidence),
    manifest: buildManifest(db, evidence),
  };
}
