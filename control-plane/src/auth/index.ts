/**
 * Operator API keys. A key is shown once at creation (`msp_key_<id>_<secret>`)
 * and stored only as the sha256 of its secret: the secret is 32 random bytes,
 * so a fast hash is enough (there is nothing to brute-force). Each key has a
 * role and, unless it is an admin key, exactly one clinic in scope.
 *
 * Roles: `admin` manages clinics, keys and breakers across all clinics;
 * `operator` works one clinic (incidents, approvals, executions, tokens);
 * `auditor` reads one clinic's evidence, incidents and packets, and changes nothing.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type Clock, MspError } from "@msp/shared";
import type { Db, Migration } from "../db/index.js";

export const ROLES = ["admin", "operator", "auditor"] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: the authenticated key. `client_id` null means every clinic (admin keys only). */
export interface Principal {
  key_id: string;
  name: string;
  role: Role;
  client_id: string | null;
}

/** A key as listed (never with its secret or hash). */
export interface ApiKeyInfo extends Principal {
  created_at: string;
  created_by: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export const AUTH_MIGRATIONS: Migration[] = [
  {
    id: "auth-001",
    sql: `CREATE TABLE api_keys (
      key_id TEXT PRIMARY KEY,
      secret_sha256 BLOB NOT NULL,
      name TEXT NOT NULL,
      role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
      client_id TEXT,
      created_at TEXT NOT NULL,
      created_by TEXT,
      revoked_at TEXT,
      last_used_at TEXT,
      CHECK ((role = 'admin') = (client_id IS NULL))
    ) STRICT;`,
  },
];

const KEY_FORMAT = /^msp_key_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (s: string) => createHash("sha256").update(s).digest();

type Row = {
  key_id: string;
  secret_sha256: Buffer;
  name: string;
  role: Role;
  client_id: string | null;
  created_at: string;
  created_by: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
};

const info = ({ secret_sha256: _, ...rest }: Row): ApiKeyInfo => rest;

/** The key store and authenticator. */
export interface ApiKeys {
  /** Creates a key and returns its one-time plaintext. */
  create(input: { name: string; role: Role; client_id: string | null; created_by: string | null }): {
    key: string;
    info: ApiKeyInfo;
  };
  /** The principal for a presented key; throws `unauthenticated` for unknown, malformed or revoked keys. */
  authenticate(presented: string): Principal;
  list(clientId?: string | null): ApiKeyInfo[];
  get(keyId: string): ApiKeyInfo | undefined;
  /** Revokes a key; revoking twice is a `conflict`. */
  revoke(keyId: string): ApiKeyInfo;
  /** How many keys exist (the bootstrap refuses to make a second first admin). */
  count(): number;
}

/** Builds the key store on a migrated database. */
export function createApiKeys(db: Db, clock: Clock): ApiKeys {
  const insert = db.prepare(
    `INSERT INTO api_keys (key_id, secret_sha256, name, role, client_id, created_at, created_by)
     VALUES (@key_id, @secret_sha256, @name, @role, @client_id, @created_at, @created_by)`,
  );
  const byId = db.prepare<[string], Row>("SELECT * FROM api_keys WHERE key_id = ?");
  const touch = db.prepare("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?");
  const unauthenticated = () => new MspError("unauthenticated", "missing, unknown or revoked API key");

  return {
    create({ name, role, client_id, created_by }) {
      if ((role === "admin") !== (client_id === null)) {
        throw new MspError(
          "invalid_input",
          "admin keys span all clinics; operator and auditor keys need one clinic",
        );
      }
      const key_id = randomBytes(8).toString("hex");
      const secret = randomBytes(32).toString("base64url");
      const row = {
        key_id,
        secret_sha256: sha256(secret),
        name,
        role,
        client_id,
        created_at: clock.now().toISOString(),
        created_by,
      };
      insert.run(row);
      return { key: `msp_key_${key_id}_${secret}`, info: info(byId.get(key_id) as Row) };
    },
    authenticate(presented) {
      const m = KEY_FORMAT.exec(presented);
      if (!m?.[1] || !m[2]) throw unauthenticated();
      const row = byId.get(m[1]);
      // Compare even when the id is unknown, so timing does not reveal which ids exist.
      const expected = row?.secret_sha256 ?? Buffer.alloc(32);
      const ok = timingSafeEqual(expected, sha256(m[2]));
      if (!ok || row === undefined || row.revoked_at !== null) throw unauthenticated();
      touch.run(clock.now().toISOString(), row.key_id);
      return { key_id: row.key_id, name: row.name, role: row.role, client_id: row.client_id };
    },
    list(clientId) {
      const rows =
        clientId === undefined || clientId === null
          ? db.prepare<[], Row>("SELECT * FROM api_keys ORDER BY created_at, key_id").all()
          : db
              .prepare<[string], Row>(
                "SELECT * FROM api_keys WHERE client_id = ? ORDER BY created_at, key_id",
              )
              .all(clientId);
      return rows.map(info);
    },
    get(keyId) {
      const row = byId.get(keyId);
      return row === undefined ? undefined : info(row);
    },
    revoke(keyId) {
      const row = byId.get(keyId);
      if (row === undefined) throw new MspError("not_found", `API key ${keyId} not found`);
      if (row.revoked_at !== null) throw new MspError("conflict", `API key ${keyId} is already revoked`);
      db.prepare("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?").run(clock.now().toISOString(), keyId);
      return info(byId.get(keyId) as Row);
    },
    count() {
      return (db.prepare("SELECT count(*) AS n FROM api_keys").get() as { n: number }).n;
    },
  };
}

/** True when `principal` may act on `clientId` (admins everywhere, others only in their clinic). */
export function inScope(principal: Principal, clientId: string): boolean {
  return principal.client_id === null || principal.client_id === clientId;
}
