/**
 * S3 calls the uploader must never make, for the tests and the benchmark that
 * prove the bucket refuses them: creating buckets (production buckets come
 * from the Terraform module), deleting a locked version, shortening its
 * retention, and writing a version with no lock at all (what an auditor's
 * check must catch). It lives beside the adapter because the test workspace does not
 * depend on the AWS SDK itself.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { type MspError, toMspError } from "@msp/shared";
import { s3Error } from "./s3.js";

/** Creates a bucket, with Object Lock (which also turns versioning on) or without. */
export async function createTestBucket(client: S3Client, bucket: string, objectLock: boolean): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: objectLock }));
  } catch (e) {
    throw s3Error(e, "create bucket", bucket);
  }
}

/** Every version id of `key`, newest first. */
export async function listVersionIds(client: S3Client, bucket: string, key: string): Promise<string[]> {
  try {
    const res = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
    return (res.Versions ?? []).filter((v) => v.Key === key).map((v) => v.VersionId ?? "null");
  } catch (e) {
    throw s3Error(e, "list versions of", `${bucket}/${key}`);
  }
}

/** Tries to delete one version; resolves to the refusal, or null if S3 allowed it. */
export async function tryDeleteVersion(
  client: S3Client,
  bucket: string,
  key: string,
  versionId: string,
): Promise<MspError | null> {
  try {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    return null;
  } catch (e) {
    return toMspError(s3Error(e, "delete", `${bucket}/${key}`));
  }
}

/**
 * Tries to move a version's retention to `retainUntil` in `mode`, asking for
 * the governance bypass too; resolves to the refusal, or null if S3 allowed it.
 */
export async function tryChangeRetention(
  client: S3Client,
  bucket: string,
  key: string,
  versionId: string,
  mode: "COMPLIANCE" | "GOVERNANCE",
  retainUntil: Date,
): Promise<MspError | null> {
  try {
    await client.send(
      new PutObjectRetentionCommand({
        Bucket: bucket,
        Key: key,
        VersionId: versionId,
        BypassGovernanceRetention: true,
        Retention: { Mode: mode, RetainUntilDate: retainUntil },
      }),
    );
    return null;
  } catch (e) {
    return toMspError(s3Error(e, "change retention of", `${bucket}/${key}`));
  }
}

/** Writes a version with no Object Lock retention (the bucket has no default rule); returns its version id. */
export async function putUnlockedVersion(
  client: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
): Promise<string> {
  try {
    const res = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    return res.VersionId ?? "null";
  } catch (e) {
    throw s3Error(e, "put an unlocked version of", `${bucket}/${key}`);
  }
}
