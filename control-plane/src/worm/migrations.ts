/**
 * The WORM module's tables. Ids are prefixed `worm-`; an applied migration is
 * never edited (control-plane/src/db refuses a changed one), so every change
 * is a new migration.
 *
 * - `worm-001`: the upload queue (`worm_objects`), the bundles it archives
 *   (`worm_bundles`) and the signed daily checkpoints (`worm_checkpoints`).
 * - `worm-002`: `worm_objects.kind` admits `packet` (compliance packet files,
 *   queued through `createWormObjectQueue`). SQLite cannot change a CHECK
 *   constraint in place, and with foreign keys enforced inside the
 *   migration's transaction the only safe way is to rebuild the three tables:
 *   new tables first (children referencing the new parent), rows copied with
 *   their ids, children dropped before their parent so no foreign key ever
 *   dangles, then renamed (which also renames the children's references) and
 *   the indexes recreated. Every `object_id` still points at its object. It
 *   also indexes `worm_bundles` by `created_at`, so a packet reads the WORM
 *   records of one month instead of a clinic's whole history.
 */
import type { Migration } from "../db/index.js";

/** Apply with `migrate(db, WORM_MIGRATIONS)`; later migrations depend on earlier ones. */
export const WORM_MIGRATIONS: readonly Migration[] = [
  {
    id: "worm-001",
    sql: `
CREATE TABLE worm_objects (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('bundle', 'checkpoint')),
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
CREATE INDEX worm_objects_state ON worm_objects (state, id);
CREATE INDEX worm_objects_client ON worm_objects (client_id, kind);

CREATE TABLE worm_bundles (
  client_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bundle_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at TEXT NOT NULL,
  received_day TEXT NOT NULL,
  object_id INTEGER NOT NULL UNIQUE REFERENCES worm_objects (id),
  PRIMARY KEY (client_id, agent_id, seq)
) STRICT;
CREATE INDEX worm_bundles_day ON worm_bundles (client_id, received_day, agent_id, seq);

CREATE TABLE worm_checkpoints (
  client_id TEXT NOT NULL,
  day TEXT NOT NULL,
  bundle_count INTEGER NOT NULL,
  root TEXT NOT NULL,
  first_bundle_id TEXT,
  last_bundle_id TEXT,
  object_id INTEGER NOT NULL UNIQUE REFERENCES worm_objects (id),
  created_at TEXT NOT NULL,
  PRIMARY KEY (client_id, day)
) STRICT;
`,
  },
  {
    id: "worm-002",
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
INSERT INTO worm_objects_next (id, client_id, kind, object_key, sha256, size, content_type, retain_until, body,
  state, attempts, next_attempt_at, last_error, version_id, enqueued_at, uploaded_at)
SELECT id, client_id, kind, object_key, sha256, size, content_type, retain_until, body,
  state, attempts, next_attempt_at, last_error, version_id, enqueued_at, uploaded_at
FROM worm_objects;

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
INSERT INTO worm_bundles_next (client_id, agent_id, seq, bundle_id, sha256, created_at, received_day, object_id)
SELECT client_id, agent_id, seq, bundle_id, sha256, created_at, received_day, object_id FROM worm_bundles;

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
INSERT INTO worm_checkpoints_next (client_id, day, bundle_count, root, first_bundle_id, last_bundle_id, object_id,
  created_at)
SELECT client_id, day, bundle_count, root, first_bundle_id, last_bundle_id, object_id, created_at
FROM worm_checkpoints;

DROP TABLE worm_checkpoints;
DROP TABLE worm_bundles;
DROP TABLE worm_objects;
ALTER TABLE worm_objects_next RENAME TO worm_objects;
ALTER TABLE worm_bundles_next RENAME TO worm_bundles;
ALTER TABLE worm_checkpoints_next RENAME TO worm_checkpoints;
CREATE INDEX worm_objects_state ON worm_objects (state, id);
CREATE INDEX worm_objects_client ON worm_objects (client_id, kind);
CREATE INDEX worm_bundles_day ON worm_bundles (client_id, received_day, agent_id, seq);
CREATE INDEX worm_bundles_created ON worm_bundles (client_id, created_at, agent_id, seq);
`,
  },
];
