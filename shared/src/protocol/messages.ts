/**
 * Every WebSocket frame between agent and control plane. Frames are JSON
 * text; each side parses every incoming frame with `AgentFrame` or
 * `ControlPlaneFrame` before touching it.
 */
import { z } from "zod";
import { EvidenceBundle } from "./bundle.js";
import {
  AgentId,
  ClinicId,
  Hostname,
  KeyId,
  RunbookId,
  Sha256,
  Signature,
  Text,
  Timestamp,
} from "./common.js";
import { Incident, IncidentId } from "./incident.js";

/** Parameter values a command may carry; checked again on the agent against the runbook's declarations. */
export const ParamValues = z.record(
  z.string().regex(/^[a-z][a-z0-9_]{0,31}$/),
  z.union([z.string().max(1024), z.number().int(), z.boolean()]),
);
export type ParamValues = z.infer<typeof ParamValues>;

// ---- agent -> control plane ----

/** First frame after connecting: who the agent is and where its outbox stands. */
export const HelloFrame = z.strictObject({
  type: z.literal("hello"),
  protocol_version: z.number().int().min(1),
  agent_id: AgentId,
  client_id: ClinicId,
  hostname: Hostname,
  agent_version: z.string().max(64),
  /** Highest seq the agent has produced (0 if none). */
  last_seq: z.number().int().min(0),
  /** sha256 of the agent's runbook catalog, so the control plane plans only for runbooks it has. */
  catalog_sha256: Sha256,
});

/** One evidence bundle from the outbox. */
export const BundleFrame = z.strictObject({ type: z.literal("bundle"), bundle: EvidenceBundle });

/** An incident raised by a drift check. */
export const IncidentFrame = z.strictObject({ type: z.literal("incident"), incident: Incident });

/** The agent's answer to an execute_runbook command before it runs (the evidence follows as a bundle). */
export const CommandStatusFrame = z.strictObject({
  type: z.literal("command_status"),
  command_id: z.string().max(64),
  status: z.enum(["accepted", "refused"]),
  reason: Text.nullable(),
});

/** Any frame an agent may send. */
export const AgentFrame = z.discriminatedUnion("type", [
  HelloFrame,
  BundleFrame,
  IncidentFrame,
  CommandStatusFrame,
]);
export type AgentFrame = z.infer<typeof AgentFrame>;

// ---- control plane -> agent ----

/** Answer to hello: the protocol is agreed and this is where the server's copy of the chain stands. */
export const WelcomeFrame = z.strictObject({
  type: z.literal("welcome"),
  protocol_version: z.number().int().min(1),
  server_time: Timestamp,
  /** Highest seq stored for this agent such that every lower seq is stored too (0 if none). */
  acked_seq: z.number().int().min(0),
  control_plane_key_id: KeyId,
});

/** A cumulative receipt: every bundle of this agent up to `up_to_seq` is durably stored. */
export const Receipt = z.strictObject({
  agent_id: AgentId,
  client_id: ClinicId,
  up_to_seq: z.number().int().min(0),
  /** sha256 of the canonical bundle at up_to_seq, binding the receipt to that exact chain. */
  head_hash: Sha256,
  stored_at: Timestamp,
});
export type Receipt = z.infer<typeof Receipt>;

/** Signed ack: the agent deletes outbox rows only on one of these. */
export const AckFrame = z.strictObject({ type: z.literal("ack"), receipt: Receipt, signature: Signature });

/** A plan turned into an order for one agent. */
export const RunbookCommand = z.strictObject({
  command_id: z.string().regex(/^CMD-[0-9A-Za-z-]{8,56}$/),
  agent_id: AgentId,
  client_id: ClinicId,
  incident_id: IncidentId.nullable(),
  runbook_id: RunbookId,
  runbook_sha256: Sha256,
  params: ParamValues,
  issued_at: Timestamp,
  expires_at: Timestamp,
  dry_run: z.boolean(),
  planner: z.strictObject({
    kind: z.enum(["llm", "rules", "operator"]),
    confidence: z.number().min(0).max(1),
    fallback_reason: Text.nullable(),
  }),
  approval: z.strictObject({
    decision: z.enum(["approved", "not_required"]),
    approver: z.string().max(128).nullable(),
    decided_at: Timestamp.nullable(),
  }),
});
export type RunbookCommand = z.infer<typeof RunbookCommand>;

/** A signed command; the agent verifies the control-plane signature over the canonical `command`. */
export const ExecuteRunbookFrame = z.strictObject({
  type: z.literal("execute_runbook"),
  command: RunbookCommand,
  signature: Signature,
});

/** A typed error about a frame the agent sent (or the connection as a whole). */
export const ErrorFrame = z.strictObject({
  type: z.literal("error"),
  code: z.string().max(64),
  message: Text,
  retryable: z.boolean(),
  /** The seq of the bundle the error is about, if any. */
  seq: z.number().int().min(0).nullable(),
});

/** Any frame the control plane may send. */
export const ControlPlaneFrame = z.discriminatedUnion("type", [
  WelcomeFrame,
  AckFrame,
  ExecuteRunbookFrame,
  ErrorFrame,
]);
export type ControlPlaneFrame = z.infer<typeof ControlPlaneFrame>;
