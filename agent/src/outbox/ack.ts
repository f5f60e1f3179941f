/**
 * Checking a control-plane ack before it may delete anything.
 *
 * An ack is the only thing that removes evidence from the outbox, so it is
 * treated like any other untrusted input: parsed, its signature verified with
 * the pinned control-plane key over the RFC 8785 canonical receipt, and its
 * identity compared with ours. The checks that need the database (seq range,
 * head hash) run in `index.ts` inside the deleting transaction.
 */
import { AckFrame, canonicalBytes, describeIssues, type Receipt, verifyBytes } from "@msp/shared";
import type Database from "better-sqlite3";
import type { z } from "zod";
import { belowLowWater, type OutboxAlert } from "./policy.js";
import { readMeta, type Statements } from "./store.js";

/** An ack frame as the shared schema defines it. */
export type AckFrameValue = z.infer<typeof AckFrame>;

/** Why an ack was refused. Every refusal leaves the outbox unchanged. */
export type AckRefusal =
  /** The frame does not match the AckFrame schema. */
  | "malformed"
  /** Signed by a key other than the pinned control-plane key. */
  | "key_mismatch"
  /** The signature does not verify over the canonical receipt. */
  | "signature_invalid"
  /** The receipt names another agent or clinic. */
  | "wrong_agent"
  /** The receipt covers seqs this outbox never produced. */
  | "beyond_head"
  /** The receipt is older than an ack already applied; it cannot be bound to a bundle we still hold. */
  | "stale"
  /** head_hash is not the hash of our bundle at up_to_seq: the server holds another chain. */
  | "head_mismatch";

/** Outcome of `Outbox.applyAck`. */
export type AckResult =
  | { ok: true; acked_seq: number; deleted: number; freed_bytes: number }
  | { ok: false; refusal: AckRefusal; message: string };

/** A refusal value (not an exception: a bad ack is an expected input, not a failure of ours). */
export function refuse(refusal: AckRefusal, message: string): AckResult & { ok: false } {
  return { ok: false, refusal, message };
}

/** Who the receipt must name and which key must have signed it. */
export interface AckTrust {
  agent_id: string;
  client_id: string;
  controlPlanePublicKey: string;
  controlPlaneKeyId: string;
}

/**
 * Parses the frame and checks everything that does not depend on the stored
 * chain: schema, signing key, signature and identity.
 */
export function checkAckFrame(
  frame: unknown,
  trust: AckTrust,
): { ok: true; receipt: Receipt } | (AckResult & { ok: false }) {
  const parsed = AckFrame.safeParse(frame);
  if (!parsed.success) {
    const first = describeIssues(parsed.error)[0];
    return refuse("malformed", `ack frame is malformed: ${first?.path}: ${first?.message}`);
  }
  const { receipt, signature } = parsed.data;
  if (signature.key_id !== trust.controlPlaneKeyId) {
    return refuse(
      "key_mismatch",
      `ack is signed by key ${signature.key_id}, not the pinned control-plane key ${trust.controlPlaneKeyId}`,
    );
  }
  const sig = Buffer.from(signature.value, "base64");
  if (!verifyBytes(trust.controlPlanePublicKey, canonicalBytes(receipt), sig)) {
    return refuse("signature_invalid", `ack signature does not verify (up_to_seq ${receipt.up_to_seq})`);
  }
  if (receipt.agent_id !== trust.agent_id || receipt.client_id !== trust.client_id) {
    return refuse(
      "wrong_agent",
      `ack is for agent ${receipt.agent_id} of clinic ${receipt.client_id}, not ${trust.agent_id} of ${trust.client_id}`,
    );
  }
  return { ok: true, receipt };
}

/**
 * Runs `commit` (the ack transaction) with `synchronous = NORMAL`, so its
 * commit is written to the WAL but not fsync'd, then restores FULL. Acks
 * arrive every few dozen bundles during a replay and an fsync each would block
 * the agent's only thread. This cannot lose or duplicate evidence: if a power
 * cut loses the commit, the acked rows and the old acked head come back
 * together (one transaction), the rows are sent again, and the control plane
 * deduplicates them by (agent, seq, hash). Appends still commit with FULL, and
 * that fsync also makes every earlier WAL frame (any ack before it) durable.
 * A kill -9 loses nothing either way: the commit is in the OS page cache.
 */
export function commitWithoutFsync<T>(db: Database.Database, commit: () => T): T {
  db.pragma("synchronous = NORMAL");
  try {
    return commit();
  } finally {
    db.pragma("synchronous = FULL");
  }
}

/**
 * Builds the transaction that binds a verified receipt to our chain and, only
 * then, deletes the rows it covers and records the new acked head, all or
 * nothing. Run it with `.immediate(receipt)`.
 */
export function createAckTxn(
  db: Database.Database,
  st: Statements,
  maxBytes: number,
): Database.Transaction<(receipt: Receipt) => { result: AckResult; alerts: OutboxAlert[] }> {
  return db.transaction((receipt: Receipt): { result: AckResult; alerts: OutboxAlert[] } => {
    const meta = readMeta(st);
    const upTo = receipt.up_to_seq;
    const refused = (refusal: AckRefusal, message: string) => ({
      result: refuse(refusal, message),
      alerts: [],
    });
    if (upTo > meta.last_seq) {
      return refused(
        "beyond_head",
        `ack covers seq ${upTo}, but this outbox has only produced up to seq ${meta.last_seq}`,
      );
    }
    if (upTo < meta.acked_seq) {
      return refused(
        "stale",
        `ack up to seq ${upTo} is older than the applied ack up to seq ${meta.acked_seq}`,
      );
    }
    // The acked head's bundle may be deleted already; its hash was kept in meta for exactly this check.
    const held = upTo === meta.acked_seq ? meta.acked_hash : st.rowAt.get(upTo)?.hash;
    if (held !== receipt.head_hash) {
      return refused("head_mismatch", `ack head_hash does not match our bundle at seq ${upTo}`);
    }
    const freed = st.sumUpTo.get(upTo)?.bytes ?? 0;
    const deleted = st.deleteUpTo.run(upTo).changes;
    st.recordAck.run({ seq: upTo, hash: receipt.head_hash, freed });
    const alerts: OutboxAlert[] = [];
    const stored = meta.stored_bytes - freed;
    if (meta.full_since !== null && belowLowWater(stored, maxBytes)) {
      st.setFullEpisode.run(null, null);
      const message = `outbox has room again (${stored} of ${maxBytes} bytes stored): drift bundles are accepted`;
      alerts.push({ kind: "outbox_recovered", message, stored_bytes: stored, max_bytes: maxBytes });
    }
    return { result: { ok: true, acked_seq: upTo, deleted, freed_bytes: freed }, alerts };
  });
}
