/**
 * What enters the durable queue, and how: validated first, then one SQLite
 * transaction. Both calls are synchronous on the control plane's database, so
 * a caller can run them inside its own commit and the two can never disagree.
 *
 * - `makeEnqueue`: an evidence bundle from ingest (schema, size, sha256 of the
 *   body, retention not already over); records the bundle and queues its object.
 * - `createWormObjectQueue`: any other object a module archives (a compliance
 *   packet's files): the queue computes its sha256 and checks key, content
 *   type and retention the way every storage adapter will.
 */
import {
  AgentId,
  BundleId,
  ClinicId,
  limits,
  MspError,
  parseWith,
  Sha256,
  sha256Hex,
  Timestamp,
  toMspError,
} from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";
import { addYears, bundleObjectKey, nextDay, utcDay } from "./keys.js";
import { type UploadState, WormQueue } from "./queue.js";
import { checkPutRequest } from "./store.js";

/**
 * One stored bundle, as ingest hands it over after commit. `body` must be the
 * bytes to archive, the bundle's RFC 8785 canonical form, so that
 * `sha256 == sha256(body) == bundleHash(bundle)`, the value the chain links by.
 */
export const WormBundle = z.strictObject({
  client_id: ClinicId,
  agent_id: AgentId,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  bundle_id: BundleId,
  sha256: Sha256,
  created_at: Timestamp,
  body: z.instanceof(Buffer),
});
export type WormBundle = z.infer<typeof WormBundle>;

/** What `enqueue` did. */
export interface EnqueueResult {
  /** `queued`: new; `duplicate`: the same bundle was already queued or uploaded (nothing changed). */
  status: "queued" | "duplicate";
  key: string;
}

/**
 * The enqueue function over one queue. Throws `invalid_input`,
 * `payload_too_large`, `integrity_mismatch` (body does not hash to sha256) or
 * `conflict` (same agent and seq already archived with other content), and
 * then nothing is written.
 */
export function makeEnqueue(
  queue: WormQueue,
  retentionYears: number,
  now: () => Date,
): (bundle: WormBundle) => EnqueueResult {
  const insert = queue.db.transaction((b: WormBundle, at: Date): EnqueueResult => {
    const prior = queue.bundle(b.client_id, b.agent_id, b.seq);
    if (prior !== undefined) {
      if (prior.sha256 === b.sha256) {
        return { status: "duplicate", key: bundleObjectKey({ ...prior, day: prior.received_day }) };
      }
      throw new MspError(
        "conflict",
        `bundle ${b.agent_id}#${b.seq} was already archived with different content; refusing a second version`,
        { details: { client_id: b.client_id, agent_id: b.agent_id, seq: b.seq } },
      );
    }
    // A day already checkpointed is closed; a late bundle (or a clock stepped back) goes to the next open day.
    let day = utcDay(at);
    const closed = queue.lastCheckpointDay(b.client_id);
    if (closed !== null && closed >= day) day = nextDay(closed);
    const key = bundleObjectKey({ ...b, day });
    const objectId = queue.insertObject({
      client_id: b.client_id,
      kind: "bundle",
      object_key: key,
      sha256: b.sha256,
      content_type: "application/json",
      retain_until: addYears(new Date(b.created_at), retentionYears).toISOString(),
      body: b.body,
      enqueued_at: at,
    });
    queue.insertBundle({
      client_id: b.client_id,
      agent_id: b.agent_id,
      seq: b.seq,
      bundle_id: b.bundle_id,
      sha256: b.sha256,
      created_at: b.created_at,
      received_day: day,
      object_id: objectId,
    });
    return { status: "queued", key };
  });

  return (bundle) => {
    const b = parseWith(WormBundle, bundle, "WORM bundle");
    if (b.body.length > limits.MAX_BUNDLE_BYTES) {
      throw new MspError("payload_too_large", `bundle body exceeds ${limits.MAX_BUNDLE_BYTES} bytes`);
    }
    if (sha256Hex(b.body) !== b.sha256) {
      throw new MspError("integrity_mismatch", `bundle ${b.bundle_id} body does not hash to its sha256`, {
        details: { agent_id: b.agent_id, seq: b.seq },
      });
    }
    const at = now();
    if (addYears(new Date(b.created_at), retentionYears).getTime() <= at.getTime()) {
      throw new MspError(
        "invalid_input",
        `bundle ${b.bundle_id} is older than the ${retentionYears}-year retention period`,
      );
    }
    return insert(b, at);
  };
}

/**
 * A stored bundle as the evidence store reports it after commit: the shape
 * the uploader needs, declared here by the uploader (its caller-owned side of
 * the boundary) so it never imports the evidence store. `body` is the
 * canonical JSON, as text or bytes.
 */
export interface StoredBundle {
  client_id: string;
  agent_id: string;
  seq: number;
  bundle_id: string;
  sha256: string;
  created_at: string;
  body: string | Buffer;
}

/**
 * Adapts `enqueue` to an after-commit hook that must not throw: every row is
 * queued, and a row that is refused is handed to `onError` instead of
 * stopping the rest of the batch.
 */
export function storedBundleSink(
  target: { enqueue(bundle: WormBundle): EnqueueResult },
  onError: (error: MspError, row: StoredBundle) => void,
): (rows: readonly StoredBundle[]) => void {
  return (rows) => {
    for (const row of rows) {
      try {
        target.enqueue({
          client_id: row.client_id,
          agent_id: row.agent_id,
          seq: row.seq,
          bundle_id: row.bundle_id,
          sha256: row.sha256,
          created_at: row.created_at,
          body: typeof row.body === "string" ? Buffer.from(row.body, "utf8") : row.body,
        });
      } catch (e) {
        onError(toMspError(e), row);
      }
    }
  };
}

/** Largest object the general queue takes: its body waits in one SQLite row and goes up in one PUT. */
export const MAX_WORM_OBJECT_BYTES = 256 * 1024 * 1024;

/**
 * An object archived for another module: it has only its queue row. Bundles
 * and checkpoints are not queued this way, because `enqueue` and the
 * checkpoint run also record what they archive (their own tables, which
 * proofs and manifests read).
 */
export const WormObject = z.strictObject({
  client_id: ClinicId,
  kind: z.enum(["packet"]),
  /** Object key; see `checkObjectKey`. The caller derives it from data, so a retry targets the same key. */
  key: z.string(),
  body: z.instanceof(Buffer),
  content_type: z.string(),
  /** COMPLIANCE retention; must be in the future. */
  retain_until: z.date(),
});
export type WormObject = z.infer<typeof WormObject>;

/** The queue for objects other than bundles and checkpoints; see {@link createWormObjectQueue}. */
export interface WormObjectQueue {
  /**
   * Queues an object durably, due now (runs inside the caller's transaction if
   * any). `duplicate` when the key is already queued with the same content.
   * Throws `invalid_input`, `payload_too_large` or `conflict` (the key holds
   * other content), and then nothing is written.
   */
  enqueue(object: WormObject): EnqueueResult;
  /** Upload state and version id of a queued key; undefined when it was never queued. */
  state(key: string): { state: UploadState; version_id: string | null } | undefined;
}

/**
 * The general queue over the control plane's database, migrated with
 * `WORM_MIGRATIONS`. It needs no uploader: a process that only generates
 * (the `msp-cp packet` command) queues, and the running control plane's
 * uploader archives in enqueue order.
 */
export function createWormObjectQueue(db: Db, now: () => Date): WormObjectQueue {
  const queue = new WormQueue(db);
  const insert = db.transaction((o: WormObject, sha256: string, at: Date): EnqueueResult => {
    const prior = queue.objectByKey(o.key);
    if (prior !== undefined) {
      if (prior.sha256 === sha256) return { status: "duplicate", key: o.key };
      throw new MspError("conflict", `WORM object ${o.key} is already queued with different content`, {
        details: { key: o.key },
      });
    }
    queue.insertObject({
      client_id: o.client_id,
      kind: o.kind,
      object_key: o.key,
      sha256,
      content_type: o.content_type,
      retain_until: o.retain_until.toISOString(),
      body: o.body,
      enqueued_at: at,
    });
    return { status: "queued", key: o.key };
  });
  return {
    enqueue(object) {
      const o = parseWith(WormObject, object, "WORM object");
      if (o.body.length > MAX_WORM_OBJECT_BYTES) {
        throw new MspError(
          "payload_too_large",
          `WORM object ${o.key} exceeds ${MAX_WORM_OBJECT_BYTES} bytes`,
        );
      }
      const at = now();
      const sha256 = sha256Hex(o.body);
      // The same checks every adapter runs before a PUT, so nothing is queued that could never upload.
      checkPutRequest(
        { key: o.key, body: o.body, sha256, retainUntil: o.retain_until, contentType: o.content_type },
        at,
      );
      return insert(o, sha256, at);
    },
    state: (key) => queue.stateByKey(key),
  };
}
