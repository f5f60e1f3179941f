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
import type { MonthBundle, MonthEvidence } from "./month.js";

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

/** [created_at, agent_id, seq, object_key, state, version_id, checkpoint_day]. */
type WormRow = [string, string, number, string, string, string | null, string | null];

/** Orders by (created_at, agent_id, seq) as SQLite does (ids and timestamps are ASCII). */
type Order = readonly [string, string, number, ...unknown[]];
const compare = (a: Order, b: Order) =>
  a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : a[2] - b[2];

/**
 * Joins the month's bundles with the WORM tables. Both lists are in
 * (created_at, agent_id, seq) order (the WORM rows by `worm_bundles_created`),
 * so they are merged in one walk.
 */
export function buildManifest(db: Db, evidence: MonthEvidence): Manifest {
  const worm = db
    .prepare(
      `SELECT b.created_at, b.agent_id, b.seq, o.object_key, o.state, o.version_id, c.day AS checkpoint_day
       FROM worm_bundles b
       JOIN worm_objects o ON o.id = b.object_id
       LEFT JOIN worm_checkpoints c ON c.client_id = b.client_id AND c.day = b.received_day
       WHERE b.client_id = ? AND b.created_at >= ? AND b.created_at < ?
       ORDER BY b.created_at, b.agent_id, b.seq`,
    )
    .raw()
    .all(evidence.clinic_id, evidence.from, evidence.to) as WormRow[];
  let next = 0;
  const wormOf = (b: MonthBundle): WormRow | undefined => {
    const key: Order = [b.created_at, b.agent_id, b.seq];
    while (next < worm.length && compare(worm[next] as WormRow, key) < 0) next++;
    const w = worm[next];
    return w !== undefined && compare(w, key) === 0 ? w : undefined;
  };
  const entries = evidence.bundles.map((b): ManifestEntry => {
    const w = wormOf(b);
    return {
      bundle_id: b.bundle_id,
      agent_id: b.agent_id,
      seq: b.seq,
      kind: b.kind,
      time: b.created_at,
      sha256: b.sha256,
      body_intact: b.body_intact,
      worm_state: w?.[4] ?? "not_queued",
      worm_key: w?.[3] ?? null,
      worm_version_id: w?.[5] ?? null,
      checkpoint_day: w?.[6] ?? null,
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
