/**
 * The control plane's SQLite database: one file in WAL mode with
 * `synchronous = FULL`, so a committed transaction survives a crash.
 *
 * Schema is owned by the modules that use it: each exports its own
 * `Migration[]` (ids prefixed by the module, e.g. `agents-001`), and the
 * composition root applies them all with {@link migrate}. A migration runs
 * once, in its own transaction, and is recorded in `schema_migrations`;
 * changing an applied migration's SQL is refused, because two deployments
 * would then have different schemas under the same id.
 */
import { createHash } from "node:crypto";
import { MspError } from "@msp/shared";
import Database from "better-sqlite3";

/** The database handle every store takes. */
export type Db = Database.Database;

/** One schema change, owned by the module whose tables it creates. */
export interface Migration {
  /** Unique, stable id such as `evidence-001`. */
  id: string;
  /** SQL run with `exec`; may hold several statements. */
  sql: string;
}

/**
 * Opens (creating if needed) a database file, or `:memory:` for unit tests.
 * Foreign keys are enforced.
 */
export function openDatabase(path: string): Db {
  const db = new Database(path);
  if (path !== ":memory:") {
    db.pragma("journal_mode = WAL");
  }
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  return db;
}

/**
 * Runs `fn` in a write transaction whose commit does not wait for its own
 * fsync: `synchronous` is NORMAL for that one commit, so its WAL frames reach
 * the disk with the next FULL commit or checkpoint. A crash can lose only this
 * commit (and nothing committed after it without a sync), never half of it.
 * Only for marks whose loss is harmless, such as "command sent", where a lost
 * mark means a resend that the agent recognises by command id. Inside an open
 * transaction it just runs `fn`: the outer commit decides.
 */
export function commitWithoutSync<T>(db: Db, fn: () => T): T {
  if (db.inTransaction) return fn();
  db.pragma("synchronous = NORMAL");
  try {
    return db.transaction(fn).immediate();
  } finally {
    db.pragma("synchronous = FULL");
  }
}

const sqlHash = (sql: string) => createHash("sha256").update(sql).digest("hex");

/**
 * Applies every migration not yet applied, in the order given. Throws
 * `config_invalid` when an applied migration's SQL changed since it ran, or
 * when two migrations share an id.
 */
export function migrate(db: Db, migrations: readonly Migration[]): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
  const seen = new Set<string>();
  for (const m of migrations) {
    if (seen.has(m.id)) throw new MspError("config_invalid", `migration id ${m.id} is used twice`);
    seen.add(m.id);
  }
  const applied = new Map(
    (db.prepare("SELECT id, sha256 FROM schema_migrations").all() as { id: string; sha256: string }[]).map(
      (r) => [r.id, r.sha256],
    ),
  );
  const insert = db.prepare("INSERT INTO schema_migrations (id, sha256, applied_at) VALUES (?, ?, ?)");
  const ran: string[] = [];
  for (const m of migrations) {
    const digest = sqlHash(m.sql);
    const prior = applied.get(m.id);
    if (prior !== undefined) {
      if (prior !== digest) {
        throw new MspError(
          "config_invalid",
          `migration ${m.id} was changed after it was applied; add a new migration instead`,
        );
      }
      continue;
    }
    db.transaction(() => {
      db.exec(m.sql);
      insert.run(m.id, digest, new Date().toISOString());
    })();
    ran.push(m.id);
  }
  return ran;
}
