/**
 * Plans and the approval queue. A plan is a decision turned into something
 * that can be executed: it starts `approved` when no approval is needed, or
 * `pending_approval` when the incident is critical or the planner was not sure
 * enough; an operator then approves or rejects it, once. Deciding twice is a
 * conflict, so two operators racing on one plan cannot both win.
 */
import { randomBytes } from "node:crypto";
import { type Clock, MspError, type ParamValues } from "@msp/shared";
import type { Db } from "../db/index.js";
import type { PlanDecision } from "./decision.js";

/** Where a plan stands. */
export type PlanStatus = "pending_approval" | "approved" | "rejected";

/** A stored plan. */
export interface Plan {
  plan_id: string;
  client_id: string;
  incident_id: string;
  /** The agent that raised the incident, when one did; a command may only go to it. */
  agent_id: string | null;
  runbook_id: string;
  params: ParamValues;
  planner: { kind: "llm" | "rules"; confidence: number; fallback_reason: string | null };
  approval_required: boolean;
  approval_reasons: string[];
  /** The planning-log row of the decision. */
  decision_id: number;
  status: PlanStatus;
  created_at: string;
  approver: string | null;
  decided_at: string | null;
  reject_reason: string | null;
}

/** Schema of the plans table. */
export const PLANS_MIGRATION = {
  id: "planner-002",
  sql: `CREATE TABLE plans (
    plan_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    agent_id TEXT,
    runbook_id TEXT NOT NULL,
    params_json TEXT NOT NULL,
    planner_kind TEXT NOT NULL CHECK (planner_kind IN ('llm', 'rules')),
    confidence REAL NOT NULL,
    fallback_reason TEXT,
    approval_required INTEGER NOT NULL CHECK (approval_required IN (0, 1)),
    approval_reasons_json TEXT NOT NULL,
    decision_id INTEGER NOT NULL REFERENCES planning_log (id),
    status TEXT NOT NULL CHECK (status IN ('pending_approval', 'approved', 'rejected')),
    created_at TEXT NOT NULL,
    approver TEXT,
    decided_at TEXT,
    reject_reason TEXT
  ) STRICT;
  CREATE INDEX plans_client_status ON plans (client_id, status, created_at);`,
} as const;

interface Row {
  plan_id: string;
  client_id: string;
  incident_id: string;
  agent_id: string | null;
  runbook_id: string;
  params_json: string;
  planner_kind: "llm" | "rules";
  confidence: number;
  fallback_reason: string | null;
  approval_required: number;
  approval_reasons_json: string;
  decision_id: number;
  status: PlanStatus;
  created_at: string;
  approver: string | null;
  decided_at: string | null;
  reject_reason: string | null;
}

const fromRow = (r: Row): Plan => ({
  plan_id: r.plan_id,
  client_id: r.client_id,
  incident_id: r.incident_id,
  agent_id: r.agent_id,
  runbook_id: r.runbook_id,
  params: JSON.parse(r.params_json) as ParamValues,
  planner: { kind: r.planner_kind, confidence: r.confidence, fallback_reason: r.fallback_reason },
  approval_required: r.approval_required === 1,
  approval_reasons: JSON.parse(r.approval_reasons_json) as string[],
  decision_id: r.decision_id,
  status: r.status,
  created_at: r.created_at,
  approver: r.approver,
  decided_at: r.decided_at,
  reject_reason: r.reject_reason,
});

/** The plan store and approval queue. */
export interface PlanStore {
  /** Stores a plan for a decision whose outcome is `plan`; `invalid_input` for a human-review decision. */
  create(decision: PlanDecision): Plan;
  /** Approves a pending plan; `not_found`, or `conflict` when it was already decided. */
  approve(planId: string, approver: string, clock: Clock): Plan;
  /** Rejects a pending plan with a reason; same errors as approve. */
  reject(planId: string, approver: string, reason: string, clock: Clock): Plan;
  /** The plan, or `not_found`. */
  get(planId: string): Plan;
  /** A clinic's plans waiting for approval, oldest first. */
  listPending(clientId: string, limit?: number): Plan[];
}

const PLAN_ID = /^PLAN-[0-9a-f]{24}$/;
const APPROVER = /^[\p{L}\p{N}@._+:-][\p{L}\p{N}@._+: -]{0,127}$/u;

function checkApprover(approver: unknown): string {
  if (typeof approver !== "string" || !APPROVER.test(approver))
    throw new MspError("invalid_input", "approver must be 1-128 letters, digits, spaces or @._+:-");
  return approver;
}

/** Creates the store over `db` (with the planner migrations applied). */
export function createPlanStore(db: Db): PlanStore {
  const insert = db.prepare(`INSERT INTO plans (plan_id, client_id, incident_id, agent_id, runbook_id,
    params_json, planner_kind, confidence, fallback_reason, approval_required, approval_reasons_json,
    decision_id, status, created_at) VALUES (@plan_id, @client_id, @incident_id, @agent_id, @runbook_id,
    @params_json, @planner_kind, @confidence, @fallback_reason, @approval_required, @approval_reasons_json,
    @decision_id, @status, @created_at)`);
  const select = db.prepare("SELECT * FROM plans WHERE plan_id = ?");
  const decide =
    db.prepare(`UPDATE plans SET status = @status, approver = @approver, decided_at = @decided_at,
    reject_reason = @reject_reason WHERE plan_id = @plan_id AND status = 'pending_approval'`);
  const pending = db.prepare(
    "SELECT * FROM plans WHERE client_id = ? AND status = 'pending_approval' ORDER BY created_at, plan_id LIMIT ?",
  );

  function get(planId: string): Plan {
    if (typeof planId !== "string" || !PLAN_ID.test(planId))
      throw new MspError("invalid_input", "plan id must look like PLAN- followed by 24 hex digits");
    const row = select.get(planId) as Row | undefined;
    if (row === undefined) throw new MspError("not_found", `no plan ${planId}`);
    return fromRow(row);
  }

  const settle = db.transaction(
    (
      planId: string,
      status: "approved" | "rejected",
      approver: string,
      reason: string | null,
      at: string,
    ) => {
      const before = get(planId);
      const info = decide.run({ plan_id: planId, status, approver, decided_at: at, reject_reason: reason });
      if (info.changes !== 1)
        throw new MspError("conflict", `plan ${planId} was already decided (${before.status})`, {
          details: { status: before.status },
        });
      return get(planId);
    },
  );

  return {
    create(decision) {
      if (decision.outcome !== "plan" || decision.runbook_id === null)
        throw new MspError("invalid_input", "only a decision with outcome plan can become a plan");
      const plan_id = `PLAN-${randomBytes(12).toString("hex")}`;
      insert.run({
        plan_id,
        client_id: decision.client_id,
        incident_id: decision.incident_id,
        agent_id: decision.agent_id,
        runbook_id: decision.runbook_id,
        params_json: JSON.stringify(decision.params),
        planner_kind: decision.planner.kind,
        confidence: decision.planner.confidence,
        fallback_reason: decision.planner.fallback_reason,
        approval_required: decision.requires_approval ? 1 : 0,
        approval_reasons_json: JSON.stringify(decision.approval_reasons),
        decision_id: decision.decision_id,
        status: decision.requires_approval ? "pending_approval" : "approved",
        created_at: decision.decided_at,
      });
      return get(plan_id);
    },
    approve(planId, approver, clock) {
      return settle(planId, "approved", checkApprover(approver), null, clock.now().toISOString());
    },
    reject(planId, approver, reason, clock) {
      const who = checkApprover(approver);
      if (typeof reason !== "string" || reason.trim().length === 0 || reason.length > 2048)
        throw new MspError("invalid_input", "a rejection needs a reason of 1-2048 characters");
      return settle(planId, "rejected", who, reason, clock.now().toISOString());
    },
    get,
    listPending(clientId, limit = 100) {
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new MspError("invalid_input", "limit must be an integer 1..1000");
      return (pending.all(clientId, limit) as Row[]).map(fromRow);
    },
  };
}
