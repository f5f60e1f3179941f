/**
 * The planner itself: incident in, decision out, every decision logged.
 *
 * With a model configured and its circuit closed, the model names a runbook
 * from the incident's candidates; its answer is accepted only if it parses
 * against the per-request schema and its parameters pass the runbook's rules.
 * Anything else (no model, open circuit, timeout, HTTP error, a rejected
 * answer) falls back to the rule-based planner, and a rejected answer also
 * sends the fallback plan to a human, because a model saying something
 * outside its schema may be a model obeying text injected into the incident.
 * The model's text is never executed and never becomes a parameter unless it
 * passed the rules.
 */
import {
  type Clock,
  canonicalSha256,
  Incident,
  MspError,
  type ParamValues,
  parseWith,
  type RunbookDefinition,
} from "@msp/shared";
import type { Db } from "../db/index.js";
import { createLlmClient, type LlmClient, type LlmOptions } from "./llm.js";
import { createPlanningLog, type PlanningLog } from "./log.js";
import { missingRequired } from "./params.js";
import { PROMPT_VERSION } from "./prompt.js";
import { applicableRunbooks, deriveParams, planByRules, type SiteParams, withDefaults } from "./rules.js";

/**
 * The model's circuit breaker, owned by the caller (control-plane guardrails).
 * The planner asks before each call and reports how each call went.
 */
export interface LlmCircuit {
  allowRequest(): boolean;
  recordSuccess(): void;
  recordFailure(): void;
}

/** Default confidence under which a plan needs a human (the seeds' 0.8). */
export const DEFAULT_APPROVAL_THRESHOLD = 0.8;

/** What the planner decided about one incident. */
export interface PlanDecision {
  /** Row id in the planning log. */
  decision_id: number;
  incident_id: string;
  client_id: string;
  agent_id: string | null;
  /** `plan`: a runbook and parameters that can be executed (after approval if required); `human_review`: nothing to run. */
  outcome: "plan" | "human_review";
  runbook_id: string | null;
  params: ParamValues;
  planner: { kind: "llm" | "rules"; confidence: number; fallback_reason: string | null };
  model: string | null;
  prompt_version: string | null;
  requires_approval: boolean;
  /** Why approval is required, in words; empty when it is not. */
  approval_reasons: string[];
  /** Why a human must handle the incident, for outcome human_review. */
  review_reason: string | null;
  /** Why the model's answer was refused, if it was. */
  rejected_reason: string | null;
  inputs_sha256: string;
  latency_ms: number;
  decided_at: string;
}

/** Options of {@link createPlanner}. */
export interface PlannerOptions {
  /** Database with {@link PLANNER_MIGRATIONS} applied; the planning log is written here. */
  db: Db;
  /** The approved library; only these runbooks can ever be planned. */
  runbooks: readonly RunbookDefinition[];
  clock: Clock;
  /** The model, or null/absent for the rule-based planner only. */
  llm?: LlmOptions | null;
  /** The model's circuit; without one every call is allowed. */
  circuit?: LlmCircuit;
  /** Confidence under which approval is required; default 0.8. */
  approvalThreshold?: number;
  siteParams?: SiteParams;
}

/**
 * A decision made but not yet logged. `record()` appends the planning-log row
 * and returns the decision; call it once, inside the transaction that stores
 * what follows from the decision, so the incident, its decision, plan and
 * command commit together (one fsync instead of one per row).
 */
export interface PendingDecision {
  record(): PlanDecision;
}

/** The planner. */
export interface Planner {
  /** Plans an incident (validated here; `invalid_input` and nothing logged when it is not one). */
  plan(incident: unknown): Promise<PlanDecision>;
  /** Like {@link plan}, but the planning-log row is written by the returned `record()`. */
  decide(incident: unknown): Promise<PendingDecision>;
  /** The planning log, for queries. */
  readonly log: PlanningLog;
}

const ALWAYS_CLOSED: LlmCircuit = {
  allowRequest: () => true,
  recordSuccess: () => {},
  recordFailure: () => {},
};

/** Creates a planner; throws a RangeError on bad options (duplicate runbook ids, threshold outside 0..1). */
export function createPlanner(options: PlannerOptions): Planner {
  const ids = new Set<string>();
  for (const rb of options.runbooks) {
    if (ids.has(rb.id)) throw new RangeError(`createPlanner: runbook ${rb.id} is given twice`);
    ids.add(rb.id);
  }
  const threshold = options.approvalThreshold ?? DEFAULT_APPROVAL_THRESHOLD;
  if (typeof threshold !== "number" || !(threshold >= 0 && threshold <= 1))
    throw new RangeError("createPlanner: approvalThreshold must be within 0..1");
  const llm: LlmClient | null = options.llm ? createLlmClient(options.llm) : null;
  const circuit = options.circuit ?? ALWAYS_CLOSED;
  const log = createPlanningLog(options.db);
  const { clock, runbooks } = options;

  async function decide(input: unknown): Promise<PendingDecision> {
    const incident = parseWith(Incident, input, "incident");
    const started = clock.now().getTime();
    const inputs_sha256 = canonicalSha256(incident);
    const candidates = applicableRunbooks(runbooks, incident.incident_type);

    let kind: "llm" | "rules" = "rules";
    let fallback: string | null = null;
    let rejected: string | null = null;
    let raw: string | null = null;
    let asked = false;
    let chosen: {
      runbook: RunbookDefinition | null;
      params: ParamValues;
      confidence: number;
      missing: string[];
    };

    const rules = () => planByRules(incident, runbooks, options.siteParams);
    if (llm === null) {
      chosen = rules();
    } else if (candidates.length === 0) {
      chosen = rules();
      fallback = "no runbook is triggered by this event type";
    } else if (!circuit.allowRequest()) {
      chosen = rules();
      fallback = "llm circuit open";
    } else {
      asked = true;
      const outcome = await llm.complete(incident, candidates);
      raw = outcome.raw;
      if (outcome.ok) {
        circuit.recordSuccess();
        const runbook = candidates.find((rb) => rb.id === outcome.answer.runbook_id) ?? null;
        if (runbook === null) throw new MspError("internal", "accepted answer names a runbook not offered");
        kind = "llm";
        // The model rarely knows paths; the checked details and site values fill what it left out.
        const merged = {
          ...deriveParams(incident, runbook, options.siteParams).values,
          ...outcome.answer.params,
        };
        chosen = {
          runbook,
          params: withDefaults(runbook, merged),
          confidence: outcome.answer.confidence,
          missing: missingRequired(runbook, merged),
        };
      } else {
        // A model that answers outside its schema counts against the circuit like one that does not
        // answer: either way the next incidents are better served by the rules until it recovers.
        circuit.recordFailure();
        chosen = rules();
        if (outcome.kind === "rejected") {
          rejected = outcome.reason;
          fallback = "llm answer rejected";
        } else {
          fallback = `llm ${outcome.reason}`;
        }
      }
    }

    const reasons: string[] = [];
    let review: string | null = null;
    if (chosen.runbook === null) {
      review = `no approved runbook is triggered by ${incident.incident_type}`;
    } else if (chosen.missing.length > 0) {
      review = `${chosen.runbook.id} needs ${chosen.missing.join(", ")} and no valid value was found`;
    } else {
      if (incident.severity === "critical") reasons.push("severity is critical");
      if (chosen.confidence < threshold)
        reasons.push(`confidence ${chosen.confidence} is below the threshold ${threshold}`);
      if (rejected !== null) reasons.push("the model's answer was rejected; this is the rule-based fallback");
    }
    const decided_at = clock.now().toISOString();
    const entry = {
      client_id: incident.client_id,
      incident_id: incident.incident_id,
      inputs_sha256,
      planner_kind: kind,
      model: asked && llm !== null ? llm.model : null,
      prompt_version: asked ? PROMPT_VERSION : null,
      raw_output_excerpt: raw,
      outcome: review === null ? ("plan" as const) : ("human_review" as const),
      runbook_id: chosen.runbook?.id ?? null,
      params: review === null ? chosen.params : {},
      confidence: chosen.confidence,
      latency_ms: Math.max(0, clock.now().getTime() - started),
      fallback_reason: fallback,
      rejected_reason: rejected,
      requires_approval: review === null && reasons.length > 0,
      approval_reasons: reasons,
      review_reason: review,
      decided_at,
    };
    const toDecision = (decision_id: number): PlanDecision => ({
      decision_id,
      incident_id: entry.incident_id,
      client_id: entry.client_id,
      agent_id: incident.agent_id ?? null,
      outcome: entry.outcome,
      runbook_id: entry.runbook_id,
      params: entry.params,
      planner: { kind, confidence: chosen.confidence, fallback_reason: fallback },
      model: entry.model,
      prompt_version: entry.prompt_version,
      requires_approval: entry.requires_approval,
      approval_reasons: reasons,
      review_reason: review,
      rejected_reason: rejected,
      inputs_sha256,
      latency_ms: entry.latency_ms,
      decided_at,
    });
    let recorded: PlanDecision | null = null;
    const record = (): PlanDecision => {
      if (recorded !== null) throw new MspError("internal", "a planning decision was recorded twice");
      recorded = toDecision(log.append(entry));
      return recorded;
    };
    return { record };
  }

  return { plan: async (input) => (await decide(input)).record(), decide, log };
}
