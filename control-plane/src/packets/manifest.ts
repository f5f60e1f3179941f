/**
 * The evidence manifest: every bundle of the clinic-month with its sha256,
 * whether its stored body still hashes to it, the WORM object version that
 * holds it, and the signed daily checkpoint whose Merkle root covers it.
 *
 * WORM facts come from the uploader's tables (worm_bundles, worm_objects,
 * worm_checkpoints): a bundle not yet uploaded shows its queue state instead
 * of a version, and a day not yet checkpointed shows no checkpoint. The
 * manifest never claims an upload or an inclusion the tables do not record.
 */
import type { Db } from "../db/index.js";
import type { MonthEvidence } from "./month.js";

/** One bundle of the manifest. */
export interface ManifestEntry {
  bundle_id: string;
  agent_id: string;
  seq: number;
  kind: string;
  time: string;
  sha256: string;
  body_intact: boolean;
  /** `uploaded`, `pending`, `failed`, or `not_queued` when the bundle never reached the WORM queue. */
  worm_state: string;
  worm_key: string | null;
  worm_version_id: string | null;
  /** The UTC day whose checkpoint covers the bundle, or null while that day is not checkpointed. */
  checkpoint_day: string | null;
}

/** One daily checkpoint covering bundles of the month. */
export interface ManifestCheckpoint {
  day: string;
  bundle_count: number;
  root: string;
  worm_key: string;
  worm_state: string;
  worm_version_id: string | null;
}

/** The manifest and its totals. */
export interface Manifest {
  entries: ManifestEntry[];
  checkpoints: ManifestCheckpoint[];
  totals: {
    bundles: number;
    body_intact: number;
    uploaded: number;
    in_checkpoint: number;
  };
}

interface WormRow {
  agent_id: string;
  seq: number;
  object_key: string;
  state: string;
  version_id: string | null;
  checkpoint_day: string | null;
}

/** Joins the month's bundles with the WORM tables. */
export function buildManifest(db: Db, evidence: MonthEvidence): Manifest {
  const worm = db
    .prepare(
      `SELECT b.agent_id, b.seq, o.object_key, o.state, o.version_id, c.day AS checkpoint_day
       FROM worm_bundles b
       JOIN worm_objects o ON o.id = b.object_id
       LEFT JOIN worm_checkpoints c ON c.client_id = b.client_id AND c.day = b.received_day
       WHERE b.client_id = ? AND b.created_at >= ? AND b.created_at < ?`,
    )
    .all(evidence.clinic_id, evidence.from, evidence.to) as WormRow[];
  const byKey = new Map(worm.map((w) => [`${w.agent_id}\u0000${w.seq}`, w]));
  const entries = evidence.bundles.map((b): ManifestEntry => {
    const w = byKey.get(`${b.agent_id}\u0000${b.seq}`);
    return {
      bundle_id: b.bundle_id,
      agent_id: b.agent_id,
      seq: b.seq,
      kind: b.kind,
      time: b.created_at,
      sha256: b.sha256,
      body_intact: b.body_intact,
      worm_state: w?.state ?? "not_queued",
      worm_key: w?.object_key ?? null,
      worm_version_id: w?.version_id ?? null,
      checkpoint_day: w?.checkpoint_day ?? null,
    };
  });
  const days = [
    ...new Set(entries.map((e) => e.checkpoint_day).filter((d): d is string => d !== null)),
  ].sort();
  const checkpointOf = db.prepare(
    `SELECT c.day, c.bundle_count, c.root, o.object_key AS worm_key, o.state AS worm_state, o.version_id AS worm_version_id
     FROM worm_checkpoints c JOIN worm_objects o ON o.id = c.object_id
     WHERE c.client_id = ? AND c.day = ?`,
  );
  const checkpoints = days
    .map((d) => checkpointOf.get(evidence.clinic_id, d) as ManifestCheckpoint | undefined)
    .filter((c): c is ManifestCheckpoint => c !== undefined);
  return {
    entries,
    checkpoints,
    totals: {
      bundles: entries.length,
      body_intact: entries.filter((e) => e.body_intact).length,
      uploaded: entries.filter((e) => e.worm_state === "uploaded").length,
      in_checkpoint: entries.filter((e) => e.checkpoint_day !== null).length,
    },
  };
}
