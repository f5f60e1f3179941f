/**
 * Request bodies and query strings of the operator API (`/v1`). The control
 * plane validates with these, the OpenAPI document is generated from them,
 * and clients (the dashboard, scripts) can import the same types.
 */
import { z } from "zod";
import { BundleKind } from "./bundle.js";
import { AgentId, ClinicId, RunbookId, Text, Timestamp } from "./common.js";
import { ParamValues } from "./messages.js";

const ServiceName = z.string().regex(/^[A-Za-z0-9@._-]{1,128}$/, "must be a service unit name");
/** Query strings arrive as text; numbers are coerced and bounded. */
const Limit = z.coerce.number().int().min(1).max(500).default(100);

export const CreateClinicRequest = z.strictObject({
  client_id: ClinicId,
  name: z.string().min(1).max(128),
  /** Services runbooks may restart at this clinic; anything else is refused by the guardrails. */
  service_allowlist: z.array(ServiceName).max(256).default([]),
  /** Site parameters per runbook (e.g. where this clinic's backups live), used when an incident does not carry them. */
  runbook_params: z.record(RunbookId, ParamValues).default({}),
});

/** Sets one runbook's site parameters for a clinic (replacing the previous ones). */
export const RunbookParamsRequest = z.strictObject({ runbook_id: RunbookId, params: ParamValues });

export const CreateApiKeyRequest = z.strictObject({
  name: z.string().min(1).max(128),
  role: z.enum(["admin", "operator", "auditor"]),
  /** Required for operator and auditor keys; must be null for admin keys. */
  client_id: ClinicId.nullable(),
});

export const CreateEnrollmentTokenRequest = z.strictObject({
  ttl_seconds: z
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(86_400),
});

/** A direct runbook execution request by an operator (planner kind `operator`). */
export const ExecutionRequest = z.strictObject({
  agent_id: AgentId,
  runbook_id: RunbookId,
  params: ParamValues.default({}),
  dry_run: z.boolean().default(false),
  reason: Text.min(1),
});

/** Approve or reject a pending plan. */
export const ApprovalDecisionRequest = z.strictObject({ reason: Text.optional() });

export const PageQuery = z.strictObject({ limit: Limit, before: z.coerce.number().int().min(1).optional() });

export const EvidenceQuery = z.strictObject({
  agent_id: AgentId.optional(),
  kind: BundleKind.optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  limit: Limit,
  /** Opaque cursor from the previous page's `next_cursor`. */
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/)
    .optional(),
});

export const IncidentQuery = z.strictObject({
  status: z
    .enum(["open", "planned", "awaiting_approval", "dispatched", "resolved", "failed", "rejected"])
    .optional(),
  limit: Limit,
  before: z.string().max(64).optional(),
});

/** Generates a clinic's compliance packet for one calendar month (UTC). */
export const CreatePacketRequest = z.strictObject({
  month: z.string().regex(/^(2\d{3})-(0[1-9]|1[0-2])$/, "must be a month like 2025-11"),
});
