/**
 * The production {@link ObjectStore}: an S3 bucket with Object Lock, written
 * through `@aws-sdk/client-s3`. Every version is put with
 * `ObjectLockMode: COMPLIANCE`, so nobody (not even the account root) can
 * delete it or shorten its retention before `retainUntil`.
 *
 * Integrity on the wire is `Content-MD5`, which every S3 implementation checks
 * (Ceph RGW ignores the newer `ChecksumSHA256`); our own sha256 travels as
 * object metadata so idempotence and auditors can compare content. The SDK's
 * default flexible checksums are switched to WHEN_REQUIRED, because with them
 * on, streamed bodies to S3-compatible stores fail with 411 Length Required.
 *
 * The SDK does not retry (`maxAttempts: 1` by default): the uploader's durable
 * queue owns retries and backoff, so an outage is one failed attempt here and
 * a scheduled retry there, not minutes hidden inside one call.
 */
import { createHash } from "node:crypto";
import {
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { type Clock, MspError, systemClock } from "@msp/shared";
import {
  checkObjectKey,
  checkPutRequest,
  checkVersionId,
  type ObjectRetention,
  type ObjectStore,
  type PutObjectRequest,
  type StoredObject,
} from "./store.js";

/** Where the bucket is and how to reach it. */
export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** For S3-compatible stores (Ceph RGW, MinIO); omit for AWS. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which S3-compatible stores usually need. */
  forcePathStyle?: boolean;
  /** Omit to use the SDK's default chain (instance role, env, profile). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** SDK attempts per call; 1 because the upload queue retries with its own backoff. */
  maxAttempts?: number;
  /** Per-request timeout, ms. */
  requestTimeoutMs?: number;
  /** Used to refuse a retain-until date in the past. */
  clock?: Clock;
}

/** A client configured the way S3-compatible WORM stores need (see the module comment). */
export function createS3Client(opts: S3StoreOptions): S3Client {
  return new S3Client({
    region: opts.region,
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    forcePathStyle: opts.forcePathStyle ?? false,
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
    maxAttempts: opts.maxAttempts ?? 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { connectionTimeout: 5_000, requestTimeout: opts.requestTimeoutMs ?? 30_000 },
  });
}

/** Creates the S3 adapter; throws `config_invalid` for a bucket name S3 would reject. */
export function createS3ObjectStore(
  opts: S3StoreOptions,
  client: S3Client = createS3Client(opts),
): ObjectStore {
  const { bucket } = opts;
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new MspError("config_invalid", `invalid S3 bucket name ${JSON.stringify(bucket)}`);
  }
  const clock = opts.clock ?? systemClock;

  return {
    label: `s3://${bucket}`,
    tamperProof: true,

    async checkBucket() {
      let lock: string | undefined;
      try {
        const res = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
        lock = res.ObjectLockConfiguration?.ObjectLockEnabled;
      } catch (e) {
        if (errorName(e) !== "ObjectLockConfigurationNotFoundError")
          throw s3Error(e, "check Object Lock of", bucket);
      }
      if (lock !== "Enabled") {
        throw new MspError(
          "config_invalid",
          `bucket ${bucket} does not have Object Lock enabled; evidence there could be deleted, so the ` +
            "WORM uploader refuses it. Create the bucket with Object Lock (terraform/ WORM module).",
          { details: { bucket, objectLock: lock ?? "absent" } },
        );
      }
      let status: string | undefined;
      try {
        status = (await client.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
      } catch (e) {
        throw s3Error(e, "check versioning of", bucket);
      }
      if (status !== "Enabled") {
        throw new MspError(
          "config_invalid",
          `bucket ${bucket} has versioning ${status ?? "off"}; Object Lock needs it enabled`,
          { details: { bucket, versioning: status ?? "off" } },
        );
      }
    },

    async put(req: PutObjectRequest) {
      checkPutRequest(req, clock.now());
      let versionId: string | undefined;
      try {
        const res = await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: req.key,
            Body: req.body,
            ContentLength: req.body.length,
            ContentType: req.contentType,
            ContentMD5: createHash("md5").update(req.body).digest("base64"),
            Metadata: { sha256: req.sha256 },
            ObjectLockMode: "COMPLIANCE",
            ObjectLockRetainUntilDate: req.retainUntil,
          }),
        );
        versionId = res.VersionId;
      } catch (e) {
        throw s3Error(e, "put", `${bucket}/${req.key}`);
      }
      if (versionId === undefined || versionId === "" || versionId === "null") {
        throw new MspError("config_invalid", `bucket ${bucket} returned no version id; is versioning on?`);
      }
      return { versionId };
    },

    async head(key): Promise<StoredObject | null> {
      checkObjectKey(key);
      try {
        const res = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return {
          key,
          versionId: res.VersionId ?? "null",
          sha256: res.Metadata?.sha256 ?? null,
          size: res.ContentLength ?? 0,
        };
      } catch (e) {
        if (isNotFound(e)) return null;
        throw s3Error(e, "head", `${bucket}/${key}`);
      }
    },

    async get(key, versionId) {
      checkObjectKey(key);
      checkVersionId(versionId);
      try {
        const res = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
        );
        if (res.Body === undefined) return Buffer.alloc(0);
        return Buffer.from(await res.Body.transformToByteArray());
      } catch (e) {
        if (isNotFound(e)) return null;
        throw s3Error(e, "get", `${bucket}/${key}`);
      }
    },

    async retention(key, versionId): Promise<ObjectRetention | null> {
      checkObjectKey(key);
      checkVersionId(versionId);
      try {
        const res = await client.send(
          new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
        );
        const mode = res.Retention?.Mode;
        const until = res.Retention?.RetainUntilDate;
        if ((mode !== "COMPLIANCE" && mode !== "GOVERNANCE") || until === undefined) return null;
        return { mode, retainUntil: new Date(until) };
      } catch (e) {
        if (isNotFound(e) || errorName(e) === "NoSuchObjectLockConfiguration") return null;
        throw s3Error(e, "read retention of", `${bucket}/${key}`);
      }
    },
  };
}

function errorName(e: unknown): string | undefined {
  return typeof e === "object" && e !== null ? (e as { name?: string }).name : undefined;
}

function httpStatus(e: unknown): number | undefined {
  return typeof e === "object" && e !== null
    ? (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    : undefined;
}

// A HEAD of a missing object has no body, so only its 404 says "not found"; a missing bucket is not that.
function isNotFound(e: unknown): boolean {
  const name = errorName(e);
  if (name === "NoSuchBucket") return false;
  return name === "NotFound" || name === "NoSuchKey" || name === "NoSuchVersion" || httpStatus(e) === 404;
}

/**
 * Maps an SDK failure to an `MspError` whose `retryable` flag drives the
 * upload queue: no HTTP answer (refused, reset, timeout) and 5xx are outages
 * worth retrying; 4xx are answers that will not change by waiting.
 */
export function s3Error(e: unknown, action: string, what: string): MspError {
  const status = httpStatus(e);
  const name = errorName(e) ?? "Error";
  const details = { s3Error: name, ...(status === undefined ? {} : { httpStatus: status }) };
  if (status === undefined || status >= 500) {
    return new MspError("unavailable", `S3 unavailable: cannot ${action} ${what} (${name})`, {
      cause: e,
      details,
    });
  }
  if (status === 429) {
    return new MspError("rate_limited", `S3 throttled: cannot ${action} ${what}`, { cause: e, details });
  }
  if (status === 403) {
    return new MspError("forbidden", `S3 denied: cannot ${action} ${what} (${name})`, { cause: e, details });
  }
  if (name === "BadDigest" || name === "InvalidDigest") {
    return new MspError("integrity_mismatch", `S3 refused ${what}: content digest mismatch`, {
      cause: e,
      details,
    });
  }
  if (name === "NoSuchBucket") {
    return new MspError("config_invalid", `S3 bucket of ${what} does not exist`, { cause: e, details });
  }
  return new MspError("internal", `S3 refused: cannot ${action} ${what} (${name} ${status})`, {
    cause: e,
    details,
  });
}
