/**
 * The audit log: every mutating API call (who, what, when, outcome), including
 * refused ones, so an auditor can see attempts as well as changes. Rows are
 * append-only; nothing in the control plane updates or deletes them.
 */
import type { Clock } from "@msp/shared";
import type { Db, Migration } from "../db/index.js";

export const AUDIT_MIGRATIONS: Migration[] = [
  {
    id: "audit-001",
    sql: `CREATE TABLE audit_log (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL,
      actor_key_id TEXT,
      actor_role TEXT,
      client_id TEXT,
      action TEXT NOT NULL,
      target TEXT,
      outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
      status INTEGER NOT NULL,
      error_code TEXT,
      remote TEXT
    ) STRICT;
    CREATE INDEX audit_log_client_at ON audit_log (client_id, at);
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`,
  },
];

/** One audit record as written. */
export interface AuditEntry {
  actor_key_id: string | null;
  actor_role: string | null;
  client_id: string | null;
  /** e.g. `POST /v1/clinics/:clinic_id/incidents` */
  action: string;
  /** The concrete path or resource acted on. */
  target: string | null;
  outcome: "ok" | "denied" | "failed";
  status: number;
  error_code: string | null;
  remote: string | null;
}

/** A stored record. */
export interface AuditRecord extends AuditEntry {
  id: number;
  at: string;
}

/** Append and query. */
export interface AuditLog {
  record(entry: AuditEntry): void;
  /** Newest first; `clientId` undefined lists every clinic (admin). */
  list(query: { clientId?: string; limit: number; beforeId?: number }): AuditRecord[];
}

export function createAuditLog(db: Db, clock: Clock): AuditLog {
  const insert = db.prepare(
    `INSERT INTO audit_log (at, actor_key_id, actor_role, client_id, action, target, outcome, status, error_code, remote)
     VALUES (@at, @actor_key_id, @actor_role, @client_id, @action, @target, @outcome, @status, @error_code, @remote)`,
  );
  return {
    record(entry) {
      insert.run({ ...entry, at: clock.now().toISOString() });
    },
    list({ clientId, limit, beforeId }) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (clientId !== undefined) {
        where.push("client_id = ?");
        args.push(clientId);
      }
      if (beforeId !== undefined) {
        where.push("id < ?");
        args.push(beforeId);
      }
      const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
      return db.prepare(sql).all(...args, limit) as AuditRecord[];
    },
  };
}
