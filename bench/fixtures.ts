/**
 * Realistic evidence for benchmarks: a backup-failure runbook execution shaped
 * like the seeds' EB-* bundles, so measured costs are those of real traffic.
 * Suites that need many bundles (ingest, replay) vary `seq` and `prevHash`.
 */
import {
  GENESIS_HASH,
  type OutputCapture,
  PROTOCOL_VERSION,
  sha256Hex,
  type UnsignedBundle,
} from "../shared/src/index.js";

// A fixed clock keeps the bundle, and so its canonical size, identical on every run.
const T0 = Date.parse("2026-11-21T03:00:00.000Z");
const at = (offsetMs: number) => new Date(T0 + offsetMs).toISOString();

function capture(text: string): OutputCapture {
  return { excerpt: text, bytes: Buffer.byteLength(text), sha256: sha256Hex(text), truncated: false };
}

interface SampleStep {
  action: string;
  stdout: string;
  outputs: Record<string, string>;
}

const CHECK: SampleStep = {
  action: "check_backup_status",
  stdout: "restic snapshots: last=2026-11-20T02:00:04Z age_h=25 status=stale repo=s3:backup/clinic\n",
  outputs: { last_backup_age_hours: "25", repository: "s3:backup/clinic" },
};
const VERIFY: SampleStep = {
  action: "verify_repository",
  stdout: "restic check: no errors were found; 1187 packs, 42 snapshots, index ok\n",
  outputs: { repository_ok: "true" },
};
const BACKUP: SampleStep = {
  action: "run_backup",
  stdout: [
    "using parent snapshot 4be1d2c0",
    "Files:         212 new,  1024 changed, 17106 unmodified",
    "Dirs:            3 new,    41 changed,   988 unmodified",
    "Added to the repository: 1.204 GiB (1.101 GiB stored)",
    "processed 18342 files, 96.113 GiB in 6:52",
    "snapshot 7f3c9a1e saved",
    "",
  ].join("\n"),
  outputs: { snapshot_id: "7f3c9a1e", files: "18342" },
};
const CONFIRM: SampleStep = {
  action: "confirm_backup",
  stdout: "restic snapshots --latest 1: 7f3c9a1e 2026-11-21T03:07:01Z age_h=0 status=fresh\n",
  outputs: { last_backup_age_hours: "0" },
};

/** Shape of a sample bundle. */
export interface SampleBundleOptions {
  seq?: number;
  prevHash?: string;
  /**
   * All four steps of the backup runbook (~4 KB) instead of the backup step
   * alone (~2 KB, the size the design's crypto figures were measured at).
   * Each action carries three sha256 digests and ~450 bytes of field names even
   * with empty output, so a 2 KB bundle has room for one action only.
   */
  full?: boolean;
}

/** A valid runbook_execution bundle whose canonical form is about 2 KB, or about 4 KB with `full`. */
export function sampleBundle(opts: SampleBundleOptions = {}): UnsignedBundle {
  const { seq = 1, prevHash = GENESIS_HASH, full = false } = opts;
  const steps = full ? [CHECK, VERIFY, BACKUP, CONFIRM] : [BACKUP];
  return {
    protocol_version: PROTOCOL_VERSION,
    bundle_id: `EB-20261121-${String(seq).padStart(4, "0")}`,
    seq,
    prev_hash: prevHash,
    client_id: "clinic-northside",
    agent_id: "agent-northside-fs01",
    hostname: "fs01.northside.local",
    created_at: at(430_000),
    kind: "runbook_execution",
    incident: {
      incident_id: "INC-20261121-0001",
      event_type: "backup_failure",
      severity: "high",
      detected_at: at(0),
    },
    runbook: {
      runbook_id: "RB-BACKUP-001",
      runbook_version: "1.2.0",
      runbook_sha256: sha256Hex("RB-BACKUP-001 1.2.0"),
      steps_total: steps.length,
      steps_executed: steps.length,
    },
    actions_taken: steps.map((s, i) => ({
      step: i + 1,
      phase: "step" as const,
      action: s.action,
      script_sha256: sha256Hex(s.action),
      result: "ok" as const,
      exit_code: 0,
      signal: null,
      attempts: 1,
      started_at: at(5_000 + i * 100_000),
      duration_ms: 1_800 + i * 900,
      stdout: capture(s.stdout),
      stderr: capture(""),
      outputs: { ...s.outputs },
    })),
    drift: null,
    hipaa_controls: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)", "164.312(c)(1)"],
    execution: {
      command_id: "CMD-20261121-0001",
      outcome: "success",
      started_at: at(5_000),
      finished_at: at(425_000),
      mttr_seconds: 425,
      sla_target_seconds: 3600,
      sla_met: true,
      operator: "autopilot",
      trigger: "control_plane",
      approval: { decision: "not_required", approver: null, decided_at: null },
      reason: null,
      success_criteria: [{ expression: "last_backup_age_hours < 24", met: true, detail: "0 hours" }],
    },
    outputs: {},
  };
}
