/**
 * The packets module's tables.
 *
 * - `packets-001`: one row per generated packet, with the sha256 of every
 *   output and of its signed manifest, and the WORM keys it was queued under.
 * - `packets-002`: retired, never to be reused. It rebuilt the WORM tables to
 *   admit the `packet` object kind before that became the WORM module's own
 *   `worm-002`; it was never released.
 * - `packets-003`: `packet_facts`, what each stored bundle contributes to a
 *   packet (facts.ts), one row per bundle, clustered by (clinic, created_at)
 *   so a clinic-month is one range scan in packet order. Filled when a bundle
 *   is stored and, for bundles stored before, when a packet first needs them
 *   (facts-table.ts); a derived table, so losing rows loses nothing.
 */
import type { Migration } from "../db/index.js";

/** Applied after the evidence and WORM migrations; ids are prefixed `packets-`. */
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
    id: "packets-003",
    sql: `
CREATE TABLE packet_facts (
  client_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  bundle_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  kind TEXT NOT NULL,
  body_intact INTEGER NOT NULL CHECK (body_intact IN (0, 1)),
  version INTEGER NOT NULL,
  facts TEXT NOT NULL,
  PRIMARY KEY (client_id, created_at, agent_id, seq)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX packet_facts_bundle ON packet_facts (agent_id, seq);
`,
  },
];
