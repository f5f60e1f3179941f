/**
 * Handling signed ExecuteRunbook commands from the control plane. The
 * transport only parses frames; this is where a command earns the right to
 * run: the control-plane signature verifies against the key pinned at
 * enrollment, the command names this agent and clinic, it has not expired
 * (by the injected clock), it was not seen before, and its runbook and
 * parameters pass the local catalog. Every answer is a `command_status`
 * frame and every command ends in exactly one evidence bundle (an execution
 * or a `runbook_refusal`), except a replay, which is answered and logged but
 * neither run nor evidenced again: its first delivery already was.
 */

import type { Logger } from "@msp/shared";
import {
  type Clock,
  type CommandStatusFrame,
  canonicalBytes,
  decodePublicKey,
  type EvidenceBundle,
  ExecuteRunbookFrame,
  keyIdOf,
  MspError,
  parseWith,
  type RunbookCommand,
  verifyBytes,
} from "@msp/shared";
import type { z } from "zod";
import type { EvidenceSink } from "../evidence/index.js";
import { type RunContext, refusalDraft } from "../runbook/drafts.js";
import {
  type ApprovalRecord,
  type IncidentRef,
  type LoadedRunbook,
  type RunRequest,
  validateParams,
} from "../runbook/index.js";
import type { CommandLedger } from "../state/index.js";

/** The executor as the command handler uses it. */
export interface CommandExecutor {
  get(id: string): LoadedRunbook | undefined;
  run(request: RunRequest): Promise<EvidenceBundle>;
}

/** A command_status frame, as handed to the transport. */
export type CommandStatus = z.infer<typeof CommandStatusFrame>;

/** Options of {@link createCommandHandler}. */
export interface CommandHandlerOptions {
  identity: { agent_id: string; client_id: string };
  /** The control plane's ed25519 public key (base64), pinned in the agent config at enrollment. */
  controlPlanePublicKey: string;
  executor: CommandExecutor;
  /** Where refusals the handler decides itself (signature, identity, expiry) are sealed. */
  sink: EvidenceSink;
  ledger: CommandLedger;
  pathRoots: Readonly<Record<string, readonly string[]>>;
  clock: Clock;
  logger: Logger;
  /** Sends the command_status frame; false when the connection is gone (the evidence still follows). */
  send(frame: CommandStatus): boolean;
  /** Called with every bundle a command produced, so the transport streams it at once. */
  onEvidence?(bundle: EvidenceBundle): void;
  /** Resolves an incident id the command names to the incident this agent raised, for the bundle. */
  incident?(incidentId: string): IncidentRef | undefined;
  /** How far in the future `issued_at` may be (clock skew). Default 5 minutes. */
  maxSkewMs?: number;
}

/** What became of one command. */
export interface CommandOutcome {
  command_id: string;
  status: "accepted" | "refused" | "replayed";
  reason: string | null;
  /** The bundle this delivery produced; null for a replay. */
  bundle: EvidenceBundle | null;
}

/** The handler; give `handle` to the transport as its `onCommand`. */
export interface CommandHandler {
  handle(frame: unknown): Promise<CommandOutcome>;
  /** Resolves when every command handed in so far has finished (for shutdown and tests). */
  idle(): Promise<void>;
}

const NO_APPROVAL: ApprovalRecord = { decision: "not_required", approver: null, decided_at: null };

/** Creates a handler; fails fast on a pinned key that is not a 32-byte ed25519 key. */
export function createCommandHandler(options: CommandHandlerOptions): CommandHandler {
  const { identity, executor, ledger, clock, logger } = options;
  const pinnedKeyId = keyIdOf(decodePublicKey(options.controlPlanePublicKey));
  const maxSkewMs = options.maxSkewMs ?? 5 * 60_000;
  const inflight = new Set<Promise<unknown>>();

  /** Why the envelope cannot be trusted or is not for us, or null when it can and is. */
  function envelopeProblem(frame: z.infer<typeof ExecuteRunbookFrame>): string | null {
    const { command, signature } = frame;
    if (signature.key_id !== pinnedKeyId) {
      return `signed by key ${signature.key_id}, not the pinned control-plane key ${pinnedKeyId}`;
    }
    const sig = Buffer.from(signature.value, "base64");
    if (!verifyBytes(options.controlPlanePublicKey, canonicalBytes(command), sig)) {
      return "the signature does not verify against the pinned control-plane key";
    }
    if (command.agent_id !== identity.agent_id || command.client_id !== identity.client_id) {
      return `the command is for agent ${command.agent_id} of clinic ${command.client_id}, not this agent`;
    }
    return null;
  }

  function timeProblem(command: RunbookCommand): string | null {
    const now = clock.now().getTime();
    const issued = Date.parse(command.issued_at);
    const expires = Date.parse(command.expires_at);
    if (expires <= issued) return "the command expires before it was issued";
    if (now >= expires) return `the command expired at ${command.expires_at}`;
    if (issued > now + maxSkewMs) return `the command is issued in the future (${command.issued_at})`;
    return null;
  }

  function catalogProblem(command: RunbookCommand): string | null {
    const rb = executor.get(command.runbook_id);
    if (rb === undefined) return `runbook ${command.runbook_id} is not in this agent's pinned catalog`;
    if (rb.sha256 !== command.runbook_sha256) {
      return `the command pins ${command.runbook_id} at sha256 ${command.runbook_sha256}; this agent's catalog pins ${rb.sha256}`;
    }
    const params = validateParams(rb.definition, command.params, options.pathRoots);
    return params.ok ? null : `invalid parameters: ${params.problems.join("; ")}`;
  }

  function reply(command_id: string, status: "accepted" | "refused", reason: string | null): void {
    const sent = options.send({ type: "command_status", command_id, status, reason });
    if (!sent) logger.log("warn", "command status not sent: not connected", { command_id, status });
  }

  /** A refusal the handler decides itself: nothing about the command is trusted, so only its claims are recorded. */
  async function refuseUntrusted(command: RunbookCommand, stage: string, reason: string) {
    const now = clock.now();
    const ctx: RunContext = {
      incident: null,
      commandId: command.command_id,
      trigger: "control_plane",
      approval: NO_APPROVAL,
      operator: "control-plane:unverified",
      startedAt: now,
      slaTargetSeconds: 0,
    };
    const draft = refusalDraft(ctx, now, null, [], reason);
    draft.outputs = {
      refusal_stage: stage,
      claimed_agent_id: command.agent_id.slice(0, 512),
      claimed_client_id: command.client_id.slice(0, 512),
      claimed_runbook_id: command.runbook_id,
      claimed_runbook_sha256: command.runbook_sha256,
    };
    return options.sink.append(draft);
  }

  async function handleOnce(input: unknown): Promise<CommandOutcome> {
    const frame = parseWith(ExecuteRunbookFrame, input, "execute_runbook frame");
    const { command } = frame;
    const id = command.command_id;
    const fields = { command_id: id, runbook_id: command.runbook_id };

    const untrusted = envelopeProblem(frame);
    if (untrusted !== null) {
      logger.log("warn", "command refused: untrusted", { ...fields, reason: untrusted });
      const bundle = await refuseUntrusted(command, "envelope", untrusted);
      reply(id, "refused", untrusted);
      options.onEvidence?.(bundle);
      return { command_id: id, status: "refused", reason: untrusted, bundle };
    }
    const seen = ledger.get(id);
    if (seen !== undefined) return replayed(command, seen);

    const expired = timeProblem(command);
    if (expired !== null) {
      if (!ledger.record(seenEntry(command, "refused", expired))) return replayed(command, ledger.get(id));
      logger.log("warn", "command refused: out of its validity window", { ...fields, reason: expired });
      const bundle = await refuseUntrusted(command, "validity", expired);
      reply(id, "refused", expired);
      options.onEvidence?.(bundle);
      return { command_id: id, status: "refused", reason: expired, bundle };
    }

    const refusal = catalogProblem(command);
    const status = refusal === null ? "accepted" : "refused";
    // Recorded before anything runs: a crash mid-run must not let a redelivery run it again
    // (the execution journal reports the interrupted run instead).
    if (!ledger.record(seenEntry(command, status, refusal))) return replayed(command, ledger.get(id));
    logger.log(refusal === null ? "info" : "warn", `command ${status}`, { ...fields, reason: refusal });
    if (refusal === null) reply(id, status, null);
    const incident = command.incident_id === null ? undefined : options.incident?.(command.incident_id);
    // The executor repeats the catalog and parameter checks and seals a refusal itself, with the
    // runbook reference; the refused status then carries the evidence's own wording.
    const bundle = await executor.run({
      runbookId: command.runbook_id,
      params: command.params,
      incident: incident ?? null,
      commandId: id,
      trigger: "control_plane",
      approval: command.approval,
      dryRun: command.dry_run,
      expectedSha256: command.runbook_sha256,
      operator: `control-plane:${command.planner.kind}`,
    });
    logger.log("info", "command finished", {
      ...fields,
      outcome: bundle.execution?.outcome ?? null,
      bundle_id: bundle.bundle_id,
      seq: bundle.seq,
    });
    const reason = refusal === null ? null : (bundle.execution?.reason ?? refusal);
    if (refusal !== null) reply(id, status, reason);
    options.onEvidence?.(bundle);
    return { command_id: id, status, reason, bundle };
  }

  function seenEntry(command: RunbookCommand, status: "accepted" | "refused", reason: string | null) {
    return {
      command_id: command.command_id,
      runbook_id: command.runbook_id,
      status,
      reason,
      received_at: clock.now().toISOString(),
    };
  }

  function replayed(command: RunbookCommand, seen: ReturnType<CommandLedger["get"]>): CommandOutcome {
    if (seen === undefined) throw new MspError("internal", "command ledger lost a recorded command");
    const reason = `command ${command.command_id} was already ${seen.status} at ${seen.received_at}; not run again`;
    logger.log("warn", "replayed command ignored", { command_id: command.command_id, first: seen });
    reply(command.command_id, seen.status, reason);
    return { command_id: command.command_id, status: "replayed", reason, bundle: null };
  }

  return {
    handle(frame) {
      const p = handleOnce(frame);
      inflight.add(p);
      const forget = () => inflight.delete(p);
      p.then(forget, forget);
      return p;
    },
    async idle() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}
