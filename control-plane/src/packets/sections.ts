/**
 * The packet's evidence sections, each computed from one clinic-month of
 * bundle facts (month.ts, facts.ts). Check families are recognised by the
 * `event_type` a drift result carries (the baseline's per-type default, e.g. `time_drift`
 * for time_sync checks), and runbook evidence by the key=value outputs the
 * pinned runbooks print (RB-BACKUP-001: `archive_sha256`; RB-RESTORE-001:
 * `restore_status`). Nothing is inferred beyond what a bundle states: a
 * family no bundle reports is returned empty, and the renderers print
 * "not covered" for it.
 */
import type { DriftResult } from "@msp/shared";
import type { ResultFacts } from "./facts.js";
import type { MonthBundle, MonthEvidence } from "./month.js";

/** Pass/fail/other counts of drift results. */
export interface ResultCounts {
  pass: number;
  fail: number;
  /** `error` or `skipped`: the check could not decide. */
  undecided: number;
}

/** One host's results of one check family. */
export interface HostChecks extends ResultCounts {
  agent_id: string;
  hostname: string;
  /** The newest result's status and what the agent observed. */
  last_status: string;
  last_observed: string;
  last_time: string;
  last_bundle_id: string;
}

/** A week of the month: days 1-7, 8-14, 15-21, 22-28 and 29 to the end. */
export interface BackupWeek {
  week: number;
  from: string;
  to: string;
  freshness: ResultCounts;
  backup_runs: { total: number; succeeded: number };
  restore_tests: { total: number; succeeded: number };
}

/** One backup run of the backup runbook. */
export interface BackupRun {
  bundle_id: string;
  agent_id: string;
  time: string;
  outcome: string;
  backup_id: string | null;
  archive_sha256: string | null;
  manifest_sha256: string | null;
}

/** One restore test. */
export interface RestoreTest {
  bundle_id: string;
  agent_id: string;
  time: string;
  outcome: string;
  backup_id: string | null;
  archive_sha256: string | null;
  files_verified: string | null;
  mismatches: string | null;
  restore_status: string | null;
}

/** A host's NTP offsets as reported by time_sync checks. */
export interface HostTime extends HostChecks {
  /** Offsets the agent printed (chrony), in ms; empty when only timedatectl answered. */
  offsets_reported: number;
  max_abs_offset_ms: number | null;
  last_offset_ms: number | null;
}

/** One remediation of an incident, from its execution bundle. */
export interface IncidentRow {
  incident_id: string;
  event_type: string;
  severity: string;
  agent_id: string;
  detected_at: string;
  runbook_id: string | null;
  outcome: string;
  trigger: string | null;
  mttr_seconds: number | null;
  sla_met: boolean | null;
  bundle_id: string | null;
  /** `evidence`: an execution bundle; `control_plane`: only the incident record, no execution evidence. */
  source: "evidence" | "control_plane";
}

/** A baseline exception or allowed drift that covered failing results. */
export interface ExceptionRow {
  id: string;
  kind: "allowed_drift" | "exception";
  check_id: string;
  expires: string | null;
  agents: string[];
  results_covered: number;
  first_seen: string;
  last_seen: string;
  baseline: string;
}

const FAMILY = {
  backup: "backup_failure",
  time: "time_drift",
  ssh: "ssh_config_drift",
  audit: "audit_drift",
  encryption: "encryption_drift",
  certificates: "cert_expiry",
} as const;
export type CheckFamily = keyof typeof FAMILY;

const counts = (): ResultCounts => ({ pass: 0, fail: 0, undecided: 0 });
const bump = (c: ResultCounts, status: DriftResult["status"]) => {
  if (status === "pass") c.pass += 1;
  else if (status === "fail") c.fail += 1;
  else c.undecided += 1;
};

/** Calls `fn` for every drift result of the month, in bundle order (a plain loop: this runs per result). */
function eachResult(evidence: MonthEvidence, fn: (b: MonthBundle, r: ResultFacts) => void): void {
  for (const b of evidence.bundles) {
    const drift = b.facts.drift;
    if (drift === null) continue;
    for (const r of drift.results) fn(b, r);
  }
}

const FAMILY_OF = new Map<string | null, CheckFamily>(
  Object.entries(FAMILY).map(([f, type]) => [type, f as CheckFamily]),
);
const hostsCache = new WeakMap<MonthEvidence, Map<CheckFamily, Map<string, HostChecks>>>();

/** Per family and host, the month's results; every family in one pass, once per month read. */
function familyHosts(evidence: MonthEvidence): Map<CheckFamily, Map<string, HostChecks>> {
  const cached = hostsCache.get(evidence);
  if (cached !== undefined) return cached;
  const families = new Map<CheckFamily, Map<string, HostChecks>>();
  eachResult(evidence, (b, r) => {
    const family = FAMILY_OF.get(r.event_type);
    if (family === undefined) return;
    let hosts = families.get(family);
    if (hosts === undefined) {
      hosts = new Map();
      families.set(family, hosts);
    }
    let h = hosts.get(b.agent_id);
    if (h === undefined) {
      h = {
        agent_id: b.agent_id,
        hostname: b.facts.hostname,
        ...counts(),
        last_status: r.status,
        last_observed: r.observed,
        last_time: b.created_at,
        last_bundle_id: b.bundle_id,
      };
      hosts.set(b.agent_id, h);
    }
    bump(h, r.status);
    h.hostname = b.facts.hostname;
    h.last_status = r.status;
    h.last_observed = r.observed;
    h.last_time = b.created_at;
    h.last_bundle_id = b.bundle_id;
  });
  hostsCache.set(evidence, families);
  return families;
}

/** Per host, the results of one check family; sorted by agent id. */
export function hostChecks(evidence: MonthEvidence, family: CheckFamily): HostChecks[] {
  const hosts = familyHosts(evidence).get(family);
  return hosts === undefined
    ? []
    : [...hosts.values()].map((h) => ({ ...h })).sort((a, b) => a.agent_id.localeCompare(b.agent_id));
}

const OFFSET = /offset (-?\d+(?:\.\d+)?) ms/;

/** Per host NTP offsets, from the `offset N ms` the time_sync check prints for chrony. */
export function timeSync(evidence: MonthEvidence): HostTime[] {
  const offsets = new Map<string, number[]>();
  eachResult(evidence, (b, r) => {
    if (r.event_type !== FAMILY.time) return;
    const m = OFFSET.exec(r.observed);
    if (m?.[1] === undefined) return;
    const list = offsets.get(b.agent_id) ?? [];
    list.push(Number(m[1]));
    offsets.set(b.agent_id, list);
  });
  return hostChecks(evidence, "time").map((h) => {
    const list = offsets.get(h.agent_id) ?? [];
    return {
      ...h,
      offsets_reported: list.length,
      max_abs_offset_ms: list.length === 0 ? null : Math.max(...list.map(Math.abs)),
      last_offset_ms: list.at(-1) ?? null,
    };
  });
}

/** The value the bundle states for a runbook output (see `factsOf`), or null. */
const output = (b: MonthBundle, key: keyof MonthBundle["facts"]["outputs"]) => b.facts.outputs[key] ?? null;

const isBackupRun = (b: MonthBundle) =>
  b.kind === "runbook_execution" && output(b, "archive_sha256") !== null;

/** Backup runs: executions that printed an `archive_sha256`, oldest first. */
export function backupRuns(evidence: MonthEvidence): BackupRun[] {
  return evidence.bundles.filter(isBackupRun).map((b) => ({
    bundle_id: b.bundle_id,
    agent_id: b.agent_id,
    time: b.created_at,
    outcome: b.facts.execution?.outcome ?? "unknown",
    backup_id: output(b, "backup_id"),
    archive_sha256: output(b, "archive_sha256"),
    manifest_sha256: output(b, "manifest_sha256"),
  }));
}

/** Restore tests (kind `restore_test`), oldest first. */
export function restoreTests(evidence: MonthEvidence): RestoreTest[] {
  return evidence.bundles
    .filter((b) => b.kind === "restore_test")
    .map((b) => ({
      bundle_id: b.bundle_id,
      agent_id: b.agent_id,
      time: b.created_at,
      outcome: b.facts.execution?.outcome ?? "unknown",
      backup_id: output(b, "restore_backup_id"),
      archive_sha256: output(b, "restore_archive_sha256"),
      files_verified: output(b, "files_verified"),
      mismatches: output(b, "mismatches"),
      restore_status: output(b, "restore_status"),
    }));
}

/** Index 0..4 of the week of the month a timestamp falls in. */
const weekOf = (iso: string) => Math.min(4, Math.floor((Number(iso.slice(8, 10)) - 1) / 7));

/** Backup freshness checks, backup runs and restore tests per week of the month. */
export function backupWeeks(evidence: MonthEvidence): BackupWeek[] {
  const lastDay = Number(new Date(Date.parse(evidence.to) - 1).toISOString().slice(8, 10));
  const weeks: BackupWeek[] = [0, 1, 2, 3, 4].map((i) => ({
    week: i + 1,
    from: `${evidence.month}-${String(i * 7 + 1).padStart(2, "0")}`,
    to: `${evidence.month}-${String(i === 4 ? lastDay : i * 7 + 7).padStart(2, "0")}`,
    freshness: counts(),
    backup_runs: { total: 0, succeeded: 0 },
    restore_tests: { total: 0, succeeded: 0 },
  }));
  const at = (iso: string) => weeks[weekOf(iso)] as BackupWeek;
  eachResult(evidence, (b, r) => {
    if (r.event_type === FAMILY.backup) bump(at(b.created_at).freshness, r.status);
  });
  for (const run of backupRuns(evidence)) {
    const w = at(run.time).backup_runs;
    w.total += 1;
    if (run.outcome === "success") w.succeeded += 1;
  }
  for (const t of restoreTests(evidence)) {
    const w = at(t.time).restore_tests;
    w.total += 1;
    if (t.outcome === "success") w.succeeded += 1;
  }
  return weeks;
}

/**
 * Incident remediations from execution bundles that answer an incident: the
 * newest execution per incident decides its outcome. Incidents the control
 * plane recorded this month without any execution evidence are added by the
 * caller from the incident table (`source: control_plane`).
 */
export function remediations(evidence: MonthEvidence): IncidentRow[] {
  const byIncident = new Map<string, IncidentRow>();
  for (const b of evidence.bundles) {
    const { incident, execution, runbook_id } = b.facts;
    if (incident === null || execution === null) continue;
    byIncident.set(`${b.agent_id}\u0000${incident.incident_id}`, {
      incident_id: incident.incident_id,
      event_type: incident.event_type,
      severity: incident.severity,
      agent_id: b.agent_id,
      detected_at: incident.detected_at,
      runbook_id,
      outcome: execution.outcome,
      trigger: execution.trigger,
      mttr_seconds: execution.mttr_seconds,
      sla_met: execution.sla_met,
      bundle_id: b.bundle_id,
      source: "evidence",
    });
  }
  return [...byIncident.values()].sort(
    (a, b) => a.detected_at.localeCompare(b.detected_at) || a.incident_id.localeCompare(b.incident_id),
  );
}

/** Exceptions and allowed drift that covered failing results this month, by id. */
export function exceptions(evidence: MonthEvidence): ExceptionRow[] {
  const rows = new Map<string, ExceptionRow & { agentSet: Set<string> }>();
  eachResult(evidence, (b, r) => {
    if (r.exception === null) return;
    const drift = b.facts.drift;
    const key = `${r.exception.id}\u0000${r.check_id}`;
    const row = rows.get(key) ?? {
      id: r.exception.id,
      kind: r.exception.kind,
      check_id: r.check_id,
      expires: r.exception.expires,
      agents: [],
      agentSet: new Set<string>(),
      results_covered: 0,
      first_seen: b.created_at,
      last_seen: b.created_at,
      baseline: drift === null ? "" : `${drift.baseline_id} ${drift.baseline_version}`,
    };
    row.agentSet.add(b.agent_id);
    row.results_covered += 1;
    row.last_seen = b.created_at;
    row.expires = r.exception.expires;
    rows.set(key, row);
  });
  return [...rows.values()]
    .map(({ agentSet, ...r }) => ({ ...r, agents: [...agentSet].sort() }))
    .sort((a, b) => a.id.localeCompare(b.id) || a.check_id.localeCompare(b.check_id));
}

/** Pass/fail/undecided over every drift result of the month. */
export function driftTotals(evidence: MonthEvidence): ResultCounts {
  const c = counts();
  eachResult(evidence, (_, r) => bump(c, r.status));
  return c;
}
