/**
 * WORM evidence storage: the durable upload queue, the uploader that writes
 * bundles, daily checkpoints and packet files to write-once storage with
 * COMPLIANCE retention, and the two storage adapters (S3 Object Lock for
 * production, a local directory for the demo that is NOT tamper-proof).
 * The S3 adapter is imported from `./s3.js` directly, not through this index,
 * so `@aws-sdk/client-s3` loads only where S3 is used.
 */

export { checkBackoff, retryDelay, type UploadBackoff } from "./backoff.js";
export {
  type CheckpointRun,
  MAX_CHECKPOINT_DAYS_PER_RUN,
  queueCheckpoint,
  runCheckpoints,
} from "./checkpoint.js";
export {
  createWormObjectQueue,
  type EnqueueResult,
  MAX_WORM_OBJECT_BYTES,
  type StoredBundle,
  storedBundleSink,
  WormBundle,
  WormObject,
  type WormObjectQueue,
} from "./enqueue.js";
export {
  addYears,
  bundleObjectKey,
  checkpointObjectKey,
  checkRetentionYears,
  DEFAULT_RETENTION_YEARS,
  MAX_RETENTION_YEARS,
  utcDay,
} from "./keys.js";
export {
  createLocalWormStore,
  initLocalWormDir,
  LOCAL_WORM_MARKER,
  type LocalWormOptions,
} from "./local.js";
export { WORM_MIGRATIONS } from "./migrations.js";
export {
  BundleInclusionProof,
  createProofSource,
  type ProofSource,
  type ProofSourceOptions,
} from "./proof.js";
export { type ObjectKind, type UploadState, WormQueue } from "./queue.js";
export {
  checkObjectKey,
  checkPutRequest,
  type ObjectRetention,
  type ObjectStore,
  type PutObjectRequest,
  type RetentionMode,
  type StoredObject,
} from "./store.js";
export {
  createWormUploader,
  type PumpResult,
  type WormUploader,
  type WormUploaderOptions,
} from "./uploader.js";
