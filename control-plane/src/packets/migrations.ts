/**
 * The packets module's tables.
 *
 * - `packets-001`: one row per generated packet, with the sha256 of every
 *   output and of its signed manifest, and the WORM keys it was queued under.
 * - `packets-002`: lets the WORM queue hold packets. `worm_objects.kind` is a
 *   CHECK-constrained column of the WORM module (`bundle`, `checkpoint`), and
 *   SQLite cannot change a CHECK in place; with foreign keys on inside the
 *   migration's transaction, the only safe way is to rebuild the three WORM
 *   tables (children dropped before their parent, so no foreign key is ever
 *   dangling) with the same columns and indexes plus the `packet` kind. Row
 *   ids are copied, so every `object_id` still points at its object.
 */
import type { Migration } from "../db/index.js";

/** Applied after the WORM migrations; ids are prefixed `packets-`. */
export const PACKET_MIGRATIONS: readonly Migration[] = [
  {
    id: "packets-001",
    sql: `
CREATE TABLE packets (
  packet_id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  month TEXT NOT NULL,
  generated_at TEXT NOT NULL,
  generated_by TEXT NOT NULL,
  files TEXT NOT NULL,
  pdf_error TEXT,
  signature_sha256 TEXT NOT NULL,
  key_id TEXT NOT NULL,
  worm_keys TEXT NOT NULL
) STRICT;
CREATE INDEX packets_client_month ON packets (client_id, month, generated_at);
`,
  },
  {
    id: "packets-002",
    sql: `
CREATE TABLE worm_objects_next (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('bundle', 'checkpoint', 'packet')),
  object_key TEXT NOT NULL UNIQUE,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  retain_until TEXT NOT NULL,
  body BLOB,
  state TEXT NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  version_id TEXT,
  enqueued_at TEXT NOT NULL,
  uploaded_at TEXT,
  CHECK ((state = 'uploaded') = (version_id IS NOT NULL)),
  CHECK (state = 'uploaded' OR body IS NOT NULL)
) STRICT;
INSERT INTO worm_objects_next SELECT * FROM worm_objects;

CREATE TABLE worm_bundles_next (
  client_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bundle_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at TEXT NOT NULL,
  received_day TEXT NOT NULL,
  object_id INTEGER NOT NULL UNIQUE REFERENCES worm_objects_next (id),
  PRIMARY KEY (client_id, agent_id, seq)
) STRICT;
INSERT INTO worm_bundles_next SELECT * FROM worm_bundles;

CREATE TABLE worm_checkpoints_next (
  client_id TEXT NOT NULL,
  day TEXT NOT NULL,
  bundle_count INTEGER NOT NULL,
  root TEXT NOT NULL,
  first_bundle_id TEXT,
  last_bundle_id TEXT,
  object_id INTEGER NOT NULL UNIQUE REFERENCES worm_objects_next (id),
  created_at TEXT NOT NULL,
  PRIMARY KEY (client_id, day)
) STRICT;
INSERT INTO worm_checkpoints_next SELECT * FROM worm_checkpoints;

DROP TABLE worm_checkpoints;
DROP TABLE worm_bundles;
DROP TABLE worm_objects;
ALTER TABLE worm_objects_next RENAME TO worm_objects;
ALTER TABLE worm_bundles_next RENAME TO worm_bundles;
ALTER TABLE worm_checkpoints_next RENAME TO worm_checkpoints;
CREATE INDEX worm_objects_state ON worm_objects (state, id);
CREATE INDEX worm_objects_client ON worm_objects (client_id, kind);
CREATE INDEX worm_bundles_day ON worm_bundles (client_id, received_day, agent_id, seq);
`,
  },
];
