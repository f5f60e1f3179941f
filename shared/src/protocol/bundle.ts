/**
 * The evidence bundle: the signed, hash-chained record of one thing an agent
 * observed or did. Field names follow the seeds' EB-* JSON.
 *
 * The signature covers the RFC 8785 canonical form of the bundle without its
 * `signature` member. `prev_hash` is the sha256 of the previous bundle's full
 * canonical form (signature included), so a chain can only be extended by the
 * key holder and any edit, gap or fork shows.
 */
import { z } from "zod";
import { MAX_DRIFT_RESULTS, MAX_TEXT_CHARS, OUTPUT_EXCERPT_BYTES } from "../limits/index.js";
import {
  AgentId,
  Citation,
  ClinicId,
  EventType,
  Hostname,
  RunbookId,
  Severity,
  Sha256,
  Signature,
  Text,
  Timestamp,
} from "./common.js";
import { IncidentId } from "./incident.js";

/** The prev_hash of an agent's first bundle. */
export const GENESIS_HASH = "0".repeat(64);

/** Bundle id in the seeds' style: EB-YYYYMMDD-NNNN (a per-agent daily counter, at least 4 digits). */
export const BundleId = z.string().regex(/^EB-\d{8}-\d{4,9}$/, "must look like EB-20251101-0009");

/** What a bundle records. */
export const BundleKind = z.enum([
  "drift_check",
  "runbook_execution",
  "restore_test",
  "runbook_refusal",
  "runbook_interrupted",
  "local_alert",
]);
export type BundleKind = z.infer<typeof BundleKind>;

/** A captured output stream: a bounded excerpt plus the size and hash of the whole. */
export const OutputCapture = z.strictObject({
  excerpt: z.string().max(OUTPUT_EXCERPT_BYTES * 2),
  bytes: z.number().int().min(0),
  sha256: Sha256,
  truncated: z.boolean(),
});
export type OutputCapture = z.infer<typeof OutputCapture>;

/** Result of one step, rollback action or validation. */
export const StepResult = z.enum(["ok", "failed", "timeout", "skipped", "refused", "interrupted"]);
export type StepResult = z.infer<typeof StepResult>;

/** One action taken, as in the seeds' `actions_taken`. */
export const ActionTaken = z.strictObject({
  step: z.number().int().min(0),
  phase: z.enum(["step", "rollback", "validation"]),
  action: z.string().max(64),
  script_sha256: Sha256.nullable(),
  result: StepResult,
  exit_code: z.number().int().nullable(),
  signal: z.string().max(16).nullable(),
  attempts: z.number().int().min(0),
  started_at: Timestamp,
  duration_ms: z.number().int().min(0),
  stdout: OutputCapture,
  stderr: OutputCapture,
  /** key=value evidence the script printed. */
  outputs: z.record(z.string().max(64), z.string().max(512)),
});
export type ActionTaken = z.infer<typeof ActionTaken>;

/** A reference to the incident a bundle answers. */
export const IncidentRef = z.strictObject({
  incident_id: IncidentId,
  event_type: EventType,
  severity: Severity,
  detected_at: Timestamp,
});

/** The runbook a bundle ran, pinned. */
export const RunbookRef = z.strictObject({
  runbook_id: RunbookId,
  runbook_version: z.string().max(32),
  runbook_sha256: Sha256,
  steps_total: z.number().int().min(0),
  steps_executed: z.number().int().min(0),
});

/** The human decision a plan carried, when one was required. */
export const ApprovalRecord = z.strictObject({
  decision: z.enum(["approved", "not_required"]),
  approver: z.string().max(128).nullable(),
  decided_at: Timestamp.nullable(),
});

/** Execution summary, as in the seeds' `execution`. */
export const ExecutionSummary = z.strictObject({
  command_id: z.string().max(64).nullable(),
  outcome: z.enum(["success", "failure", "timeout", "rolled_back", "refused", "interrupted", "dry_run"]),
  started_at: Timestamp,
  finished_at: Timestamp,
  mttr_seconds: z.number().min(0),
  sla_target_seconds: z.number().int().min(0),
  sla_met: z.boolean(),
  operator: z.string().max(128),
  trigger: z.enum(["control_plane", "offline_autonomy", "operator_cli"]),
  approval: ApprovalRecord.nullable(),
  reason: Text.nullable(),
  success_criteria: z.array(
    z.strictObject({ expression: z.string().max(256), met: z.boolean(), detail: Text.nullable() }),
  ),
});

/** One drift check result. */
export const DriftResult = z.strictObject({
  check_id: z.string().regex(/^[a-z0-9_.-]{1,64}$/),
  status: z.enum(["pass", "fail", "error", "skipped"]),
  citation: z.array(Citation).min(1),
  observed: z.string().max(MAX_TEXT_CHARS),
  expected: z.string().max(MAX_TEXT_CHARS),
  reason: Text.nullable(),
  /** Set when a failing result is covered by an allowed-drift item or an unexpired exception. */
  exception: z
    .strictObject({
      id: z.string().max(64),
      kind: z.enum(["allowed_drift", "exception"]),
      expires: z.string().max(32).nullable(),
    })
    .nullable(),
  event_type: EventType.nullable(),
});
export type DriftResult = z.infer<typeof DriftResult>;

/** The drift section of a drift_check bundle. */
export const DriftSection = z.strictObject({
  baseline_id: z.string().max(64),
  baseline_version: z.string().max(32),
  results: z.array(DriftResult).max(MAX_DRIFT_RESULTS),
});

const bundleFields = {
  protocol_version: z.number().int().min(1),
  bundle_id: BundleId,
  seq: z.number().int().min(1),
  prev_hash: Sha256,
  client_id: ClinicId,
  agent_id: AgentId,
  hostname: Hostname,
  created_at: Timestamp,
  kind: BundleKind,
  incident: IncidentRef.nullable(),
  runbook: RunbookRef.nullable(),
  actions_taken: z.array(ActionTaken),
  drift: DriftSection.nullable(),
  hipaa_controls: z.array(Citation),
  execution: ExecutionSummary.nullable(),
  /** Free key=value evidence at bundle level (e.g. a local alert's reason). */
  outputs: z.record(z.string().max(64), z.string().max(512)),
};

function checkKindSections(
  b: { kind: BundleKind; drift: unknown; runbook: unknown; execution: unknown },
  ctx: z.RefinementCtx,
) {
  const need = (field: "drift" | "runbook" | "execution") => {
    if (b[field] === null)
      ctx.addIssue({ code: "custom", path: [field], message: `required for kind ${b.kind}` });
  };
  switch (b.kind) {
    case "drift_check":
      need("drift");
      break;
    case "runbook_execution":
    case "restore_test":
    case "runbook_interrupted":
    case "runbook_refusal":
      need("execution");
      break;
    case "local_alert":
      break;
  }
}

/** A bundle before signing. */
export const UnsignedBundle = z.strictObject(bundleFields).superRefine(checkKindSections);
export type UnsignedBundle = z.infer<typeof UnsignedBundle>;

/** A signed evidence bundle, as stored in the outbox, sent on the wire and kept in WORM. */
export const EvidenceBundle = z
  .strictObject({ ...bundleFields, signature: Signature })
  .superRefine(checkKindSections);
export type EvidenceBundle = z.infer<typeof EvidenceBundle>;
