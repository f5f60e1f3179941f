/**
 * The WORM uploader: ingest hands it each stored bundle (`enqueue`, a
 * synchronous SQLite insert that can share ingest's own transaction), and a
 * loop uploads the queue to an {@link ObjectStore} in enqueue order, with
 * COMPLIANCE retention of bundle time + retention years.
 *
 * Uploads are idempotent: before writing, the uploader HEADs the key; if the
 * newest version already carries the same sha256 (a crash after the PUT but
 * before the queue recorded it), that version is recorded and no second one
 * is made. A different sha256 under the key is never overwritten.
 *
 * Failures: a retryable error (S3 unreachable, 5xx, throttled) stops the pass
 * and retries the same object after exponential backoff with jitter, because
 * an outage hits every object alike and skipping ahead would reorder
 * evidence. A non-retryable one marks that object `failed` (kept with its body
 * for an operator; see `requeueFailed`) and the queue moves on.
 */
import { type Clock, type Logger, MspError, type SigningKey, silentLogger, toMspError } from "@msp/shared";
import type { Db } from "../db/index.js";
import { checkBackoff, retryDelay, type UploadBackoff } from "./backoff.js";
import { type CheckpointRun, runCheckpoints } from "./checkpoint.js";
import {
  createWormObjectQueue,
  type EnqueueResult,
  makeEnqueue,
  type WormBundle,
  type WormObject,
} from "./enqueue.js";
import { checkRetentionYears, DEFAULT_RETENTION_YEARS } from "./keys.js";
import { createProofSource, type ProofSource } from "./proof.js";
import { type QueuedObject, type UploadState, WormQueue } from "./queue.js";
import type { ObjectStore } from "./store.js";

/** Options of {@link createWormUploader}. */
export interface WormUploaderOptions {
  /** The control-plane database, migrated with `WORM_MIGRATIONS`. */
  db: Db;
  store: ObjectStore;
  clock: Clock;
  /** Signs the daily checkpoints: the control-plane ed25519 key. */
  signingKey: SigningKey;
  /** Whole years of COMPLIANCE retention after the bundle's time; default 6 (HIPAA 164.316(b)(2)(i)). */
  retentionYears?: number;
  /** Default 1 s doubling to 5 min. */
  backoff?: UploadBackoff;
  /** How long the loop sleeps when the queue is empty and nothing wakes it; default 30 s. */
  idleMs?: number;
  /** Jitter source in [0, 1); injected so tests are deterministic. */
  random?: () => number;
  log?: Logger;
}

/** What one `pump` pass did. */
export interface PumpResult {
  uploaded: number;
  failed: number;
  /** When the head of the queue may be retried; null when the queue is empty. */
  retryAt: Date | null;
}

/** The uploader; see the module comment. It also answers inclusion proofs over what it archived. */
export interface WormUploader extends ProofSource {
  /**
   * Refuses storage without Object Lock and versioning (`config_invalid`).
   * `start` and `pump` run it themselves until it has passed once, so nothing
   * is ever written to storage that was not checked.
   */
  checkStorage(): Promise<void>;
  /** Queues a bundle durably; idempotent; throws `invalid_input`, `payload_too_large`, `integrity_mismatch` or `conflict`. */
  enqueue(bundle: WormBundle): EnqueueResult;
  /**
   * Queues another module's object (a packet file) durably and wakes the loop;
   * see `createWormObjectQueue`. Throws `invalid_input`, `payload_too_large` or `conflict`.
   */
  enqueueObject(object: WormObject): EnqueueResult;
  /**
   * Uploads every due object in order until the queue is empty or an attempt
   * must wait. Throws `config_invalid` when the storage fails its check.
   */
  pump(): Promise<PumpResult>;
  /** Queues checkpoints for finished days (also done by the loop). */
  checkpoint(): CheckpointRun;
  /**
   * Checks the storage, then starts the background loop (checkpoints, pump,
   * sleep). Rejects with `config_invalid` for storage without Object Lock: the
   * control plane must refuse to run. Storage that is merely unreachable does
   * not stop startup; the loop checks it again before its first upload.
   */
  start(): Promise<void>;
  /** Stops the loop after the attempt in flight; safe to call twice. */
  stop(): Promise<void>;
  /** Objects per state. */
  counts(): Record<UploadState, number>;
  /** Puts `failed` objects back in the queue (after an operator fixed the cause); returns how many. */
  requeueFailed(): number;
  /** The version id recorded for a key, or null while it is not uploaded. */
  versionOf(key: string): string | null;
}

const SLEEP_SLICE_MS = 1_000;
const DEFAULT_BACKOFF: UploadBackoff = { initialMs: 1_000, maxMs: 5 * 60_000 };

/** Creates the uploader. Throws `config_invalid` for bad options. */
export function createWormUploader(opts: WormUploaderOptions): WormUploader {
  const retentionYears = opts.retentionYears ?? DEFAULT_RETENTION_YEARS;
  checkRetentionYears(retentionYears);
  const backoff = opts.backoff ?? DEFAULT_BACKOFF;
  checkBackoff(backoff);
  const idleMs = opts.idleMs ?? 30_000;
  if (!Number.isFinite(idleMs) || idleMs <= 0)
    throw new MspError("config_invalid", "idleMs must be positive");
  const { clock, store } = opts;
  const random = opts.random ?? Math.random;
  const log = opts.log ?? silentLogger;
  const queue = new WormQueue(opts.db);
  const enqueue = makeEnqueue(queue, retentionYears, () => clock.now());
  const objects = createWormObjectQueue(opts.db, () => clock.now());
  const proofs = createProofSource({ db: opts.db, store, clock });

  let pumping: Promise<PumpResult> | null = null;
  let verified = false;
  let checkAttempts = 0;
  let running: Promise<void> | null = null;
  let stopping = false;
  let wake: (() => void) | null = null;
  // Counts enqueues, so one that lands while a pass runs is not left waiting for the idle timer.
  let pokes = 0;
  const poke = () => {
    pokes++;
    wake?.();
  };

  async function uploadOne(row: QueuedObject): Promise<string> {
    if (row.body === null) throw new MspError("internal", `queued object ${row.object_key} has no body`);
    const existing = await store.head(row.object_key);
    if (existing !== null) {
      if (existing.sha256 === row.sha256) return existing.versionId;
      throw new MspError(
        "integrity_mismatch",
        `${store.label} already holds ${row.object_key} with different content; not writing a second version`,
        { details: { key: row.object_key, expected: row.sha256, found: existing.sha256 } },
      );
    }
    const { versionId } = await store.put({
      key: row.object_key,
      body: row.body,
      sha256: row.sha256,
      retainUntil: new Date(row.retain_until),
      contentType: row.content_type,
    });
    return versionId;
  }

  async function checkStorage(): Promise<void> {
    await store.checkBucket();
    if (!verified && !store.tamperProof) {
      log.log("warn", "WORM storage is NOT tamper-proof; use S3 Object Lock for real evidence", {
        store: store.label,
      });
    }
    verified = true;
    checkAttempts = 0;
  }

  async function pumpOnce(): Promise<PumpResult> {
    let uploaded = 0;
    let failed = 0;
    if (!verified) {
      try {
        await checkStorage();
      } catch (e) {
        const err = toMspError(e);
        if (!err.retryable) throw err;
        const delay = retryDelay(checkAttempts++, backoff, random);
        log.log("warn", "WORM storage unreachable; will check again", {
          retryInMs: delay,
          error: err.message,
        });
        return { uploaded, failed, retryAt: new Date(clock.now().getTime() + delay) };
      }
    }
    for (;;) {
      const row = queue.head();
      if (row === undefined) return { uploaded, failed, retryAt: null };
      if (row.next_attempt_at > clock.now().getTime()) {
        return { uploaded, failed, retryAt: new Date(row.next_attempt_at) };
      }
      try {
        const versionId = await uploadOne(row);
        queue.markUploaded(row.id, versionId, clock.now());
        uploaded++;
        log.log("debug", "WORM object uploaded", { key: row.object_key, versionId, store: store.label });
      } catch (e) {
        const err = toMspError(e);
        if (err.retryable) {
          const delay = retryDelay(row.attempts, backoff, random);
          const at = clock.now().getTime() + delay;
          queue.markRetry(row.id, at, err.message);
          log.log("warn", "WORM upload failed; will retry", {
            key: row.object_key,
            attempt: row.attempts + 1,
            retryInMs: delay,
            error: err.message,
          });
          return { uploaded, failed, retryAt: new Date(at) };
        }
        queue.markFailed(row.id, err.message);
        failed++;
        log.log("error", "WORM upload failed permanently; kept for an operator", {
          key: row.object_key,
          code: err.code,
          error: err.message,
        });
      }
    }
  }

  function pump(): Promise<PumpResult> {
    // One pass at a time: two passes would upload the same head object twice.
    if (pumping === null) {
      pumping = pumpOnce().finally(() => {
        pumping = null;
      });
    }
    return pumping;
  }

  function checkpoint(): CheckpointRun {
    const run = runCheckpoints(queue, opts.signingKey, clock.now(), retentionYears);
    if (run.created.length > 0) log.log("info", "WORM checkpoints queued", { checkpoints: run.created });
    return run;
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      let waitMs = idleMs;
      const seen = pokes;
      try {
        checkpoint();
        const result = await pump();
        if (result.retryAt !== null) waitMs = Math.max(0, result.retryAt.getTime() - clock.now().getTime());
      } catch (e) {
        const err = toMspError(e);
        if (err.code === "config_invalid") {
          // Storage that fails its check must not be written to; the queue keeps everything.
          log.log("error", "WORM uploader stopped: storage refused", { error: err.message });
          break;
        }
        log.log("error", "WORM upload loop error", { error: err.message });
      }
      if (stopping) break;
      if (pokes !== seen && waitMs === idleMs) continue;
      await sleepUnlessWoken(waitMs);
    }
  }

  // Sleeps in slices no longer than a second, so a wake (enqueue, stop) is seen
  // promptly and no long timer outlives stop() to hold the process open.
  async function sleepUnlessWoken(ms: number): Promise<void> {
    const deadline = clock.now().getTime() + ms;
    let woken = false;
    const woke = new Promise<void>((resolve) => {
      wake = () => {
        woken = true;
        resolve();
      };
    });
    for (let left = ms; !woken && !stopping && left > 0; left = deadline - clock.now().getTime()) {
      await Promise.race([woke, clock.sleep(Math.min(left, SLEEP_SLICE_MS))]);
    }
    wake = null;
  }

  return {
    checkStorage,
    enqueue(bundle) {
      const result = enqueue(bundle);
      if (result.status === "queued") poke();
      return result;
    },
    enqueueObject(object) {
      const result = objects.enqueue(object);
      if (result.status === "queued") poke();
      return result;
    },
    pump,
    checkpoint,
    async start() {
      if (running !== null) return;
      try {
        await checkStorage();
      } catch (e) {
        const err = toMspError(e);
        if (!err.retryable) throw err;
        log.log("warn", "WORM storage unreachable at startup; uploads wait for it", { error: err.message });
      }
      if (running !== null) return;
      stopping = false;
      running = loop().finally(() => {
        running = null;
      });
    },
    async stop() {
      stopping = true;
      wake?.();
      await running;
      running = null;
    },
    counts: () => queue.counts(),
    requeueFailed() {
      const n = queue.requeueFailed(clock.now());
      if (n > 0) poke();
      return n;
    },
    versionOf: (key) => queue.objectByKey(key)?.version_id ?? null,
    proof: (clientId, agentId, seq) => proofs.proof(clientId, agentId, seq),
  };
}
