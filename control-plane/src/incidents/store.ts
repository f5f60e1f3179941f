/**
 * Incidents and the commands sent for them. An incident row is written once
 * when it arrives and then moves through its statuses; a command row keeps
 * the exact signed frame, so a resend after reconnect is byte-identical and
 * the agent's command-id dedup recognises it.
 */
import type { Clock, Incident, ParamValues } from "@msp/shared";
import type Database from "better-sqlite3";
import { commitWithoutSync, type Db, type Migration } from "../db/index.js";

export const INCIDENT_MIGRATIONS: Migration[] = [
  {
    id: "incidents-001",
    sql: `CREATE TABLE incidents (
      client_id TEXT NOT NULL,
      incident_id TEXT NOT NULL,
      agent_id TEXT,
      hostname TEXT NOT NULL,
      incident_type TEXT NOT NULL,
      severity TEXT NOT NULL,
      source TEXT NOT NULL,
      detected_at TEXT NOT NULL,
      received_at TEXT NOT NULL,
      body TEXT NOT NULL,
      status TEXT NOT NULL,
      status_reason TEXT,
      retry_at TEXT,
      decision_id INTEGER,
      plan_id TEXT,
      runbook_id TEXT,
      command_id TEXT,
      bundle_id TEXT,
      resolved_at TEXT,
      mttr_seconds REAL,
      sla_met INTEGER,
      updated_at TEXT NOT NULL,
      PRIMARY KEY (client_id, incident_id)
    ) STRICT;
    CREATE INDEX incidents_client_received ON incidents (client_id, received_at);
    CREATE INDEX incidents_plan ON incidents (plan_id);
    CREATE TABLE commands (
      command_id TEXT PRIMARY KEY,
      client_id TEXT NOT NULL,
      agent_id TEXT NOT NULL,
      incident_id TEXT,
      plan_id TEXT,
      runbook_id TEXT NOT NULL,
      params TEXT NOT NULL,
      dry_run INTEGER NOT NULL,
      requested_by TEXT NOT NULL,
      frame TEXT NOT NULL,
      issued_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'accepted', 'refused', 'succeeded', 'failed', 'expired')),
      status_reason TEXT,
      bundle_id TEXT,
      updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX commands_agent_status ON commands (agent_id, status);
    CREATE INDEX commands_client ON commands (client_id, issued_at);`,
  },
];

/** Where an incident stands. */
export type IncidentStatus =
  | "received"
  | "needs_review"
  | "awaiting_approval"
  | "rate_limited"
  | "circuit_open"
  | "dispatched"
  | "resolved"
  | "failed"
  | "rejected";

export interface IncidentRecord {
  client_id: string;
  incident_id: string;
  agent_id: string | null;
  hostname: string;
  incident_type: string;
  severity: string;
  source: string;
  detected_at: string;
  received_at: string;
  incident: Incident;
  status: IncidentStatus;
  status_reason: string | null;
  retry_at: string | null;
  decision_id: number | null;
  plan_id: string | null;
  runbook_id: string | null;
  command_id: string | null;
  bundle_id: string | null;
  resolved_at: string | null;
  mttr_seconds: number | null;
  sla_met: boolean | null;
  updated_at: string;
}

export type CommandStatus = "queued" | "sent" | "accepted" | "refused" | "succeeded" | "failed" | "expired";

export interface CommandRecord {
  command_id: string;
  client_id: string;
  agent_id: string;
  incident_id: string | null;
  plan_id: string | null;
  runbook_id: string;
  params: ParamValues;
  dry_run: boolean;
  requested_by: string;
  /** The signed execute_runbook frame exactly as sent. */
  frame: string;
  issued_at: string;
  expires_at: string;
  status: CommandStatus;
  status_reason: string | null;
  bundle_id: string | null;
  updated_at: string;
}

type IncidentRow = Omit<IncidentRecord, "incident" | "sla_met"> & { body: string; sla_met: number | null };
type CommandRow = Omit<CommandRecord, "params" | "dry_run"> & { params: string; dry_run: number };

const incidentOf = ({ body, sla_met, ...r }: IncidentRow): IncidentRecord => ({
  ...r,
  incident: JSON.parse(body) as Incident,
  sla_met: sla_met === null ? null : sla_met === 1,
});
const commandOf = ({ params, dry_run, ...r }: CommandRow): CommandRecord => ({
  ...r,
  params: JSON.parse(params) as ParamValues,
  dry_run: dry_run === 1,
});

/** Fields an update may change. */
export type IncidentUpdate = Partial<
  Pick<
    IncidentRecord,
    | "status"
    | "status_reason"
    | "retry_at"
    | "decision_id"
    | "plan_id"
    | "runbook_id"
    | "command_id"
    | "bundle_id"
    | "resolved_at"
    | "mttr_seconds"
    | "sla_met"
  >
>;

export interface IncidentStore {
  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE; a savepoint inside
   * another): everything it writes commits together, with one fsync.
   */
  transaction<T>(fn: () => T): T;
  insert(incident: Incident): IncidentRecord;
  get(clientId: string, incidentId: string): IncidentRecord | undefined;
  byPlan(planId: string): IncidentRecord | undefined;
  update(clientId: string, incidentId: string, change: IncidentUpdate): IncidentRecord;
  list(
    clientId: string,
    query: { status?: IncidentStatus; limit: number; before?: string },
  ): IncidentRecord[];
  insertCommand(command: Omit<CommandRecord, "status_reason" | "bundle_id" | "updated_at">): CommandRecord;
  getCommand(commandId: string): CommandRecord | undefined;
  updateCommand(
    commandId: string,
    change: Partial<Pick<CommandRecord, "status" | "status_reason" | "bundle_id">>,
  ): CommandRecord;
  /**
   * Marks a queued command sent, committed without its own fsync: if a crash
   * loses the mark, the command is still queued and is resent on reconnect,
   * and the agent recognises the command id.
   */
  markSent(commandId: string): CommandRecord;
  /** Commands an agent has not yet answered and that are still valid at `now`. */
  pendingCommands(agentId: string, now: string): CommandRecord[];
  listCommands(clientId: string, limit: number): CommandRecord[];
}

export function createIncidentStore(db: Db, clock: Clock): IncidentStore {
  const now = () => clock.now().toISOString();
  const getOne = db.prepare<[string, string], IncidentRow>(
    "SELECT * FROM incidents WHERE client_id = ? AND incident_id = ?",
  );
  const getCmd = db.prepare<[string], CommandRow>("SELECT * FROM commands WHERE command_id = ?");
  // UPDATE statements are built from the fields a change names (a closed set), so this cache stays small.
  const prepared = new Map<string, Database.Statement<unknown[]>>();
  const cached = (sql: string) => {
    let st = prepared.get(sql);
    if (st === undefined) {
      st = db.prepare<unknown[]>(sql);
      prepared.set(sql, st);
    }
    return st;
  };
  const insertIncident = db.prepare(
    `INSERT INTO incidents (client_id, incident_id, agent_id, hostname, incident_type, severity, source, detected_at,
       received_at, body, status, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?)`,
  );
  const insertCmd = db.prepare(
    `INSERT INTO commands (command_id, client_id, agent_id, incident_id, plan_id, runbook_id, params, dry_run,
       requested_by, frame, issued_at, expires_at, status, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const setSent = db.prepare<[string, string]>(
    "UPDATE commands SET status = 'sent', updated_at = ? WHERE command_id = ? AND status = 'queued'",
  );
  return {
    transaction: (fn) => db.transaction(fn).immediate(),
    insert(incident) {
      const at = now();
      insertIncident.run(
        incident.client_id,
        incident.incident_id,
        incident.agent_id ?? null,
        incident.hostname,
        incident.incident_type,
        incident.severity,
        incident.source,
        incident.detected_at,
        at,
        JSON.stringify(incident),
        at,
      );
      return incidentOf(getOne.get(incident.client_id, incident.incident_id) as IncidentRow);
    },
    get(clientId, incidentId) {
      const row = getOne.get(clientId, incidentId);
      return row === undefined ? undefined : incidentOf(row);
    },
    byPlan(planId) {
      const row = db.prepare<[string], IncidentRow>("SELECT * FROM incidents WHERE plan_id = ?").get(planId);
      return row === undefined ? undefined : incidentOf(row);
    },
    update(clientId, incidentId, change) {
      const fields = Object.entries(change).filter(([, v]) => v !== undefined);
      const values = fields.map(([k, v]) => (k === "sla_met" && typeof v === "boolean" ? (v ? 1 : 0) : v));
      const set = [...fields.map(([k]) => `${k} = ?`), "updated_at = ?"].join(", ");
      cached(`UPDATE incidents SET ${set} WHERE client_id = ? AND incident_id = ?`).run(
        ...(values as (string | number | null)[]),
        now(),
        clientId,
        incidentId,
      );
      return incidentOf(getOne.get(clientId, incidentId) as IncidentRow);
    },
    list(clientId, { status, limit, before }) {
      const where = ["client_id = ?"];
      const args: (string | number)[] = [clientId];
      if (status !== undefined) {
        where.push("status = ?");
        args.push(status);
      }
      if (before !== undefined) {
        where.push("received_at < ?");
        args.push(before);
      }
      return (
        db
          .prepare(
            `SELECT * FROM incidents WHERE ${where.join(" AND ")} ORDER BY received_at DESC, incident_id DESC LIMIT ?`,
          )
          .all(...args, limit) as IncidentRow[]
      ).map(incidentOf);
    },
    insertCommand(c) {
      insertCmd.run(
        c.command_id,
        c.client_id,
        c.agent_id,
        c.incident_id,
        c.plan_id,
        c.runbook_id,
        JSON.stringify(c.params),
        c.dry_run ? 1 : 0,
        c.requested_by,
        c.frame,
        c.issued_at,
        c.expires_at,
        c.status,
        now(),
      );
      return commandOf(getCmd.get(c.command_id) as CommandRow);
    },
    getCommand(commandId) {
      const row = getCmd.get(commandId);
      return row === undefined ? undefined : commandOf(row);
    },
    updateCommand(commandId, change) {
      const fields = Object.entries(change).filter(([, v]) => v !== undefined);
      const set = [...fields.map(([k]) => `${k} = ?`), "updated_at = ?"].join(", ");
      cached(`UPDATE commands SET ${set} WHERE command_id = ?`).run(
        ...(fields.map(([, v]) => v) as (string | null)[]),
        now(),
        commandId,
      );
      return commandOf(getCmd.get(commandId) as CommandRow);
    },
    markSent(commandId) {
      commitWithoutSync(db, () => setSent.run(now(), commandId));
      return commandOf(getCmd.get(commandId) as CommandRow);
    },
    pendingCommands(agentId, at) {
      return db
        .prepare<[string, string], CommandRow>(
          "SELECT * FROM commands WHERE agent_id = ? AND status IN ('queued', 'sent') AND expires_at > ? ORDER BY issued_at",
        )
        .all(agentId, at)
        .map(commandOf);
    },
    listCommands(clientId, limit) {
      return db
        .prepare<[string, number], CommandRow>(
          "SELECT * FROM commands WHERE client_id = ? ORDER BY issued_at DESC LIMIT ?",
        )
        .all(clientId, limit)
        .map(commandOf);
    },
  };
}
