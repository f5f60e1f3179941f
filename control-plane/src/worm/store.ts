/**
 * The one narrow interface the WORM uploader needs from write-once storage,
 * owned here by its caller. Two adapters implement it: S3 Object Lock
 * (`s3.ts`, production) and a local directory (`local.ts`, demo only, NOT
 * tamper-proof). A shared case suite in `test/worm/` runs against both.
 *
 * The interface has no delete and no way to change retention on purpose: the
 * uploader must not be able to undo what it wrote, whatever the storage allows.
 */
import { createHash } from "node:crypto";
import { MspError } from "@msp/shared";

/** The S3 Object Lock modes; the uploader only ever writes COMPLIANCE. */
export type RetentionMode = "COMPLIANCE" | "GOVERNANCE";

/** One object to write, locked in COMPLIANCE mode until `retainUntil`. */
export interface PutObjectRequest {
  /** Object key, see {@link checkObjectKey}. */
  key: string;
  body: Buffer;
  /** Lower-case hex sha256 of `body`, stored as metadata so idempotence can compare content. */
  sha256: string;
  retainUntil: Date;
  contentType: string;
}

/** What a HEAD of the newest version says. */
export interface StoredObject {
  key: string;
  versionId: string;
  /** Our sha256 metadata; null for an object some other writer put there without it. */
  sha256: string | null;
  size: number;
}

/** An object version's retention, as read back from the storage. */
export interface ObjectRetention {
  mode: RetentionMode;
  retainUntil: Date;
}

/** Write-once object storage with retention. Every failure is an `MspError`. */
export interface ObjectStore {
  /** For logs: `s3://bucket` or `local-dir:/path (NOT tamper-proof)`. */
  readonly label: string;
  /** False for the local directory: logs and docs must say so. */
  readonly tamperProof: boolean;
  /**
   * Resolves when the storage enforces retention (Object Lock enabled and
   * versioning on); throws `config_invalid` when it does not, so the control
   * plane refuses to start rather than write evidence that can be deleted.
   */
  checkBucket(): Promise<void>;
  /** Writes a new version and returns its id. Throws `invalid_input` for a bad request. */
  put(req: PutObjectRequest): Promise<{ versionId: string }>;
  /** The newest version of `key`, or null when there is none. */
  head(key: string): Promise<StoredObject | null>;
  /** The bytes of a version (the newest by default), or null when absent. */
  get(key: string, versionId?: string): Promise<Buffer | null>;
  /** The retention of a version (the newest by default), or null when absent or unlocked. */
  retention(key: string, versionId?: string): Promise<ObjectRetention | null>;
}

// Segments of lower-case slugs, dates, digits and the bundle-id alphabet; no "." or ".." segment,
// so a key is also a safe relative path for the local adapter.
const KEY_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_KEY_CHARS = 512;

/** Throws `invalid_input` unless `key` is 1-16 `/`-separated segments of `[A-Za-z0-9._-]`. */
export function checkObjectKey(key: string): void {
  const segments = typeof key === "string" ? key.split("/") : [];
  const ok =
    typeof key === "string" &&
    key.length <= MAX_KEY_CHARS &&
    segments.length >= 1 &&
    segments.length <= 16 &&
    segments.every((s) => KEY_SEGMENT.test(s) && !/^\.+$/.test(s));
  if (!ok) throw new MspError("invalid_input", `invalid object key ${JSON.stringify(key)}`);
}

/** Throws `invalid_input` for a version id no adapter would produce (empty, too long, path characters). */
export function checkVersionId(versionId: string | undefined): void {
  if (versionId === undefined) return;
  if (
    typeof versionId !== "string" ||
    !/^[A-Za-z0-9._-]{1,1024}$/.test(versionId) ||
    /^\.+$/.test(versionId)
  ) {
    throw new MspError("invalid_input", `invalid version id ${JSON.stringify(versionId)}`);
  }
}

// A media type with optional parameters (`text/html; charset=utf-8`), nothing that could split a header.
const CONTENT_TYPE = /^[a-z]+\/[a-z0-9.+-]+(; ?[a-z0-9-]+=[A-Za-z0-9._-]+)*$/;

/**
 * Validates a put before any byte is written, the same way for every adapter:
 * key shape, sha256 shape, body matching its sha256 (`integrity_mismatch`),
 * and a retain-until date in the future of `now`.
 */
export function checkPutRequest(req: PutObjectRequest, now: Date): void {
  checkObjectKey(req.key);
  if (!Buffer.isBuffer(req.body)) throw new MspError("invalid_input", "object body must be a Buffer");
  if (typeof req.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(req.sha256)) {
    throw new MspError("invalid_input", "sha256 must be 64 lower-case hex characters");
  }
  if (typeof req.contentType !== "string" || !CONTENT_TYPE.test(req.contentType)) {
    throw new MspError("invalid_input", `invalid content type ${JSON.stringify(req.contentType)}`);
  }
  if (!(req.retainUntil instanceof Date) || Number.isNaN(req.retainUntil.getTime())) {
    throw new MspError("invalid_input", "retainUntil must be a valid date");
  }
  if (req.retainUntil.getTime() <= now.getTime()) {
    throw new MspError("invalid_input", `retainUntil ${req.retainUntil.toISOString()} is not in the future`);
  }
  const actual = createHash("sha256").update(req.body).digest("hex");
  if (actual !== req.sha256) {
    throw new MspError("integrity_mismatch", `object ${req.key} body does not match its sha256`, {
      details: { key: req.key, expected: req.sha256, actual },
    });
  }
}
