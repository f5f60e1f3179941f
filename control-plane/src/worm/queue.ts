/**
 * The durable upload queue in the control plane's SQLite database (tables in
 * migrations.ts). A row is written in the same transaction that records what
 * it is (a bundle, a checkpoint, a packet file), and keeps its body until the
 * storage has confirmed a version, so an S3 outage or a crash delays evidence
 * but never loses it. Rows are
 * never deleted: an uploaded row keeps its key, sha256 and version id as the
 * record of where the evidence went.
 */
import type { Db } from "../db/index.js";

/** What a queued object is; bundles and checkpoints also have a row in their own table. */
export type ObjectKind = "bundle" | "checkpoint" | "packet";

/** Upload state of one object. */
export type UploadState = "pending" | "uploaded" | "failed";

/** A queued object as the uploader reads it. */
export interface QueuedObject {
  id: number;
  client_id: string;
  kind: ObjectKind;
  object_key: string;
  sha256: string;
  content_type: string;
  retain_until: string;
  body: Buffer | null;
  state: UploadState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  version_id: string | null;
}

/** A new object for {@link WormQueue.insertObject}. */
export interface NewObject {
  client_id: string;
  kind: ObjectKind;
  object_key: string;
  sha256: string;
  content_type: string;
  retain_until: string;
  body: Buffer;
  enqueued_at: Date;
}

/** A bundle row: what a checkpoint needs to rebuild its day. */
export interface BundleRow {
  client_id: string;
  agent_id: string;
  seq: number;
  bundle_id: string;
  sha256: string;
  created_at: string;
  received_day: string;
  object_id: number;
}

/** A checkpoint row. */
export interface CheckpointRow {
  client_id: string;
  day: string;
  bundle_count: number;
  root: string;
  first_bundle_id: string | null;
  last_bundle_id: string | null;
  object_id: number;
  created_at: string;
}

/** The statements the uploader runs; one instance per database. */
export class WormQueue {
  readonly db: Db;
  readonly #s;

  constructor(db: Db) {
    this.db = db;
    this.#s = {
      insertObject: db.prepare(
        `INSERT INTO worm_objects (client_id, kind, object_key, sha256, size, content_type, retain_until, body,
           state, next_attempt_at, enqueued_at)
         VALUES (@client_id, @kind, @object_key, @sha256, @size, @content_type, @retain_until, @body,
           'pending', @next_attempt_at, @enqueued_at)`,
      ),
      insertBundle: db.prepare(
        `INSERT INTO worm_bundles (client_id, agent_id, seq, bundle_id, sha256, created_at, received_day, object_id)
         VALUES (@client_id, @agent_id, @seq, @bundle_id, @sha256, @created_at, @received_day, @object_id)`,
      ),
      insertCheckpoint: db.prepare(
        `INSERT INTO worm_checkpoints (client_id, day, bundle_count, root, first_bundle_id, last_bundle_id,
           object_id, created_at)
         VALUES (@client_id, @day, @bundle_count, @root, @first_bundle_id, @last_bundle_id, @object_id, @created_at)`,
      ),
      bundle: db.prepare("SELECT * FROM worm_bundles WHERE client_id = ? AND agent_id = ? AND seq = ?"),
      objectByKey: db.prepare("SELECT * FROM worm_objects WHERE object_key = ?"),
      stateByKey: db.prepare("SELECT state, version_id FROM worm_objects WHERE object_key = ?"),
      head: db.prepare("SELECT * FROM worm_objects WHERE state = 'pending' ORDER BY id LIMIT 1"),
      uploaded: db.prepare(
        `UPDATE worm_objects SET state = 'uploaded', version_id = ?, uploaded_at = ?, body = NULL, last_error = NULL
         WHERE id = ? AND state = 'pending'`,
      ),
      retry: db.prepare(
        `UPDATE worm_objects SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
         WHERE id = ? AND state = 'pending'`,
      ),
      failed: db.prepare(
        `UPDATE worm_objects SET state = 'failed', attempts = attempts + 1, last_error = ?
         WHERE id = ? AND state = 'pending'`,
      ),
      requeue: db.prepare(
        `UPDATE worm_objects SET state = 'pending', attempts = 0, next_attempt_at = ?
         WHERE state = 'failed'`,
      ),
      counts: db.prepare("SELECT state, count(*) AS n FROM worm_objects GROUP BY state"),
      lastCheckpointDay: db.prepare("SELECT max(day) AS day FROM worm_checkpoints WHERE client_id = ?"),
      firstBundleDay: db.prepare("SELECT min(received_day) AS day FROM worm_bundles WHERE client_id = ?"),
      clients: db.prepare("SELECT DISTINCT client_id FROM worm_bundles ORDER BY client_id"),
      dayBundles: db.prepare(
        `SELECT agent_id, seq, bundle_id, sha256 FROM worm_bundles
         WHERE client_id = ? AND received_day = ? ORDER BY agent_id, seq`,
      ),
      checkpoint: db.prepare("SELECT * FROM worm_checkpoints WHERE client_id = ? AND day = ?"),
    };
  }

  /** Inserts a pending object due now; returns its id. Runs inside the caller's transaction if any. */
  insertObject(o: NewObject): number {
    const info = this.#s.insertObject.run({
      client_id: o.client_id,
      kind: o.kind,
      object_key: o.object_key,
      sha256: o.sha256,
      size: o.body.length,
      content_type: o.content_type,
      retain_until: o.retain_until,
      body: o.body,
      next_attempt_at: o.enqueued_at.getTime(),
      enqueued_at: o.enqueued_at.toISOString(),
    });
    return Number(info.lastInsertRowid);
  }

  insertBundle(b: BundleRow): void {
    this.#s.insertBundle.run(b);
  }

  insertCheckpoint(c: CheckpointRow): void {
    this.#s.insertCheckpoint.run(c);
  }

  bundle(clientId: string, agentId: string, seq: number): BundleRow | undefined {
    return this.#s.bundle.get(clientId, agentId, seq) as BundleRow | undefined;
  }

  objectByKey(key: string): QueuedObject | undefined {
    return this.#s.objectByKey.get(key) as QueuedObject | undefined;
  }

  /** Upload state and version of one object, without its body. */
  stateByKey(key: string): { state: UploadState; version_id: string | null } | undefined {
    return this.#s.stateByKey.get(key) as { state: UploadState; version_id: string | null } | undefined;
  }

  /** The oldest pending object: uploads go strictly in enqueue order. */
  head(): QueuedObject | undefined {
    return this.#s.head.get() as QueuedObject | undefined;
  }

  markUploaded(id: number, versionId: string, at: Date): void {
    this.#s.uploaded.run(versionId, at.toISOString(), id);
  }

  markRetry(id: number, nextAttemptAt: number, error: string): void {
    this.#s.retry.run(nextAttemptAt, error, id);
  }

  markFailed(id: number, error: string): void {
    this.#s.failed.run(error, id);
  }

  /** Puts every failed object back in the queue, due at `at`; returns how many. */
  requeueFailed(at: Date): number {
    return this.#s.requeue.run(at.getTime()).changes;
  }

  counts(): Record<UploadState, number> {
    const out: Record<UploadState, number> = { pending: 0, uploaded: 0, failed: 0 };
    for (const r of this.#s.counts.all() as { state: UploadState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  lastCheckpointDay(clientId: string): string | null {
    return (this.#s.lastCheckpointDay.get(clientId) as { day: string | null }).day;
  }

  firstBundleDay(clientId: string): string | null {
    return (this.#s.firstBundleDay.get(clientId) as { day: string | null }).day;
  }

  clients(): string[] {
    return (this.#s.clients.all() as { client_id: string }[]).map((r) => r.client_id);
  }

  /** A clinic's bundles received on `day`, in leaf order (agent_id, seq). */
  dayBundles(
    clientId: string,
    day: string,
  ): { agent_id: string; seq: number; bundle_id: string; sha256: string }[] {
    return this.#s.dayBundles.all(clientId, day) as {
      agent_id: string;
      seq: number;
      bundle_id: string;
      sha256: string;
    }[];
  }

  checkpoint(clientId: string, day: string): CheckpointRow | undefined {
    return this.#s.checkpoint.get(clientId, day) as CheckpointRow | undefined;
  }
}
