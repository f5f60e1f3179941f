/**
 * A month of agent evidence for packet tests and the packet benchmark: per
 * agent and day one drift_check bundle (time sync with a chrony offset,
 * backup freshness, disk encryption, SSH config, a skipped certificate
 * check), weekly restore tests, and backup runbook executions answering
 * incidents. Failures, an exception and a failing restore test are placed at
 * fixed days so tests can compute the expected figures independently.
 */
import {
  bundleHash,
  type DriftResult,
  type EvidenceBundle,
  formatBundleId,
  GENESIS_HASH,
  PROTOCOL_VERSION,
  type SigningKey,
  signBundle,
  type UnsignedBundle,
} from "@msp/shared";
import { unsignedBundle } from "../support/bundles.js";

/** Which results fail, per agent index and day of month. */
export interface MonthPlan {
  clinicId: string;
  month: string;
  days: number;
  /** Drift bundles per agent and day (the benchmark uses many). */
  driftPerDay?: number;
}

const capture = (text: string) => ({
  excerpt: text,
  bytes: Buffer.byteLength(text),
  sha256: "d".repeat(64),
  truncated: false,
});

/** The time offset agent `a` reports on `day`, ms. */
export const offsetOf = (a: number, day: number) => Number((((day * 7 + a * 3) % 11) - 5 + 0.125).toFixed(3));
/** Backup freshness fails for agent 0 on days 5 and 6. */
export const backupFails = (a: number, day: number) => a === 0 && (day === 5 || day === 6);
/** Disk encryption fails for agent 1 on the last day (the control ends the month failing). */
export const encryptionFails = (a: number, day: number, days: number) => a === 1 && day === days;
/** SSH config fails for agent 0 on day 10, covered by an exception. */
export const sshFails = (a: number, day: number) => a === 0 && day === 10;
/** Restore tests on days 7, 14, 21, 28 for agent 0; day 21 fails. */
export const RESTORE_DAYS = [7, 14, 21, 28];
/** Backup runs (incident remediations) for agent 0: day, mttr seconds, trigger, outcome. */
export const BACKUP_RUNS = [
  { day: 6, mttr: 900, trigger: "control_plane", outcome: "success", sla: true },
  { day: 16, mttr: 1500, trigger: "offline_autonomy", outcome: "success", sla: true },
  { day: 24, mttr: 20_000, trigger: "operator_cli", outcome: "success", sla: false },
  { day: 26, mttr: 400, trigger: "control_plane", outcome: "failure", sla: false },
] as const;

function driftResults(a: number, day: number, days: number): DriftResult[] {
  const r = (
    check_id: string,
    event_type: DriftResult["event_type"],
    citation: DriftResult["citation"],
    fail: boolean,
    observed: string,
    exception: DriftResult["exception"] = null,
  ): DriftResult => ({
    check_id,
    status: fail ? "fail" : "pass",
    citation,
    observed,
    expected: "as the baseline says",
    reason: fail ? "drifted" : null,
    exception: fail ? exception : null,
    event_type,
  });
  return [
    r(
      "ntp-sync",
      "time_drift",
      ["164.312(b)"],
      false,
      `chrony: reference 10.0.0.1; offset ${offsetOf(a, day).toFixed(3)} ms; leap status Normal`,
    ),
    r(
      "backup-fresh",
      "backup_failure",
      ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
      backupFails(a, day),
      "newest backup 3.0 h old",
    ),
    r(
      "disk-luks",
      "encryption_drift",
      ["164.312(a)(2)(iv)"],
      encryptionFails(a, day, days),
      "/srv on dm-crypt (LUKS2)",
    ),
    r("sshd-hardening", "ssh_config_drift", ["164.312(d)"], sshFails(a, day), "PasswordAuthentication no", {
      id: "EXC-ssh-legacy",
      kind: "exception",
      expires: "2026-12-31",
    }),
    {
      check_id: "tls-cert",
      status: "skipped",
      citation: ["164.312(e)(1)"],
      observed: "",
      expected: "certificate valid for 30 days",
      reason: "no certificate files present",
      exception: null,
      event_type: "cert_expiry",
    },
  ];
}

/** The unsigned bundles of one agent for the month, in chain order (seq from 1). */
export function agentMonth(plan: MonthPlan, a: number, agentId: string): Omit<UnsignedBundle, "prev_hash">[] {
  const out: Omit<UnsignedBundle, "prev_hash">[] = [];
  const at = (day: number, minute: number) =>
    new Date(`${plan.month}-${String(day).padStart(2, "0")}T00:00:00.000Z`).getTime() + minute * 60_000;
  const base = (seq: number, t: number) => ({
    protocol_version: PROTOCOL_VERSION,
    bundle_id: formatBundleId(new Date(t), seq),
    seq,
    client_id: plan.clinicId,
    agent_id: agentId,
    hostname: agentId,
    created_at: new Date(t).toISOString(),
  });
  for (let day = 1; day <= plan.days; day++) {
    const perDay = plan.driftPerDay ?? 1;
    for (let i = 0; i < perDay; i++) {
      const t = at(day, 60 + i);
      out.push({
        ...base(out.length + 1, t),
        kind: "drift_check",
        incident: null,
        runbook: null,
        actions_taken: [],
        drift: {
          baseline_id: "hipaa-v1",
          baseline_version: "1.0.0",
          results: driftResults(a, day, plan.days),
        },
        hipaa_controls: [],
        execution: null,
        outputs: {},
      });
    }
    if (a !== 0) continue;
    if (RESTORE_DAYS.includes(day)) {
      const t = at(day, 600);
      const ok = day !== 21;
      const template = unsignedBundle(1, GENESIS_HASH);
      out.push({
        ...template,
        ...base(out.length + 1, t),
        kind: "restore_test",
        incident: null,
        runbook: {
          runbook_id: "RB-RESTORE-001",
          runbook_version: "1.0",
          runbook_sha256: "e".repeat(64),
          steps_total: 6,
          steps_executed: 6,
        },
        actions_taken: [
          {
            step: 4,
            phase: "step",
            action: "verify_checksums",
            script_sha256: "c".repeat(64),
            result: ok ? "ok" : "failed",
            exit_code: ok ? 0 : 1,
            signal: null,
            attempts: 1,
            started_at: new Date(t).toISOString(),
            duration_ms: 5000,
            stdout: capture(""),
            stderr: capture(""),
            outputs: {
              restore_backup_id: `backup-${day}`,
              restore_archive_sha256: `${String(day).padStart(2, "0")}${"f".repeat(62)}`,
              files_verified: "120",
              mismatches: ok ? "0" : "3",
              restore_status: ok ? "verified" : "mismatch",
            },
          },
        ],
        hipaa_controls: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
        execution: {
          ...(template.execution as NonNullable<UnsignedBundle["execution"]>),
          outcome: ok ? "success" : "failure",
          started_at: new Date(t).toISOString(),
          finished_at: new Date(t + 5000).toISOString(),
          sla_met: ok,
        },
      });
    }
    const run = BACKUP_RUNS.find((r) => r.day === day);
    if (run !== undefined) {
      const detected = at(day, 0);
      const t = detected + run.mttr * 1000;
      const template = unsignedBundle(1, GENESIS_HASH);
      const action = template.actions_taken[0] as UnsignedBundle["actions_taken"][number];
      out.push({
        ...template,
        ...base(out.length + 1, at(day, 120)),
        incident: {
          incident_id: `INC-${plan.month.replace("-", "")}${String(day).padStart(2, "0")}-0001`,
          event_type: "backup_failure",
          severity: "high",
          detected_at: new Date(detected).toISOString(),
        },
        actions_taken: [
          {
            ...action,
            result: run.outcome === "success" ? "ok" : "failed",
            outputs: {
              backup_status: run.outcome,
              backup_id: `backup-${day}`,
              archive_sha256: `${String(day).padStart(2, "0")}${"a".repeat(62)}`,
              manifest_sha256: "b".repeat(64),
            },
          },
        ],
        execution: {
          ...(template.execution as NonNullable<UnsignedBundle["execution"]>),
          outcome: run.outcome,
          trigger: run.trigger,
          started_at: new Date(detected).toISOString(),
          finished_at: new Date(t).toISOString(),
          mttr_seconds: run.mttr,
          sla_met: run.sla,
        },
      });
    }
  }
  return out;
}

/** Signs and chains bundles from genesis (or `prev`). */
export function signMonth(
  unsigned: Omit<UnsignedBundle, "prev_hash">[],
  key: SigningKey,
  prev = GENESIS_HASH,
): EvidenceBundle[] {
  const out: EvidenceBundle[] = [];
  for (const u of unsigned) {
    const b = signBundle({ ...u, prev_hash: prev } as UnsignedBundle, key);
    out.push(b);
    prev = bundleHash(b);
  }
  return out;
}
