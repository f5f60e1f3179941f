/**
 * The evidence store's tables, applied by `migrate` from control-plane/src/db.
 *
 * - `evidence_bundles`: every accepted bundle, keyed by (agent_id, seq) and by
 *   its sha256; `body` is the RFC 8785 canonical form, byte for byte what the
 *   hash covers, so an export can be re-verified without re-serialising.
 * - `evidence_chains`: per agent, the contiguous head the control plane has
 *   acknowledged (every seq up to `acked_seq` is stored) and the highest seq seen.
 * - `evidence_anomalies`: gaps, reorders, forks, broken links and foreign
 *   bundles. Rows are never deleted; a gap that is later filled gets
 *   `resolved_at` so the history of the hole stays visible.
 * - `evidence_drift_latest`: the most recent drift result per (agent, check),
 *   derived from drift_check bundles at ingest so dashboards need not scan bodies.
 */
import type { Migration } from "../db/index.js";

/** The evidence module's migrations; ids are prefixed `evidence-`. */
export const EVIDENCE_MIGRATIONS: readonly Migration[] = [
  {
    id: "evidence-001",
    sql: `
CREATE TABLE evidence_bundles (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  seq INTEGER NOT NULL CHECK (seq >= 1),
  bundle_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  kind TEXT NOT NULL,
  key_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  received_at TEXT NOT NULL,
  body TEXT NOT NULL,
  UNIQUE (agent_id, seq)
) STRICT;
CREATE UNIQUE INDEX evidence_bundles_sha256 ON evidence_bundles (sha256);
CREATE INDEX evidence_bundles_client_created ON evidence_bundles (client_id, created_at, id);
CREATE INDEX evidence_bundles_client_kind_created ON evidence_bundles (client_id, kind, created_at);
CREATE INDEX evidence_bundles_bundle_id ON evidence_bundles (bundle_id);

CREATE TABLE evidence_chains (
  agent_id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  acked_seq INTEGER NOT NULL CHECK (acked_seq >= 0),
  head_hash TEXT NOT NULL,
  max_seq INTEGER NOT NULL CHECK (max_seq >= acked_seq),
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX evidence_chains_client ON evidence_chains (client_id);

CREATE TABLE evidence_anomalies (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('gap', 'reorder', 'fork', 'broken_link', 'foreign')),
  seq INTEGER NOT NULL,
  seq_to INTEGER,
  held_hash TEXT,
  offered_hash TEXT,
  expected_prev_hash TEXT,
  actual_prev_hash TEXT,
  message TEXT NOT NULL,
  body TEXT,
  ref TEXT NOT NULL,
  detected_at TEXT NOT NULL,
  resolved_at TEXT,
  UNIQUE (agent_id, kind, seq, ref)
) STRICT;
CREATE INDEX evidence_anomalies_client ON evidence_anomalies (client_id, id);

CREATE TABLE evidence_drift_latest (
  client_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  check_id TEXT NOT NULL,
  status TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bundle_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (agent_id, check_id)
) STRICT;
CREATE INDEX evidence_drift_latest_client ON evidence_drift_latest (client_id);
`,
  },
];
