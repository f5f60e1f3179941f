/**
 * The outbox's SQLite file: how it is opened, its schema and every statement
 * the outbox runs, prepared once. Nothing here decides policy; `index.ts`
 * composes these statements into transactions.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { GENESIS_HASH, MspError } from "@msp/shared";
import type Database from "better-sqlite3";
import { openDatabase } from "../sqlite/index.js";

/** Schema version kept in `PRAGMA user_version`; bump with a migration when the tables change. */
export const OUTBOX_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bundles (
  seq           INTEGER PRIMARY KEY,
  bundle_id     TEXT    NOT NULL,
  kind          TEXT    NOT NULL,
  hash          TEXT    NOT NULL,
  created_at_ms INTEGER NOT NULL,
  bytes         INTEGER NOT NULL,
  body          TEXT    NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS meta (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  agent_id       TEXT    NOT NULL,
  client_id      TEXT    NOT NULL,
  key_id         TEXT    NOT NULL,
  last_seq       INTEGER NOT NULL,
  last_hash      TEXT    NOT NULL,
  acked_seq      INTEGER NOT NULL,
  acked_hash     TEXT    NOT NULL,
  id_day         TEXT    NOT NULL,
  id_counter     INTEGER NOT NULL,
  stored_bytes   INTEGER NOT NULL,
  full_since     TEXT,
  full_alert_seq INTEGER
) STRICT;
`;

/** The single `meta` row: the chain head and counters that must outlive deleted rows. */
export interface MetaRow {
  agent_id: string;
  client_id: string;
  key_id: string;
  last_seq: number;
  last_hash: string;
  acked_seq: number;
  acked_hash: string;
  /** UTC day (YYYY-MM-DD) the bundle-id counter belongs to; empty before the first bundle. */
  id_day: string;
  id_counter: number;
  stored_bytes: number;
  /** When the current full episode began (ISO), or null when the outbox is not in one. */
  full_since: string | null;
  /** Seq of the local_alert bundle emitted in the current episode, if one was. */
  full_alert_seq: number | null;
}

/** A stored bundle row without its body. */
export interface RowSummary {
  seq: number;
  hash: string;
  bytes: number;
}

/**
 * Opens (creating if needed) the outbox database with the durability the
 * outbox promises: WAL so readers never block the writer, and
 * `synchronous = FULL` so every commit is fsync'd before it returns. WAL with
 * NORMAL would survive a process kill but could lose the last commits on power
 * loss, which breaks "durable before the agent treats it as produced".
 */
export function openOutboxDb(path: string): Database.Database {
  if (path !== ":memory:") {
    // Evidence can name hosts, users and findings: keep it private to the agent's user.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }
  // openDatabase also finds the SQLite addon inside the single executable.
  const db = openDatabase(path);
  try {
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (path !== ":memory:" && mode !== "wal") {
      throw new MspError("internal", `outbox ${path}: SQLite refused WAL mode (got ${String(mode)})`);
    }
    db.pragma("synchronous = FULL");
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > OUTBOX_SCHEMA_VERSION) {
      throw new MspError(
        "config_invalid",
        `outbox ${path} has schema version ${version}, newer than this agent understands (${OUTBOX_SCHEMA_VERSION})`,
      );
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${OUTBOX_SCHEMA_VERSION}`);
    if (path !== ":memory:") chmodSync(path, 0o600);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

/** One row of `pendingAfter` / `rowsAfter`. */
export interface StoredRow extends RowSummary {
  body: string;
}

/** The columns of a new bundle row. */
export interface BundleRow extends StoredRow {
  bundle_id: string;
  kind: string;
  created_at_ms: number;
}

type Stmt<P extends unknown[] | object, R = unknown> = Database.Statement<P, R>;

/** Every statement the outbox runs, compiled once per open database. */
export interface Statements {
  initMeta: Stmt<[string, string, string, string, string]>;
  readMeta: Stmt<[], MetaRow>;
  setKeyId: Stmt<[string]>;
  advanceHead: Stmt<{ seq: number; hash: string; day: string; counter: number; bytes: number }>;
  insertBundle: Stmt<BundleRow>;
  setFullEpisode: Stmt<[string | null, number | null]>;
  rowAt: Stmt<[number], RowSummary>;
  sumUpTo: Stmt<[number], { rows: number; bytes: number }>;
  deleteUpTo: Stmt<[number]>;
  recordAck: Stmt<{ seq: number; hash: string; freed: number }>;
  pendingAfter: Stmt<[number, number], { body: string }>;
  rowsAfter: Stmt<[number, number], StoredRow>;
  counts: Stmt<[], { rows: number; bytes: number }>;
  oldest: Stmt<[], { created_at_ms: number }>;
}

/** Compiles every statement once, so no call on the hot path parses SQL. */
export function prepareStatements(db: Database.Database): Statements {
  return {
    initMeta: db.prepare(
      `INSERT OR IGNORE INTO meta (id, agent_id, client_id, key_id, last_seq, last_hash, acked_seq, acked_hash,
         id_day, id_counter, stored_bytes, full_since, full_alert_seq)
       VALUES (1, ?, ?, ?, 0, ?, 0, ?, '', 0, 0, NULL, NULL)`,
    ),
    readMeta: db.prepare("SELECT * FROM meta WHERE id = 1"),
    setKeyId: db.prepare("UPDATE meta SET key_id = ? WHERE id = 1"),
    advanceHead: db.prepare(
      `UPDATE meta SET last_seq = @seq, last_hash = @hash, id_day = @day, id_counter = @counter,
         stored_bytes = stored_bytes + @bytes WHERE id = 1`,
    ),
    insertBundle: db.prepare(
      `INSERT INTO bundles (seq, bundle_id, kind, hash, created_at_ms, bytes, body)
       VALUES (@seq, @bundle_id, @kind, @hash, @created_at_ms, @bytes, @body)`,
    ),
    setFullEpisode: db.prepare("UPDATE meta SET full_since = ?, full_alert_seq = ? WHERE id = 1"),
    rowAt: db.prepare("SELECT seq, hash, bytes FROM bundles WHERE seq = ?"),
    sumUpTo: db.prepare(
      "SELECT COUNT(*) AS rows, COALESCE(SUM(bytes), 0) AS bytes FROM bundles WHERE seq <= ?",
    ),
    deleteUpTo: db.prepare("DELETE FROM bundles WHERE seq <= ?"),
    recordAck: db.prepare(
      "UPDATE meta SET acked_seq = @seq, acked_hash = @hash, stored_bytes = stored_bytes - @freed WHERE id = 1",
    ),
    pendingAfter: db.prepare("SELECT body FROM bundles WHERE seq > ? ORDER BY seq LIMIT ?"),
    rowsAfter: db.prepare("SELECT seq, hash, bytes, body FROM bundles WHERE seq > ? ORDER BY seq LIMIT ?"),
    counts: db.prepare("SELECT COUNT(*) AS rows, COALESCE(SUM(bytes), 0) AS bytes FROM bundles"),
    oldest: db.prepare("SELECT created_at_ms FROM bundles ORDER BY seq LIMIT 1"),
  };
}

/** Creates the meta row of a new outbox; a no-op on an existing one. */
export function initMeta(
  st: Statements,
  ids: { agent_id: string; client_id: string; key_id: string },
): MetaRow {
  st.initMeta.run(ids.agent_id, ids.client_id, ids.key_id, GENESIS_HASH, GENESIS_HASH);
  return readMeta(st);
}

/** Reads the meta row, which {@link initMeta} guarantees exists. */
export function readMeta(st: Statements): MetaRow {
  const meta = st.readMeta.get();
  if (meta === undefined) throw new MspError("internal", "outbox meta row is missing");
  return meta;
}

/**
 * Turns a SQLite failure into the project's error. Disk full, busy and I/O
 * errors are retryable (space can be freed, the lock released); anything else
 * (corruption, a constraint) is not, because retrying cannot fix it.
 */
export function storageError(e: unknown, what: string): MspError {
  if (e instanceof MspError) return e;
  const code = (e as { code?: unknown }).code;
  const sqlite = typeof code === "string" ? code : "";
  const retryable = /^SQLITE_(FULL|BUSY|LOCKED|IOERR|CANTOPEN)/.test(sqlite);
  return new MspError(
    retryable ? "unavailable" : "internal",
    `outbox ${what} failed${sqlite ? ` (${sqlite})` : ""}`,
    {
      cause: e,
      retryable,
    },
  );
}
