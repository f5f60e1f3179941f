/**
 * Dashboard sessions. Signing in exchanges an API key for a session: a random
 * 32-byte id that lives only in the browser's cookie; the server keeps its
 * sha256, the key it was made from, and two expiries (idle and absolute).
 * Every request re-reads the key, so revoking the key ends its sessions at
 * once; the principal (role, clinic scope) always comes from the key as it is
 * now, never from a copy taken at sign-in.
 *
 * CSRF: each session's token is an HMAC of a fixed label under the session id,
 * so it needs no storage, differs per session and cannot be derived from the
 * database (which holds only the id's hash). Every POST form carries it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { type Clock, MspError } from "@msp/shared";
import type { ApiKeys, Principal } from "../auth/index.js";
import type { Db, Migration } from "../db/index.js";

export const DASHBOARD_MIGRATIONS: Migration[] = [
  {
    id: "dashboard-001",
    sql: `CREATE TABLE dashboard_sessions (
      session_sha256 BLOB PRIMARY KEY,
      key_id TEXT NOT NULL,
      created_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL,
      expires_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX dashboard_sessions_key ON dashboard_sessions (key_id);`,
  },
];

/** Session lifetimes in seconds. */
export interface SessionTimes {
  /** Ends a session not used for this long (default 30 min). */
  idleSeconds: number;
  /** Ends any session this long after sign-in (default 12 h). */
  absoluteSeconds: number;
}

export const DEFAULT_SESSION_TIMES: SessionTimes = { idleSeconds: 30 * 60, absoluteSeconds: 12 * 3600 };

/** A live session as a request sees it. */
export interface Session {
  principal: Principal;
  /** The token every POST form of this session must carry. */
  csrf: string;
}

/** The session store. */
export interface Sessions {
  /** Authenticates the key (throws `unauthenticated`) and opens a session; returns its secret id. */
  signIn(apiKey: string): { id: string; session: Session; maxAgeSeconds: number };
  /**
   * The session for a cookie value, or null when unknown, expired or its key
   * is revoked. A lookup counts as use (extends the idle time) unless
   * `touch` is false, as for the event stream's periodic re-checks.
   */
  lookup(id: string, options?: { touch?: boolean }): Session | null;
  /** Ends a session; unknown ids are ignored. */
  signOut(id: string): void;
  /** Deletes expired sessions; returns how many. */
  sweep(): number;
}

const ID_FORMAT = /^[A-Za-z0-9_-]{43}$/;
const hashId = (id: string) => createHash("sha256").update(id).digest();

/** The CSRF token of a session id. */
export function csrfTokenOf(id: string): string {
  return createHmac("sha256", id).update("msp-dashboard-csrf-v1").digest("base64url");
}

/** Constant-time comparison of two tokens of any length. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Builds the store on a database migrated with {@link DASHBOARD_MIGRATIONS}. */
export function createSessions(options: {
  db: Db;
  clock: Clock;
  apiKeys: Pick<ApiKeys, "authenticate" | "get">;
  times?: SessionTimes;
}): Sessions {
  const { db, clock, apiKeys } = options;
  const times = options.times ?? DEFAULT_SESSION_TIMES;
  if (!(times.idleSeconds > 0 && times.absoluteSeconds >= times.idleSeconds))
    throw new MspError("config_invalid", "session idle time must be positive and at most the absolute time");
  const insert = db.prepare(
    "INSERT INTO dashboard_sessions (session_sha256, key_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)",
  );
  const byHash = db.prepare<
    [Buffer],
    { key_id: string; created_at: string; last_seen_at: string; expires_at: string }
  >("SELECT key_id, created_at, last_seen_at, expires_at FROM dashboard_sessions WHERE session_sha256 = ?");
  const touch = db.prepare("UPDATE dashboard_sessions SET last_seen_at = ? WHERE session_sha256 = ?");
  const remove = db.prepare("DELETE FROM dashboard_sessions WHERE session_sha256 = ?");
  const iso = (ms: number) => new Date(ms).toISOString();
  const sweep = () => {
    const now = clock.now().getTime();
    return db
      .prepare("DELETE FROM dashboard_sessions WHERE expires_at <= ? OR last_seen_at <= ?")
      .run(iso(now), iso(now - times.idleSeconds * 1000)).changes;
  };

  return {
    signIn(apiKey) {
      const principal = apiKeys.authenticate(apiKey);
      // Abandoned sessions are removed here, so the table stays as small as the set of live ones.
      sweep();
      const id = randomBytes(32).toString("base64url");
      const now = clock.now().getTime();
      insert.run(hashId(id), principal.key_id, iso(now), iso(now), iso(now + times.absoluteSeconds * 1000));
      return { id, session: { principal, csrf: csrfTokenOf(id) }, maxAgeSeconds: times.absoluteSeconds };
    },
    lookup(id, options) {
      if (!ID_FORMAT.test(id)) return null;
      const h = hashId(id);
      const row = byHash.get(h);
      if (row === undefined) return null;
      const now = clock.now().getTime();
      const idleEnd = Date.parse(row.last_seen_at) + times.idleSeconds * 1000;
      const key = apiKeys.get(row.key_id);
      if (
        now >= Date.parse(row.expires_at) ||
        now >= idleEnd ||
        key === undefined ||
        key.revoked_at !== null
      ) {
        remove.run(h);
        return null;
      }
      if (options?.touch !== false) touch.run(iso(now), h);
      return {
        principal: { key_id: key.key_id, name: key.name, role: key.role, client_id: key.client_id },
        csrf: csrfTokenOf(id),
      };
    },
    signOut(id) {
      if (ID_FORMAT.test(id)) remove.run(hashId(id));
    },
    sweep,
  };
}
