/**
 * The few reads the dashboard needs that no other module exposes: a bundle's
 * stored body exactly as received (for the browser's own verification and
 * for download), and where the bundle stands in WORM storage and in its day's
 * signed checkpoint. Read-only; every query is scoped by clinic.
 */
import { checkpointRoot } from "@msp/shared";
import type { Db } from "../db/index.js";

/** A bundle's WORM object, or null while it is not queued. */
export interface WormStatus {
  state: "pending" | "uploaded" | "failed";
  object_key: string;
  retain_until: string;
  version_id: string | null;
  uploaded_at: string | null;
  received_day: string;
}

/** Whether the bundle's day has a checkpoint, and whether the checkpoint still matches the day's bundles. */
export type CheckpointStatus =
  | { state: "none"; day: string | null }
  | {
      state: "covered" | "mismatch";
      day: string;
      bundle_count: number;
      root: string;
      upload: "pending" | "uploaded" | "failed";
      retain_until: string;
    };

export interface DashboardQueries {
  /** The stored body (canonical JSON as received) of a bundle in a clinic, by sha256. */
  rawBody(clientId: string, sha256: string): string | null;
  worm(clientId: string, agentId: string, seq: number): WormStatus | null;
  /** Recomputes the day's RFC 6962 root from the queue's leaves (agent_id, seq order) and compares it with the checkpoint's. */
  checkpoint(clientId: string, day: string | null): CheckpointStatus;
}

export function createDashboardQueries(db: Db): DashboardQueries {
  const body = db.prepare<[string, string], { body: string }>(
    "SELECT body FROM evidence_bundles WHERE client_id = ? AND sha256 = ?",
  );
  const worm = db.prepare<[string, string, number], WormStatus>(
    `SELECT o.state, o.object_key, o.retain_until, o.version_id, o.uploaded_at, b.received_day
     FROM worm_bundles b JOIN worm_objects o ON o.id = b.object_id
     WHERE b.client_id = ? AND b.agent_id = ? AND b.seq = ?`,
  );
  const checkpoint = db.prepare<
    [string, string],
    { bundle_count: number; root: string; state: "pending" | "uploaded" | "failed"; retain_until: string }
  >(
    `SELECT c.bundle_count, c.root, o.state, o.retain_until
     FROM worm_checkpoints c JOIN worm_objects o ON o.id = c.object_id
     WHERE c.client_id = ? AND c.day = ?`,
  );
  const leaves = db.prepare<[string, string], { sha256: string }>(
    "SELECT sha256 FROM worm_bundles WHERE client_id = ? AND received_day = ? ORDER BY agent_id, seq",
  );
  return {
    rawBody: (clientId, sha256) => body.get(clientId, sha256)?.body ?? null,
    worm: (clientId, agentId, seq) => worm.get(clientId, agentId, seq) ?? null,
    checkpoint(clientId, day) {
      if (day === null) return { state: "none", day };
      const row = checkpoint.get(clientId, day);
      if (row === undefined) return { state: "none", day };
      const hashes = leaves.all(clientId, day).map((r) => r.sha256);
      const matches = hashes.length === row.bundle_count && checkpointRoot(hashes) === row.root;
      return {
        state: matches ? "covered" : "mismatch",
        day,
        bundle_count: row.bundle_count,
        root: row.root,
        upload: row.state,
        retain_until: row.retain_until,
      };
    },
  };
}
