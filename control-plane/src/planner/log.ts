/**
 * The planning log: one row per planning decision, whatever planned it and
 * however it ended, so an auditor can see why each runbook was (or was not)
 * chosen (164.312(b) audit controls). Rows are only ever inserted.
 */
import { MspError, type ParamValues } from "@msp/shared";
import type { Db } from "../db/index.js";

/** One decision as stored. */
export interface PlanningLogEntry {
  id: number;
  client_id: string;
  incident_id: string;
  /** sha256 of the RFC 8785 canonical incident the decision was made from. */
  inputs_sha256: string;
  planner_kind: "llm" | "rules";
  /** Model asked, or null when none was (no model configured, circuit open). */
  model: string | null;
  prompt_version: string | null;
  /** Bounded excerpt of the model's raw output or error, or null. */
  raw_output_excerpt: string | null;
  outcome: "plan" | "human_review";
  runbook_id: string | null;
  params: ParamValues;
  confidence: number;
  latency_ms: number;
  fallback_reason: string | null;
  rejected_reason: string | null;
  requires_approval: boolean;
  approval_reasons: string[];
  review_reason: string | null;
  decided_at: string;
}

/** A query over the log. All filters are optional; results are newest first. */
export interface PlanningLogQuery {
  clientId?: string;
  incidentId?: string;
  /** Inclusive lower bound on decided_at. */
  from?: Date;
  /** Exclusive upper bound on decided_at. */
  to?: Date;
  /** 1..1000, default 100. */
  limit?: number;
}

/** Largest page a query may ask for. */
export const MAX_LOG_QUERY_LIMIT = 1000;

/** Schema of the planning log. */
export const PLANNING_LOG_MIGRATION = {
  id: "planner-001",
  sql: `CREATE TABLE planning_log (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    inputs_sha256 TEXT NOT NULL,
    planner_kind TEXT NOT NULL CHECK (planner_kind IN ('llm', 'rules')),
    model TEXT,
    prompt_version TEXT,
    raw_output_excerpt TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('plan', 'human_review')),
    runbook_id TEXT,
    params_json TEXT NOT NULL,
    confidence REAL NOT NULL,
    latency_ms INTEGER NOT NULL,
    fallback_reason TEXT,
    rejected_reason TEXT,
    requires_approval INTEGER NOT NULL CHECK (requires_approval IN (0, 1)),
    approval_reasons_json TEXT NOT NULL,
    review_reason TEXT,
    decided_at TEXT NOT NULL
  ) STRICT;
  CREATE INDEX planning_log_client_time ON planning_log (client_id, decided_at);
  CREATE INDEX planning_log_incident ON planning_log (incident_id);
  CREATE INDEX planning_log_time ON planning_log (decided_at);`,
} as const;

/** A stored row: the entry with its JSON columns as text and SQLite's 0/1 for the boolean. */
type Row = Omit<PlanningLogEntry, "params" | "approval_reasons" | "requires_approval"> & {
  params_json: string;
  approval_reasons_json: string;
  requires_approval: number;
};

const fromRow = (r: Row): PlanningLogEntry => {
  const { params_json, approval_reasons_json, requires_approval, ...rest } = r;
  return {
    ...rest,
    params: JSON.parse(params_json) as ParamValues,
    approval_reasons: JSON.parse(approval_reasons_json) as string[],
    requires_approval: requires_approval === 1,
  };
};

/** Append and query; the caller applies the migration. */
export interface PlanningLog {
  /** Stores a decision; returns its row id. */
  append(entry: Omit<PlanningLogEntry, "id">): number;
  query(q?: PlanningLogQuery): PlanningLogEntry[];
}

/** Creates the log over `db` (with {@link PLANNING_LOG_MIGRATION} applied). */
export function createPlanningLog(db: Db): PlanningLog {
  const insert = db.prepare(`INSERT INTO planning_log (client_id, incident_id, inputs_sha256, planner_kind,
    model, prompt_version, raw_output_excerpt, outcome, runbook_id, params_json, confidence, latency_ms,
    fallback_reason, rejected_reason, requires_approval, approval_reasons_json, review_reason, decided_at)
    VALUES (@client_id, @incident_id, @inputs_sha256, @planner_kind, @model, @prompt_version,
    @raw_output_excerpt, @outcome, @runbook_id, @params_json, @confidence, @latency_ms, @fallback_reason,
    @rejected_reason, @requires_approval, @approval_reasons_json, @review_reason, @decided_at)`);
  return {
    append(entry) {
      const { params, approval_reasons, requires_approval, ...rest } = entry;
      const info = insert.run({
        ...rest,
        params_json: JSON.stringify(params),
        approval_reasons_json: JSON.stringify(approval_reasons),
        requires_approval: requires_approval ? 1 : 0,
      });
      return Number(info.lastInsertRowid);
    },
    query(q = {}) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.clientId !== undefined) {
        where.push("client_id = ?");
        args.push(q.clientId);
      }
      if (q.incidentId !== undefined) {
        where.push("incident_id = ?");
        args.push(q.incidentId);
      }
      if (q.from !== undefined) {
        where.push("decided_at >= ?");
        args.push(isoOf(q.from, "from"));
      }
      if (q.to !== undefined) {
        where.push("decided_at < ?");
        args.push(isoOf(q.to, "to"));
      }
      const limit = q.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOG_QUERY_LIMIT)
        throw new MspError("invalid_input", `limit must be an integer 1..${MAX_LOG_QUERY_LIMIT}`);
      const sql = `SELECT * FROM planning_log ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
        ORDER BY decided_at DESC, id DESC LIMIT ?`;
      return (db.prepare(sql).all(...args, limit) as Row[]).map(fromRow);
    },
  };
}

/** ISO text of a valid date; timestamps are stored in this fixed form so text order is time order. */
function isoOf(d: Date, what: string): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime()))
    throw new MspError("invalid_input", `${what} is not a valid date`);
  return d.toISOString();
}
