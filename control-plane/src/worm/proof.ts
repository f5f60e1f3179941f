/**
 * Inclusion proofs per bundle: "this bundle is leaf i of the signed daily
 * checkpoint of its clinic and day", as the RFC 6962 audit path from the
 * bundle's hash to the checkpoint's root. With the checkpoint's signature
 * (the control-plane key) and `verifyInclusion` from `@msp/shared`, anyone
 * holding one bundle can prove it was part of a day's complete record
 * without being given the day's other bundles.
 *
 * The checkpoint is served exactly as stored in WORM (read back from the
 * object store once the queue has dropped its body), never re-signed, and a
 * proof is checked against it before it is returned: the server never hands
 * out a proof that does not verify.
 */
import {
  AgentId,
  BundleId,
  ClinicId,
  type Clock,
  DailyCheckpoint,
  inclusionProof,
  MspError,
  merkleLeafHash,
  parseWith,
  Sha256,
  sha256Hex,
  verifyInclusion,
} from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";
import { checkpointObjectKey, nextDay } from "./keys.js";
import { WormQueue } from "./queue.js";
import type { ObjectStore } from "./store.js";

/** The proof of one bundle, as `GET /v1/clinics/{clinic_id}/evidence/{agent_id}/{seq}/proof` answers it. */
export const BundleInclusionProof = z.strictObject({
  client_id: ClinicId,
  agent_id: AgentId,
  seq: z.number().int().min(1),
  bundle_id: BundleId,
  /** The UTC day whose checkpoint covers the bundle (the day it was filed under). */
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  /** The leaf: the bundle's sha256 (bundleHash), which `verifyInclusion` takes as 32 raw bytes. */
  leaf: Sha256,
  /** RFC 6962 leaf hash sha256(0x00 || leaf), the first node of the path. */
  leaf_hash: Sha256,
  /** Position in the day's leaf order (agent_id, then seq), from 0. */
  leaf_index: z.number().int().min(0),
  /** Number of leaves: the checkpoint's `bundle_count`. */
  tree_size: z.number().int().min(1),
  /** Sibling hashes from the leaf up to the root (RFC 6962 PATH), lower-case hex. */
  audit_path: z.array(Sha256),
  /** The signed daily checkpoint whose `root` the path ends in, as stored in WORM. */
  checkpoint: DailyCheckpoint,
  /** Where that checkpoint is stored; `version_id` is null while its upload is pending. */
  checkpoint_object: z.strictObject({ key: z.string(), version_id: z.string().nullable() }),
});
export type BundleInclusionProof = z.infer<typeof BundleInclusionProof>;

/** Builds inclusion proofs; the narrow interface the evidence routes take. */
export interface ProofSource {
  /**
   * The proof of bundle `seq` of `agentId` in clinic `clientId`. Throws
   * `not_found` for a bundle not in the WORM queue, `conflict` (retryable,
   * `details.status: "checkpoint_pending"`) while its day is not
   * checkpointed, `integrity_mismatch` when the stored checkpoint does not
   * match the queue, and the store's errors (`unavailable`) when WORM cannot
   * be read.
   */
  proof(clientId: string, agentId: string, seq: number): Promise<BundleInclusionProof>;
}

/** Options of {@link createProofSource}. */
export interface ProofSourceOptions {
  /** The control-plane database, migrated with `WORM_MIGRATIONS`. */
  db: Db;
  /** Where uploaded checkpoints are read back from. */
  store: Pick<ObjectStore, "get">;
  /** For the Retry-After of a pending checkpoint. */
  clock: Clock;
}

const Lookup = z.strictObject({
  clientId: ClinicId,
  agentId: AgentId,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

/** Creates the proof source over the WORM queue's tables. */
export function createProofSource(opts: ProofSourceOptions): ProofSource {
  const queue = new WormQueue(opts.db);
  return {
    async proof(clientId, agentId, seq) {
      const q = parseWith(Lookup, { clientId, agentId, seq }, "proof request");
      const row = queue.bundle(q.clientId, q.agentId, q.seq);
      if (row === undefined) {
        throw new MspError("not_found", `bundle ${q.agentId}#${q.seq} is not in the WORM archive`);
      }
      const day = row.received_day;
      const cp = queue.checkpoint(q.clientId, day);
      if (cp === undefined) {
        const due = new Date(`${nextDay(day)}T00:00:00.000Z`);
        const wait = Math.max(1, Math.ceil((due.getTime() - opts.clock.now().getTime()) / 1000));
        throw new MspError(
          "conflict",
          `the checkpoint of ${day} is not built yet: a day is checkpointed once it is over (UTC), from ${due.toISOString()}`,
          { retryable: true, retryAfterSeconds: wait, details: { status: "checkpoint_pending", day } },
        );
      }
      const leaves = queue.dayBundles(q.clientId, day);
      const index = leaves.findIndex((l) => l.agent_id === q.agentId && l.seq === q.seq);
      if (index < 0 || leaves.length !== cp.bundle_count) {
        throw new MspError(
          "integrity_mismatch",
          `the WORM queue no longer matches the checkpoint of ${day} (${leaves.length} bundles, checkpoint ${cp.bundle_count})`,
        );
      }
      const { checkpoint, object } = await readCheckpoint(queue, opts.store, q.clientId, day);
      const leafBytes = leaves.map((l) => Buffer.from(l.sha256, "hex"));
      const path = inclusionProof(leafBytes, index);
      const leaf = leafBytes[index] as Buffer;
      const claim = {
        leaf,
        index,
        treeSize: leaves.length,
        proof: path,
        root: Buffer.from(checkpoint.root, "hex"),
      };
      if (checkpoint.bundle_count !== leaves.length || !verifyInclusion(claim)) {
        throw new MspError(
          "integrity_mismatch",
          `bundle ${q.agentId}#${q.seq} does not verify against the stored checkpoint of ${day}`,
        );
      }
      return {
        client_id: q.clientId,
        agent_id: q.agentId,
        seq: q.seq,
        bundle_id: row.bundle_id,
        day,
        leaf: row.sha256,
        leaf_hash: merkleLeafHash(leaf).toString("hex"),
        leaf_index: index,
        tree_size: leaves.length,
        audit_path: path.map((p) => p.toString("hex")),
        checkpoint,
        checkpoint_object: object,
      };
    },
  };
}

/** The signed checkpoint: the queued body while pending, else read back from WORM and checked against its sha256. */
async function readCheckpoint(
  queue: WormQueue,
  store: Pick<ObjectStore, "get">,
  clientId: string,
  day: string,
): Promise<{ checkpoint: DailyCheckpoint; object: { key: string; version_id: string | null } }> {
  const key = checkpointObjectKey(clientId, day);
  const obj = queue.objectByKey(key);
  if (obj === undefined) throw new MspError("internal", `checkpoint object ${key} is not in the WORM queue`);
  let body = obj.body;
  if (body === null && obj.version_id !== null) body = await store.get(key, obj.version_id);
  if (body === null) {
    throw new MspError(
      "integrity_mismatch",
      `checkpoint ${key} version ${obj.version_id} is missing from WORM`,
    );
  }
  if (sha256Hex(body) !== obj.sha256) {
    throw new MspError("integrity_mismatch", `checkpoint ${key} in WORM does not match its recorded sha256`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString("utf8"));
  } catch (e) {
    throw new MspError("integrity_mismatch", `checkpoint ${key} is not JSON`, { cause: e });
  }
  const checkpoint = DailyCheckpoint.safeParse(raw);
  if (!checkpoint.success) throw new MspError("integrity_mismatch", `checkpoint ${key} does not parse`);
  return { checkpoint: checkpoint.data, object: { key, version_id: obj.version_id } };
}
