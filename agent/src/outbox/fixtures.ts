/**
 * Drafts for the outbox's tests, its kill test's child process and its
 * benchmark. They are built to pass the shared schema, so a failure in a test
 * points at the outbox, not at a malformed draft.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  canonicalBytes,
  FakeClock,
  generateSigningKey,
  type Receipt,
  type SigningKey,
  sha256Hex,
  signBytes,
} from "@msp/shared";
import type { BundleDraft } from "../evidence/index.js";
import { createOutbox, type Outbox, type OutboxAlert, type OutboxOptions } from "./index.js";

const T0 = "2026-01-01T00:00:00.000Z";

/** A drift_check draft whose `observed` text is padded to make the bundle about `padChars` larger. */
export function driftDraft(padChars = 0): BundleDraft {
  return {
    kind: "drift_check",
    incident: null,
    runbook: null,
    actions_taken: [],
    drift: {
      baseline_id: "hipaa-v1",
      baseline_version: "1.0.0",
      results: [
        {
          check_id: "ssh.password_auth",
          status: "pass",
          citation: ["164.312(d)"],
          observed: `passwordauthentication no${" ".repeat(Math.min(padChars, 2000))}`,
          expected: "passwordauthentication no",
          reason: null,
          exception: null,
          event_type: null,
        },
      ],
    },
    hipaa_controls: ["164.312(d)"],
    execution: null,
    outputs: {},
  };
}

/** Kinds of runbook evidence, which the outbox never refuses for size. */
export type RunbookKind = "runbook_execution" | "restore_test" | "runbook_refusal" | "runbook_interrupted";

/**
 * A runbook evidence draft whose stdout excerpts total `excerptChars`,
 * spread over as many actions as the 8 KB excerpt limit needs.
 */
export function runbookDraft(kind: RunbookKind = "runbook_execution", excerptChars = 64): BundleDraft {
  const actions = Math.max(1, Math.ceil(excerptChars / 8000));
  const actions_taken = Array.from({ length: actions }, (_, step) => {
    const excerpt = "x".repeat(Math.min(8000, excerptChars - step * 8000));
    const stdout = { excerpt, bytes: excerpt.length, sha256: sha256Hex(excerpt), truncated: false };
    const stderr = { excerpt: "", bytes: 0, sha256: sha256Hex(""), truncated: false };
    return {
      step,
      phase: "step" as const,
      action: "run_backup",
      script_sha256: sha256Hex("backup.sh"),
      result: "ok" as const,
      exit_code: 0,
      signal: null,
      attempts: 1,
      started_at: T0,
      duration_ms: 1200,
      stdout,
      stderr,
      outputs: { backup_id: `b-${step}` },
    };
  });
  return {
    kind,
    incident: null,
    runbook: {
      runbook_id: "RB-BACKUP-001",
      runbook_version: "1.0.0",
      runbook_sha256: sha256Hex("RB-BACKUP-001"),
      steps_total: actions,
      steps_executed: actions,
    },
    actions_taken,
    drift: null,
    hipaa_controls: ["164.308(a)(7)(ii)(A)"],
    execution: {
      command_id: null,
      outcome:
        kind === "runbook_refusal" ? "refused" : kind === "runbook_interrupted" ? "interrupted" : "success",
      started_at: T0,
      finished_at: T0,
      mttr_seconds: 1.2,
      sla_target_seconds: 3600,
      sla_met: true,
      operator: "agent",
      trigger: "offline_autonomy",
      approval: null,
      reason: null,
      success_criteria: [{ expression: "backup_id != ''", met: true, detail: null }],
    },
    outputs: {},
  };
}

/** A control-plane ack frame for `receipt`, signed by `key` (the test plays the control plane). */
export function signedAck(key: SigningKey, receipt: Receipt) {
  const value = signBytes(key, canonicalBytes(receipt)).toString("base64");
  return { type: "ack" as const, receipt, signature: { alg: "ed25519" as const, key_id: key.keyId, value } };
}

/** The identity every test outbox seals bundles as. */
export const TEST_IDENTITY = {
  client_id: "clinic-a",
  agent_id: "agent-1",
  hostname: "srv1.clinic-a.example",
};

/** A temp directory, keys, a fake clock and a collected alert list: everything a test outbox needs. */
export interface OutboxRig {
  dir: string;
  dbPath: string;
  agentKey: SigningKey;
  cpKey: SigningKey;
  clock: FakeClock;
  alerts: OutboxAlert[];
  /** Opens the rig's outbox (again); every opened outbox is closed by `cleanup`. */
  open(overrides?: Partial<OutboxOptions>): Outbox;
  /** Closes every opened outbox and removes the directory. */
  cleanup(): void;
}

/** Builds an {@link OutboxRig} in a fresh temp directory. */
export function createRig(maxBytes = 64 << 20): OutboxRig {
  const dir = mkdtempSync(join(tmpdir(), "msp-outbox-"));
  const opened: Outbox[] = [];
  const rig: OutboxRig = {
    dir,
    dbPath: join(dir, "state", "outbox.db"),
    agentKey: generateSigningKey(),
    cpKey: generateSigningKey(),
    clock: new FakeClock("2026-01-01T00:00:00.000Z"),
    alerts: [],
    open(overrides = {}) {
      const outbox = createOutbox({
        dbPath: rig.dbPath,
        signingKey: rig.agentKey,
        identity: TEST_IDENTITY,
        maxBytes,
        clock: rig.clock,
        controlPlanePublicKey: rig.cpKey.publicKey.toString("base64"),
        onAlert: (a) => rig.alerts.push(a),
        ...overrides,
      });
      opened.push(outbox);
      return outbox;
    },
    cleanup() {
      for (const o of opened) o.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return rig;
}
