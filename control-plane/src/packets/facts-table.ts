/**
 * Writing `packet_facts` (packets-003): the facts of each bundle (facts.ts),
 * recorded when ingest stores it, or derived from its stored body the first
 * time a packet needs it.
 *
 * - At ingest (`packetFactsSink`, one of the control plane's `onStored`
 *   hooks) the body is the one ingest just verified and hashed to the row's
 *   sha256, so it is parsed, not hashed again: `body_intact` is 1.
 * - Lazily (`fillFacts`, run by every packet and posture read for its month):
 *   bundles stored before the table existed, stored while no hook ran (the
 *   `msp-cp` tools, a crash between ingest's commit and the hook), or with
 *   facts of an older `FACTS_VERSION`. Their facts come from the stored body,
 *   so that body is hashed: `body_intact` says whether it still matched the
 *   recorded sha256 when the facts were taken from it.
 *
 * The table is derived data: its commits do not wait for fsync
 * (`commitWithoutSync`), since a row lost in a crash is derived again.
 * Evidence rows are never updated or deleted, so a month whose bundle count
 * equals its count of current facts rows is complete; only otherwise are the
 * bundles without facts looked up.
 */
import { type EvidenceBundle, MspError, sha256Hex, toMspError } from "@msp/shared";
import { commitWithoutSync, type Db } from "../db/index.js";
import { encodeFacts, FACTS_VERSION, factsOf } from "./facts.js";

/**
 * A bundle as ingest reports it after its commit: declared here, by the
 * caller side of the boundary, so packets never import the evidence store.
 */
export interface StoredEvidence {
  client_id: string;
  agent_id: string;
  seq: number;
  bundle_id: string;
  kind: string;
  created_at: string;
  sha256: string;
  /** The canonical JSON ingest verified; `sha256` is its hash. */
  body: string;
}

/** Bundles derived per transaction when filling, so other writers are not held off for long. */
const FILL_CHUNK = 1_000;

const INSERT = `INSERT OR REPLACE INTO packet_facts
  (client_id, created_at, agent_id, seq, bundle_id, sha256, kind, body_intact, version, facts)
  VALUES (@client_id, @created_at, @agent_id, @seq, @bundle_id, @sha256, @kind, @body_intact, ${FACTS_VERSION}, @facts)`;

const row = (e: StoredEvidence, facts: string, intact: boolean) => ({
  client_id: e.client_id,
  created_at: e.created_at,
  agent_id: e.agent_id,
  seq: e.seq,
  bundle_id: e.bundle_id,
  sha256: e.sha256,
  kind: e.kind,
  body_intact: intact ? 1 : 0,
  facts,
});

/** The encoded facts of a canonical body; bodies were validated against the bundle schema at ingest. */
const factsFrom = (body: string) => encodeFacts(factsOf(JSON.parse(body) as EvidenceBundle));

/**
 * The `onStored` hook: records the facts of every stored bundle in one
 * commit. Never throws; a bundle whose facts cannot be recorded is handed to
 * `onError`, and a packet derives them later from the stored body.
 */
export function packetFactsSink(
  db: Db,
  onError: (error: MspError, row: StoredEvidence | null) => void,
): (rows: readonly StoredEvidence[]) => void {
  const insert = db.prepare(INSERT);
  return (rows) => {
    try {
      commitWithoutSync(db, () => {
        for (const e of rows) {
          try {
            insert.run(row(e, factsFrom(e.body), true));
          } catch (err) {
            onError(toMspError(err, "integrity_mismatch"), e);
          }
        }
      });
    } catch (err) {
      onError(toMspError(err), null);
    }
  };
}

/**
 * Derives the facts of a clinic's bundles with `created_at` in [from, to)
 * that have none of the current version; returns how many. A stored body
 * that no longer parses as a bundle is an `integrity_mismatch` (the packet cannot be
 * computed honestly without it).
 */
export function fillFacts(db: Db, clinicId: string, from: string, to: string): number {
  const stored = db
    .prepare(
      "SELECT count(*) FROM evidence_bundles WHERE client_id = ? AND created_at >= ? AND created_at < ?",
    )
    .pluck()
    .get(clinicId, from, to) as number;
  const current = db
    .prepare(
      "SELECT count(*) FROM packet_facts WHERE client_id = ? AND created_at >= ? AND created_at < ? AND version = ?",
    )
    .pluck()
    .get(clinicId, from, to, FACTS_VERSION) as number;
  if (stored === current) return 0;
  const missing = db
    .prepare(
      `SELECT e.id FROM evidence_bundles e
       WHERE e.client_id = ? AND e.created_at >= ? AND e.created_at < ?
         AND NOT EXISTS (SELECT 1 FROM packet_facts f WHERE f.agent_id = e.agent_id AND f.seq = e.seq AND f.version = ?)
       ORDER BY e.id`,
    )
    .pluck()
    .all(clinicId, from, to, FACTS_VERSION) as number[];
  const read = db.prepare(
    `SELECT client_id, agent_id, seq, bundle_id, kind, created_at, sha256, body
     FROM evidence_bundles WHERE id = ?`,
  );
  const insert = db.prepare(INSERT);
  for (let i = 0; i < missing.length; i += FILL_CHUNK) {
    commitWithoutSync(db, () => {
      for (const id of missing.slice(i, i + FILL_CHUNK)) {
        const e = read.get(id) as StoredEvidence;
        let facts: string;
        try {
          facts = factsFrom(e.body);
        } catch (err) {
          throw new MspError(
            "integrity_mismatch",
            `stored bundle ${e.bundle_id} of ${e.agent_id} no longer parses as a bundle`,
            { cause: err, details: { agent_id: e.agent_id, seq: e.seq, sha256: e.sha256 } },
          );
        }
        insert.run(row(e, facts, sha256Hex(e.body) === e.sha256));
      }
    });
  }
  return missing.length;
}
