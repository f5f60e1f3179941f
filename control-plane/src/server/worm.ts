/**
 * Builds the WORM uploader from the config and closes the one gap between
 * ingest and WORM: ingest enqueues after its commit, so a crash between the
 * two could leave a stored bundle unqueued. At every start, stored bundles
 * with no WORM row are enqueued again (enqueue is idempotent).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  type Clock,
  type ControlPlaneConfig,
  type Logger,
  readSecretFile,
  type SigningKey,
} from "@msp/shared";
import type { Db } from "../db/index.js";
import {
  createLocalWormStore,
  createWormUploader,
  initLocalWormDir,
  LOCAL_WORM_MARKER,
  type ObjectStore,
  type WormUploader,
} from "../worm/index.js";

/** The configured object store (local demo directory or S3 Object Lock). */
export async function objectStoreOf(
  config: ControlPlaneConfig,
  clock: Clock,
  logger: Logger,
): Promise<ObjectStore> {
  const worm = config.worm;
  if (worm.kind === "local") {
    if (!existsSync(join(worm.dir, LOCAL_WORM_MARKER))) await initLocalWormDir(worm.dir);
    logger.log("warn", "WORM storage is a local directory: NOT tamper-proof, for demos only", {
      dir: worm.dir,
    });
    return createLocalWormStore({ dir: worm.dir, clock, log: logger });
  }
  const credentials =
    worm.access_key_id_file && worm.secret_access_key_file
      ? {
          accessKeyId: readSecretFile(worm.access_key_id_file, "S3 access key id"),
          secretAccessKey: readSecretFile(worm.secret_access_key_file, "S3 secret access key"),
        }
      : undefined;
  // Loaded only for S3: the SDK costs every msp-cp command ~0.6 s at startup otherwise.
  const { createS3ObjectStore } = await import("../worm/s3.js");
  return createS3ObjectStore({
    bucket: worm.bucket,
    region: worm.region,
    forcePathStyle: worm.force_path_style,
    clock,
    ...(worm.endpoint ? { endpoint: worm.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

/** Creates the uploader and re-queues stored bundles that never reached the WORM queue. */
export async function createWorm(options: {
  config: ControlPlaneConfig;
  db: Db;
  clock: Clock;
  logger: Logger;
  signingKey: SigningKey;
}): Promise<WormUploader> {
  const store = await objectStoreOf(options.config, options.clock, options.logger);
  const uploader = createWormUploader({
    db: options.db,
    store,
    clock: options.clock,
    signingKey: options.signingKey,
    retentionYears: options.config.retention_years,
    log: options.logger,
  });
  const missing = options.db
    .prepare<
      [],
      {
        client_id: string;
        agent_id: string;
        seq: number;
        bundle_id: string;
        sha256: string;
        created_at: string;
        body: string;
      }
    >(
      `SELECT e.client_id, e.agent_id, e.seq, e.bundle_id, e.sha256, e.created_at, e.body
       FROM evidence_bundles e
       LEFT JOIN worm_bundles w ON w.client_id = e.client_id AND w.agent_id = e.agent_id AND w.seq = e.seq
       WHERE w.seq IS NULL ORDER BY e.id`,
    )
    .all();
  for (const row of missing) uploader.enqueue({ ...row, body: Buffer.from(row.body, "utf8") });
  if (missing.length > 0)
    options.logger.log("info", "re-queued stored bundles for WORM upload", { count: missing.length });
  return uploader;
}
