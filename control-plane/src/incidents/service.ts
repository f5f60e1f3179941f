/**
 * The incident pipeline: incident -> validation -> planner -> plan (approval
 * queue when required) -> rate limits -> runbook circuit breaker -> signed
 * command -> agent; and back: command status and execution evidence close
 * the incident with its MTTR and SLA. The planner only ever names a runbook
 * from the catalog; what reaches the agent is a command the control plane
 * built and signed, never model text.
 *
 * Durability and latency: planning (which may wait for a model) runs outside
 * any transaction; everything it leads to (incident row, planning-log row,
 * plan, rate-limit hit, command row) then commits in ONE transaction, so an
 * incident costs one fsync rather than one per row, and a command is on disk
 * before it is sent. Marking it `sent` is committed without its own fsync:
 * losing that mark in a crash only means a resend the agent recognises.
 */
import {
  type Clock,
  type EvidenceBundle,
  type Incident,
  type Logger,
  MspError,
  type ParamValues,
  parseWith,
  RunbookCommand,
  type SigningKey,
} from "@msp/shared";
import { BREAKER_NAMES, type Breakers, circuitOpenError } from "../guardrails/breaker.js";
import { type RateLimiter, rateLimitedError } from "../guardrails/rate-limit.js";
import type { Metrics } from "../metrics/index.js";
import { buildSignedCommand, type ExecuteRunbook, newCommandId, signCommand } from "../planner/command.js";
import type { PlanDecision, Planner } from "../planner/decision.js";
import type { Plan, PlanStore } from "../planner/plans.js";
import type { RunbookCatalogView } from "../runbooks/index.js";
import type { CommandRecord, IncidentRecord, IncidentStore, IncidentUpdate } from "./store.js";

/** A problem the input validator found: which field, and why it is refused. */
export interface InputFinding {
  path: string;
  reason: string;
}

/** The agents the pipeline may address (the registry's view). */
export interface AgentDirectory {
  get(
    agentId: string,
  ): { agent_id: string; client_id: string; hostname: string; revoked_at: string | null } | undefined;
  list(
    clientId: string,
  ): { agent_id: string; client_id: string; hostname: string; revoked_at: string | null }[];
}

export interface IncidentServiceDeps {
  store: IncidentStore;
  planner: Pick<Planner, "decide">;
  plans: PlanStore;
  catalog: RunbookCatalogView;
  agents: AgentDirectory;
  /** Guardrail input validation of an incident (details, host, services of the clinic). */
  validateIncident(incident: Incident): InputFinding[];
  /** Guardrail validation of parameters for a runbook at a clinic. */
  validateParams(clientId: string, runbookId: string, params: ParamValues): InputFinding[];
  rateLimiter: Pick<RateLimiter, "consume" | "check">;
  breakers: Pick<Breakers, "get">;
  signingKey: SigningKey;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Sends a frame to a connected agent; false when it is not connected (the command stays queued). */
  send(agentId: string, frame: unknown): boolean;
  commandTtlSeconds: number;
}

/** Who submitted: an agent over its authenticated WebSocket, or an operator's API key. */
export type IncidentOrigin =
  | { kind: "agent"; agent_id: string; client_id: string }
  | { kind: "operator"; actor: string; client_id: string };

export interface IncidentService {
  submit(incident: Incident, origin: IncidentOrigin): Promise<IncidentRecord>;
  approve(clientId: string, planId: string, approver: string): IncidentRecord;
  reject(clientId: string, planId: string, approver: string, reason: string): IncidentRecord;
  /** A direct execution request by an operator: guardrails apply, no planner. */
  execute(input: {
    client_id: string;
    agent_id: string;
    runbook_id: string;
    params: ParamValues;
    dry_run: boolean;
    reason: string;
    actor: string;
  }): CommandRecord;
  onCommandStatus(
    agentId: string,
    status: { command_id: string; status: "accepted" | "refused"; reason: string | null },
  ): void;
  /** Stored evidence: execution bundles close their command and incident. */
  onEvidence(bundles: readonly EvidenceBundle[]): void;
  /** An agent connected: resend its unanswered, unexpired commands. */
  onAgentConnected(agentId: string): void;
}

const refusedInput = (findings: InputFinding[], what: string) =>
  new MspError(
    "invalid_input",
    `${what} refused by input validation: ${findings
      .map((f) => `${f.path}: ${f.reason}`)
      .join("; ")
      .slice(0, 500)}`,
    {
      details: { findings },
    },
  );

export function createIncidentService(deps: IncidentServiceDeps): IncidentService {
  const { store, clock } = deps;
  const decisions = deps.metrics.counter(
    "msp_planner_decisions_total",
    "Planner decisions by planner kind and outcome.",
  );
  const limited = deps.metrics.counter(
    "msp_rate_limit_hits_total",
    "Actions refused by a rate limit, by limit.",
  );
  const commandsSent = deps.metrics.counter("msp_commands_total", "Commands by final status.");

  const activeAgent = (clientId: string, agentId: string) => {
    const a = deps.agents.get(agentId);
    if (a === undefined || a.client_id !== clientId)
      throw new MspError("not_found", `agent ${agentId} not found`);
    if (a.revoked_at !== null) throw new MspError("conflict", `agent ${agentId} is revoked`);
    return a;
  };

  /**
   * Stores a signed frame as a queued command. It is sent by {@link deliver}
   * only after the transaction holding this row committed: a command is
   * recorded before any agent can act on it.
   */
  const issue = (frame: ExecuteRunbook, meta: { plan_id: string | null; requested_by: string }) => {
    const c = frame.command;
    const text = JSON.stringify(frame);
    return store.insertCommand({
      command_id: c.command_id,
      client_id: c.client_id,
      agent_id: c.agent_id,
      incident_id: c.incident_id,
      plan_id: meta.plan_id,
      runbook_id: c.runbook_id,
      params: c.params,
      dry_run: c.dry_run,
      requested_by: meta.requested_by,
      frame: text,
      issued_at: c.issued_at,
      expires_at: c.expires_at,
      status: "queued",
    });
  };

  /** Sends a committed command if its agent is connected; a command that could not be sent stays queued. */
  const deliver = (command: CommandRecord, frame: ExecuteRunbook): CommandRecord =>
    deps.send(command.agent_id, frame) ? store.markSent(command.command_id) : command;

  /** What a transaction on the incident path produced: the incident, and a committed command to deliver. */
  interface Dispatched {
    incident: IncidentRecord;
    command: { record: CommandRecord; frame: ExecuteRunbook; runbook_id: string } | null;
  }

  /** After the commit: send the command, if one was issued, and log it. */
  const afterCommit = (out: Dispatched): IncidentRecord => {
    if (out.command === null) return out.incident;
    const { record, frame, runbook_id } = out.command;
    const command = deliver(record, frame);
    deps.logger.log("info", "command issued", {
      command_id: command.command_id,
      incident_id: out.incident.incident_id,
      runbook_id,
      agent_id: command.agent_id,
      delivered: command.status === "sent",
    });
    return out.incident;
  };

  const settled = (incident: IncidentRecord): Dispatched => ({ incident, command: null });

  /**
   * Runs an approved plan through the rate limits and the breaker, then issues
   * (stores) its command. Called inside a transaction; the caller delivers.
   */
  const dispatch = (incident: IncidentRecord, plan: Plan, agentId: string): Dispatched => {
    const update = (change: IncidentUpdate) =>
      settled(store.update(incident.client_id, incident.incident_id, change));
    const runbook = deps.catalog.get(plan.runbook_id);
    if (runbook === undefined) {
      return update({
        status: "needs_review",
        status_reason: `runbook ${plan.runbook_id} is not in the catalog`,
      });
    }
    // The planner checked parameters against the runbook; the guardrails check them again with the clinic's allow-lists.
    const findings = deps.validateParams(plan.client_id, plan.runbook_id, plan.params);
    if (findings.length > 0) {
      return update({
        status: "needs_review",
        status_reason: refusedInput(findings, "planned parameters").message,
      });
    }
    const rate = deps.rateLimiter.consume({
      clientId: plan.client_id,
      hostname: incident.hostname,
      runbookId: plan.runbook_id,
    });
    if (!rate.allowed) {
      limited.inc({ limit: rate.limit });
      return update({
        status: "rate_limited",
        status_reason: `${rate.limit} limit reached (${rate.used}/${rate.max})`,
        retry_at: rate.retry_at,
      });
    }
    const breaker = deps.breakers.get(BREAKER_NAMES.runbook(plan.runbook_id)).allow();
    if (!breaker.allowed) {
      return update({
        status: "circuit_open",
        status_reason: `runbook ${plan.runbook_id} circuit is open`,
        retry_at: breaker.retry_at,
      });
    }
    const frame = buildSignedCommand(plan, {
      agentId,
      runbookSha256: runbook.sha256,
      signingKey: deps.signingKey,
      clock,
      ttlSeconds: deps.commandTtlSeconds,
    });
    const command = issue(frame, {
      plan_id: plan.plan_id,
      requested_by: plan.approver ?? `planner:${plan.planner.kind}`,
    });
    return {
      incident: store.update(incident.client_id, incident.incident_id, {
        status: "dispatched",
        status_reason: null,
        retry_at: null,
        command_id: command.command_id,
      }),
      command: { record: command, frame, runbook_id: plan.runbook_id },
    };
  };

  const targetAgent = (incident: Incident): string | null => {
    if (incident.agent_id !== undefined) return incident.agent_id;
    const onHost = deps.agents
      .list(incident.client_id)
      .filter((a) => a.hostname === incident.hostname && a.revoked_at === null);
    return onHost.length === 1 ? (onHost[0]?.agent_id ?? null) : null;
  };

  const finish = (command: CommandRecord, bundle: EvidenceBundle) => {
    const outcome = bundle.execution?.outcome;
    const ok = outcome === "success" || outcome === "dry_run";
    const updated = store.updateCommand(command.command_id, {
      status: ok ? "succeeded" : "failed",
      status_reason: ok ? null : `outcome ${outcome ?? bundle.kind}`,
      bundle_id: bundle.bundle_id,
    });
    commandsSent.inc({ status: updated.status });
    const breaker = deps.breakers.get(BREAKER_NAMES.runbook(command.runbook_id));
    if (bundle.kind === "runbook_execution") {
      if (ok) breaker.recordSuccess();
      else breaker.recordFailure();
    }
    if (command.incident_id === null) return;
    const incident = store.get(command.client_id, command.incident_id);
    if (incident === undefined) return;
    const detected = Date.parse(incident.detected_at);
    const finishedAt = bundle.execution?.finished_at ?? bundle.created_at;
    const sla = bundle.execution?.sla_target_seconds;
    const mttr = Math.max(0, (Date.parse(finishedAt) - detected) / 1000);
    store.update(command.client_id, command.incident_id, {
      status: ok ? "resolved" : "failed",
      status_reason: ok ? null : `runbook ${command.runbook_id} ended with ${outcome ?? bundle.kind}`,
      bundle_id: bundle.bundle_id,
      resolved_at: ok ? finishedAt : null,
      mttr_seconds: mttr,
      sla_met: sla === undefined ? null : ok && mttr <= sla,
    });
  };

  /** The stored incident when a resubmission is identical; `conflict` when it differs. */
  const sameIncident = (existing: IncidentRecord, incident: Incident): IncidentRecord => {
    if (JSON.stringify(existing.incident) !== JSON.stringify(incident)) {
      throw new MspError(
        "conflict",
        `incident ${incident.incident_id} was already submitted with other content`,
      );
    }
    return existing;
  };

  return {
    async submit(incident, origin) {
      if (incident.client_id !== origin.client_id) {
        throw new MspError(
          "forbidden",
          `incident names clinic ${incident.client_id}, caller belongs to ${origin.client_id}`,
        );
      }
      if (origin.kind === "agent" && incident.agent_id !== origin.agent_id) {
        throw new MspError("forbidden", "an agent may only report incidents about itself");
      }
      if (origin.kind === "operator" && incident.agent_id !== undefined)
        activeAgent(incident.client_id, incident.agent_id);
      const findings = deps.validateIncident(incident);
      if (findings.length > 0) throw refusedInput(findings, "incident");
      const existing = store.get(incident.client_id, incident.incident_id);
      if (existing !== undefined) return sameIncident(existing, incident);
      // Planning (possibly a model call) happens outside any transaction; everything it leads to
      // (incident row, planning-log row, plan, rate-limit hit, command) then commits at once.
      const pending = await deps.planner.decide(incident);
      const { out, decision } = store.transaction((): { out: Dispatched; decision: PlanDecision | null } => {
        // Another submit of the same incident may have committed while this one was planning.
        const raced = store.get(incident.client_id, incident.incident_id);
        if (raced !== undefined) return { out: settled(sameIncident(raced, incident)), decision: null };
        store.insert(incident);
        const decision = pending.record();
        let record = store.update(incident.client_id, incident.incident_id, {
          decision_id: decision.decision_id,
          runbook_id: decision.runbook_id,
        });
        const update = (change: IncidentUpdate) => ({
          out: settled(store.update(incident.client_id, incident.incident_id, change)),
          decision,
        });
        if (decision.outcome === "human_review" || decision.runbook_id === null) {
          return update({
            status: "needs_review",
            status_reason: decision.review_reason ?? "the planner found no runbook to run",
          });
        }
        const agentId = targetAgent(incident);
        if (agentId === null) {
          return update({
            status: "needs_review",
            status_reason: `no single enrolled agent on host ${incident.hostname}`,
          });
        }
        const plan = deps.plans.create({ ...decision, agent_id: agentId });
        record = store.update(incident.client_id, incident.incident_id, { plan_id: plan.plan_id });
        if (plan.status === "pending_approval") {
          return update({
            status: "awaiting_approval",
            status_reason: plan.approval_reasons.join("; "),
          });
        }
        return { out: dispatch(record, plan, agentId), decision };
      });
      if (decision !== null) decisions.inc({ planner: decision.planner.kind, outcome: decision.outcome });
      return afterCommit(out);
    },

    approve(clientId, planId, approver) {
      const current = deps.plans.get(planId);
      if (current.client_id !== clientId) throw new MspError("not_found", `plan ${planId} not found`);
      const plan = deps.plans.approve(planId, approver, clock);
      const incident = store.byPlan(planId);
      if (incident === undefined) throw new MspError("internal", `plan ${planId} has no incident`);
      const agentId = plan.agent_id ?? targetAgent(incident.incident) ?? "";
      return afterCommit(store.transaction(() => dispatch(incident, plan, agentId)));
    },

    reject(clientId, planId, approver, reason) {
      const current = deps.plans.get(planId);
      if (current.client_id !== clientId) throw new MspError("not_found", `plan ${planId} not found`);
      deps.plans.reject(planId, approver, reason, clock);
      const incident = store.byPlan(planId);
      if (incident === undefined) throw new MspError("internal", `plan ${planId} has no incident`);
      return store.update(incident.client_id, incident.incident_id, {
        status: "rejected",
        status_reason: `rejected by ${approver}: ${reason}`,
      });
    },

    execute(input) {
      const agent = activeAgent(input.client_id, input.agent_id);
      const runbook = deps.catalog.get(input.runbook_id);
      if (runbook === undefined)
        throw new MspError("not_found", `runbook ${input.runbook_id} is not in the catalog`);
      const findings = deps.validateParams(input.client_id, input.runbook_id, input.params);
      if (findings.length > 0) throw refusedInput(findings, "parameters");
      // A dry run changes nothing on the host, so it must not use up the cooldown that guards
      // the real fix; it is still refused while the limits are exhausted.
      const action = { clientId: input.client_id, hostname: agent.hostname, runbookId: input.runbook_id };
      const rate = input.dry_run ? deps.rateLimiter.check(action) : deps.rateLimiter.consume(action);
      if (!rate.allowed) {
        limited.inc({ limit: rate.limit });
        throw rateLimitedError(rate);
      }
      const breaker = deps.breakers.get(BREAKER_NAMES.runbook(input.runbook_id)).allow();
      if (!breaker.allowed) throw circuitOpenError(BREAKER_NAMES.runbook(input.runbook_id), breaker);
      const now = clock.now();
      const command = parseWith(
        RunbookCommand,
        {
          command_id: newCommandId(),
          agent_id: input.agent_id,
          client_id: input.client_id,
          incident_id: null,
          runbook_id: input.runbook_id,
          runbook_sha256: runbook.sha256,
          params: input.params,
          issued_at: now.toISOString(),
          expires_at: new Date(now.getTime() + deps.commandTtlSeconds * 1000).toISOString(),
          dry_run: input.dry_run,
          planner: { kind: "operator", confidence: 1, fallback_reason: null },
          approval: { decision: "approved", approver: input.actor, decided_at: now.toISOString() },
        },
        "runbook command",
        "internal",
      );
      const frame = signCommand(command, deps.signingKey);
      deps.logger.log("info", "operator command issued", {
        command_id: frame.command.command_id,
        runbook_id: input.runbook_id,
        agent_id: input.agent_id,
        actor: input.actor,
        reason: input.reason,
      });
      return deliver(issue(frame, { plan_id: null, requested_by: input.actor }), frame);
    },

    onCommandStatus(agentId, status) {
      const command = store.getCommand(status.command_id);
      if (command === undefined || command.agent_id !== agentId) return;
      if (command.status !== "queued" && command.status !== "sent") return;
      store.updateCommand(command.command_id, { status: status.status, status_reason: status.reason });
      if (status.status === "refused") {
        commandsSent.inc({ status: "refused" });
        if (command.incident_id !== null) {
          store.update(command.client_id, command.incident_id, {
            status: "failed",
            status_reason: `agent refused the command: ${status.reason ?? "no reason given"}`,
          });
        }
      }
    },

    onEvidence(bundles) {
      for (const bundle of bundles) {
        const commandId = bundle.execution?.command_id;
        if (commandId === null || commandId === undefined) continue;
        const command = store.getCommand(commandId);
        if (command === undefined || command.agent_id !== bundle.agent_id) continue;
        if (command.status === "succeeded" || command.status === "failed") continue;
        finish(command, bundle);
      }
    },

    onAgentConnected(agentId) {
      for (const command of store.pendingCommands(agentId, clock.now().toISOString())) {
        if (deps.send(agentId, JSON.parse(command.frame)) && command.status === "queued") {
          store.markSent(command.command_id);
        }
      }
    },
  };
}
