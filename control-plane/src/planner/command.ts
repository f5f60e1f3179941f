/**
 * Turning an approved plan into the signed order an agent will execute. The
 * agent verifies the control-plane signature over the RFC 8785 canonical
 * `command`, so everything the agent acts on (runbook, pinned sha256,
 * parameters, expiry, who approved it) is covered by that one signature.
 */
import { randomBytes } from "node:crypto";
import {
  type Clock,
  canonicalBytes,
  ExecuteRunbookFrame,
  MspError,
  parseWith,
  RunbookCommand,
  type SigningKey,
  signBytes,
} from "@msp/shared";
import type { z } from "zod";
import type { Plan } from "./plans.js";

/** Longest command lifetime: a command older than a day describes a machine that has moved on. */
export const MAX_COMMAND_TTL_SECONDS = 86_400;

/** Options of {@link buildSignedCommand}. */
export interface SignedCommandOptions {
  /** The agent the command is for; must be the incident's agent when the incident came from one. */
  agentId: string;
  /** sha256 of the runbook YAML the agent must hold (catalog pin). */
  runbookSha256: string;
  /** The control-plane key. */
  signingKey: SigningKey;
  clock: Clock;
  /** Lifetime, 1..86400 seconds. */
  ttlSeconds: number;
  /** Ask the agent to report what it would change and change nothing. */
  dryRun?: boolean;
}

/** The execute_runbook frame as sent over the WebSocket. */
export type ExecuteRunbook = z.infer<typeof ExecuteRunbookFrame>;

/**
 * Builds and signs the command for an approved plan. `conflict` for a plan
 * that is pending or rejected; `invalid_input` for a wrong agent, ttl or pin.
 */
export function buildSignedCommand(plan: Plan, options: SignedCommandOptions): ExecuteRunbook {
  if (plan.status !== "approved")
    throw new MspError(
      "conflict",
      `plan ${plan.plan_id} is ${plan.status}; only an approved plan is executed`,
    );
  if (plan.agent_id !== null && plan.agent_id !== options.agentId)
    throw new MspError(
      "invalid_input",
      `plan ${plan.plan_id} is for agent ${plan.agent_id}, not ${options.agentId}`,
    );
  const ttl = options.ttlSeconds;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_COMMAND_TTL_SECONDS)
    throw new MspError("invalid_input", `ttlSeconds must be an integer 1..${MAX_COMMAND_TTL_SECONDS}`);
  if (plan.approval_required && (plan.approver === null || plan.decided_at === null))
    throw new MspError("internal", `plan ${plan.plan_id} requires approval but records no approver`);
  const now = options.clock.now();
  const command = parseWith(
    RunbookCommand,
    {
      command_id: newCommandId(),
      agent_id: options.agentId,
      client_id: plan.client_id,
      incident_id: plan.incident_id,
      runbook_id: plan.runbook_id,
      runbook_sha256: options.runbookSha256,
      params: plan.params,
      issued_at: now.toISOString(),
      expires_at: new Date(now.getTime() + ttl * 1000).toISOString(),
      dry_run: options.dryRun ?? false,
      planner: plan.planner,
      approval: plan.approval_required
        ? { decision: "approved", approver: plan.approver, decided_at: plan.decided_at }
        : { decision: "not_required", approver: null, decided_at: null },
    },
    "runbook command",
  );
  return signCommand(command, options.signingKey);
}

/** A fresh command id: `CMD-` and 24 random hex digits. */
export function newCommandId(): string {
  return `CMD-${randomBytes(12).toString("hex")}`;
}

/**
 * Signs a checked command: ed25519 over its RFC 8785 canonical form, which
 * is exactly what the agent verifies. Every command the control plane sends,
 * planned or requested by an operator, is signed here.
 */
export function signCommand(command: RunbookCommand, key: SigningKey): ExecuteRunbook {
  const value = signBytes(key, canonicalBytes(command)).toString("base64");
  return parseWith(
    ExecuteRunbookFrame,
    { type: "execute_runbook", command, signature: { alg: "ed25519", key_id: key.keyId, value } },
    "execute_runbook frame",
    "internal",
  );
}
