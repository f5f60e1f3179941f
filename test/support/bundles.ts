/**
 * Test builders for evidence bundles and chains. They produce schema-valid
 * bundles so a test can change exactly one thing and see it detected.
 */
import {
  bundleHash,
  type EvidenceBundle,
  formatBundleId,
  GENESIS_HASH,
  PROTOCOL_VERSION,
  type SigningKey,
  signBundle,
  type UnsignedBundle,
} from "@msp/shared";

const START = Date.parse("2026-11-01T08:00:00.000Z");

/** A valid runbook_execution bundle body for seq `seq`, before signing. */
export function unsignedBundle(
  seq: number,
  prevHash: string,
  overrides: Partial<UnsignedBundle> = {},
): UnsignedBundle {
  const at = new Date(START + seq * 60_000).toISOString();
  const capture = (text: string) => ({
    excerpt: text,
    bytes: Buffer.byteLength(text),
    sha256: "a".repeat(64),
    truncated: false,
  });
  return {
    protocol_version: PROTOCOL_VERSION,
    bundle_id: formatBundleId(new Date(at), seq),
    seq,
    prev_hash: prevHash,
    client_id: "clinic-001",
    agent_id: "srv-primary",
    hostname: "srv-primary",
    created_at: at,
    kind: "runbook_execution",
    incident: {
      incident_id: "INC-20261101-0001",
      event_type: "backup_failure",
      severity: "high",
      detected_at: at,
    },
    runbook: {
      runbook_id: "RB-BACKUP-001",
      runbook_version: "1.0",
      runbook_sha256: "b".repeat(64),
      steps_total: 1,
      steps_executed: 1,
    },
    actions_taken: [
      {
        step: 1,
        phase: "step",
        action: "run_backup",
        script_sha256: "c".repeat(64),
        result: "ok",
        exit_code: 0,
        signal: null,
        attempts: 1,
        started_at: at,
        duration_ms: 1200,
        stdout: capture("backup_status=success\n"),
        stderr: capture(""),
        outputs: { backup_status: "success" },
      },
    ],
    drift: null,
    hipaa_controls: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
    execution: {
      command_id: null,
      outcome: "success",
      started_at: at,
      finished_at: at,
      mttr_seconds: 1.2,
      sla_target_seconds: 14_400,
      sla_met: true,
      operator: "service:msp-agent",
      trigger: "control_plane",
      approval: null,
      reason: null,
      success_criteria: [{ expression: 'backup_status == "success"', met: true, detail: null }],
    },
    outputs: {},
    ...overrides,
  };
}

/** A signed, correctly linked chain of `n` bundles starting at seq 1. */
export function signedChain(key: SigningKey, n: number): EvidenceBundle[] {
  const chain: EvidenceBundle[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const b = signBundle(unsignedBundle(seq, prev), key);
    chain.push(b);
    prev = bundleHash(b);
  }
  return chain;
}
