/**
 * The daily per-clinic checkpoint: a signed statement "on this day, the
 * control plane received exactly these N bundles for this clinic", as the
 * RFC 6962 root over their hashes. Stored in WORM beside the bundles, it lets
 * an auditor prove evidence is complete (nothing removed or added after the
 * fact), not only that each bundle is unaltered.
 *
 * Leaves are the bundles' sha256 (bundleHash, 32 raw bytes each) ordered by
 * agent_id, then seq. The control-plane key signs the RFC 8785 canonical form
 * of the checkpoint without `signature`, the same way bundles are signed, so
 * one verifier (node:crypto or tweetnacl) covers both. It lives in the shared
 * package because the auditor's offline verifier checks it with public keys only.
 */
import { z } from "zod";
import { canonicalBytes } from "../canonical/index.js";
import { decodePublicKey, keyIdOf, type SigningKey, signBytes, verifyBytes } from "../crypto/index.js";
import { MspError } from "../errors/index.js";
import { BundleId } from "../protocol/bundle.js";
import { AgentId, ClinicId, Sha256, Signature, Timestamp } from "../protocol/common.js";
import { describeIssues } from "../protocol/parse.js";
import { merkleRoot } from "./index.js";

/** The format tag; a new layout gets a new tag rather than a silent change. */
export const CHECKPOINT_FORMAT = "msp-daily-checkpoint/1";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a YYYY-MM-DD day");

/** One agent's share of the day: how many bundles and which seq range. */
export const CheckpointAgent = z.strictObject({
  agent_id: AgentId,
  count: z.number().int().min(1),
  first_seq: z.number().int().min(1),
  last_seq: z.number().int().min(1),
});
export type CheckpointAgent = z.infer<typeof CheckpointAgent>;

const checkpointFields = {
  format: z.literal(CHECKPOINT_FORMAT),
  client_id: ClinicId,
  day: Day,
  bundle_count: z.number().int().min(0),
  /** RFC 6962 root, lower-case hex; sha256("") for a day without bundles. */
  root: Sha256,
  leaf_order: z.literal("agent_id,seq"),
  first_bundle_id: BundleId.nullable(),
  last_bundle_id: BundleId.nullable(),
  agents: z.array(CheckpointAgent),
  created_at: Timestamp,
};

/** A checkpoint before signing. */
export const UnsignedCheckpoint = z.strictObject(checkpointFields);
export type UnsignedCheckpoint = z.infer<typeof UnsignedCheckpoint>;

/** A signed checkpoint, as stored in WORM (canonical JSON). */
export const DailyCheckpoint = z.strictObject({
  ...checkpointFields,
  signature: Signature,
});
export type DailyCheckpoint = z.infer<typeof DailyCheckpoint>;

/** The RFC 6962 root over bundle hashes (lower-case hex), in hex. Throws `invalid_input` for a malformed hash. */
export function checkpointRoot(bundleHashes: readonly string[]): string {
  const leaves = bundleHashes.map((h, i) => {
    // Buffer.from would silently truncate bad hex, giving a root over different leaves.
    if (typeof h !== "string" || !SHA256_HEX.test(h)) {
      throw new MspError("invalid_input", `bundle hash ${i} is not 64 lower-case hex characters`);
    }
    return Buffer.from(h, "hex");
  });
  return merkleRoot(leaves).toString("hex");
}

/** The bytes the signature covers: the canonical checkpoint without `signature`. */
export function checkpointSigningBytes(cp: UnsignedCheckpoint | DailyCheckpoint): Buffer {
  const { signature: _omit, ...unsigned } = cp as DailyCheckpoint;
  return canonicalBytes(unsigned);
}

/** Validates and signs a checkpoint. Throws `invalid_input` when it does not match the schema. */
export function signCheckpoint(unsigned: UnsignedCheckpoint, key: SigningKey): DailyCheckpoint {
  const parsed = UnsignedCheckpoint.safeParse(unsigned);
  if (!parsed.success) {
    const first = describeIssues(parsed.error)[0];
    throw new MspError(
      "invalid_input",
      `checkpoint does not match the schema: ${first?.path}: ${first?.message}`,
      {
        details: { issues: describeIssues(parsed.error) },
      },
    );
  }
  const value = signBytes(key, checkpointSigningBytes(parsed.data)).toString("base64");
  return { ...parsed.data, signature: { alg: "ed25519", key_id: key.keyId, value } };
}

/** Why a checkpoint failed verification. */
export type CheckpointProblem =
  | "schema"
  | "key_mismatch"
  | "signature_invalid"
  | "root_mismatch"
  | "count_mismatch";

/** Outcome of {@link verifyCheckpoint}. */
export type CheckpointVerdict =
  | { ok: true; checkpoint: DailyCheckpoint }
  | { ok: false; problem: CheckpointProblem; message: string };

/**
 * Verifies a checkpoint against the control plane's public key and, when
 * given, the day's bundle hashes in leaf order (recomputing root and count).
 * Never throws for bad input: it returns what is wrong.
 */
export function verifyCheckpoint(
  value: unknown,
  controlPlanePublicKeyB64: string,
  bundleHashes?: readonly string[],
): CheckpointVerdict {
  const parsed = DailyCheckpoint.safeParse(value);
  if (!parsed.success) {
    const first = describeIssues(parsed.error)[0];
    return { ok: false, problem: "schema", message: `${first?.path}: ${first?.message}` };
  }
  const cp = parsed.data;
  let publicKey: Buffer;
  try {
    publicKey = decodePublicKey(controlPlanePublicKeyB64);
  } catch {
    return {
      ok: false,
      problem: "key_mismatch",
      message: "the control-plane public key is not valid base64",
    };
  }
  if (keyIdOf(publicKey) !== cp.signature.key_id) {
    return {
      ok: false,
      problem: "key_mismatch",
      message: `signed by key ${cp.signature.key_id}, not this key`,
    };
  }
  const sig = Buffer.from(cp.signature.value, "base64");
  if (!verifyBytes(controlPlanePublicKeyB64, checkpointSigningBytes(cp), sig)) {
    return { ok: false, problem: "signature_invalid", message: "checkpoint signature does not verify" };
  }
  if (bundleHashes !== undefined) {
    if (bundleHashes.length !== cp.bundle_count) {
      return {
        ok: false,
        problem: "count_mismatch",
        message: `checkpoint counts ${cp.bundle_count} bundles, ${bundleHashes.length} given`,
      };
    }
    if (!bundleHashes.every((h) => SHA256_HEX.test(h)) || checkpointRoot(bundleHashes) !== cp.root) {
      return {
        ok: false,
        problem: "root_mismatch",
        message: "the bundles do not hash to the checkpoint root",
      };
    }
  }
  return { ok: true, checkpoint: cp };
}
