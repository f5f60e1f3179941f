import type { Migration } from "../db/index.js";

/** Clinics, their agents, the certificates issued to them, and one-time enrollment tokens. */
export const REGISTRY_MIGRATIONS: Migration[] = [
  {
    id: "registry-001",
    sql: `CREATE TABLE clinics (
      client_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      service_allowlist TEXT NOT NULL DEFAULT '[]',
      created_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE agents (
      agent_id TEXT PRIMARY KEY,
      client_id TEXT NOT NULL REFERENCES clinics (client_id),
      hostname TEXT NOT NULL,
      evidence_public_key TEXT NOT NULL,
      agent_version TEXT NOT NULL,
      enrolled_at TEXT NOT NULL,
      revoked_at TEXT,
      last_seen_at TEXT,
      last_connected_at TEXT,
      catalog_sha256 TEXT,
      last_seq INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX agents_client ON agents (client_id);
    CREATE TABLE agent_certificates (
      serial TEXT PRIMARY KEY,
      agent_id TEXT NOT NULL REFERENCES agents (agent_id),
      client_id TEXT NOT NULL,
      not_before TEXT NOT NULL,
      not_after TEXT NOT NULL,
      issued_at TEXT NOT NULL,
      reason TEXT NOT NULL CHECK (reason IN ('enrollment', 'renewal')),
      revoked_at TEXT
    ) STRICT;
    CREATE INDEX agent_certificates_agent ON agent_certificates (agent_id);
    CREATE TABLE enrollment_tokens (
      token_id TEXT PRIMARY KEY,
      client_id TEXT NOT NULL REFERENCES clinics (client_id),
      token_sha256 BLOB NOT NULL UNIQUE,
      created_by TEXT,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL,
      used_at TEXT,
      used_by_agent TEXT
    ) STRICT;`,
  },
  {
    id: "registry-002",
    sql: "ALTER TABLE clinics ADD COLUMN runbook_params TEXT NOT NULL DEFAULT '{}';",
  },
];
