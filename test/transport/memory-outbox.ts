/**
 * An in-memory OutboxPort for transport tests. It signs a real chain with the
 * agent's evidence key and verifies acks the way the SQLite outbox does
 * (control-plane signature over the canonical receipt, identity, seq range,
 * head hash), so a transport test fails if the transport ever deletes on an
 * unverified ack. It is not durable; the SQLite outbox is tested on its own.
 */

import {
  bundleHash,
  canonicalBytes,
  type EvidenceBundle,
  GENESIS_HASH,
  keyIdOf,
  type SigningKey,
  signBundle,
  verifyBytes,
} from "@msp/shared";
import type { AckFrame, AckOutcome, OutboxPort } from "../../agent/src/transport/index.js";
import { unsignedBundle } from "../support/bundles.js";

/** Which agent the chain belongs to. */
export interface MemoryOutboxIdentity {
  agent_id: string;
  client_id: string;
}

/** A chain-producing, ack-verifying outbox held in memory. */
export class MemoryOutbox implements OutboxPort {
  readonly #key: SigningKey;
  readonly #cpKey: string;
  readonly #cpKeyId: string;
  readonly #who: MemoryOutboxIdentity;
  readonly #rows = new Map<number, EvidenceBundle>();
  readonly #hashes = new Map<number, string>([[0, GENESIS_HASH]]);
  #last = 0;
  #acked = 0;
  /** Every refusal, for assertions. */
  readonly refusals: string[] = [];
  /** Called after each applied ack (tests wait on it). */
  onAck: (ackedSeq: number) => void = () => {};

  constructor(key: SigningKey, controlPlanePublicKeyB64: string, who: MemoryOutboxIdentity) {
    this.#key = key;
    this.#cpKey = controlPlanePublicKeyB64;
    this.#cpKeyId = keyIdOf(Buffer.from(controlPlanePublicKeyB64, "base64"));
    this.#who = who;
  }

  /** Seals and stores the next `n` bundles of the chain. */
  append(n: number): EvidenceBundle[] {
    const out: EvidenceBundle[] = [];
    for (let i = 0; i < n; i++) {
      const seq = this.#last + 1;
      const prev = this.#hashes.get(this.#last) ?? GENESIS_HASH;
      const bundle = signBundle(
        unsignedBundle(seq, prev, { agent_id: this.#who.agent_id, client_id: this.#who.client_id }),
        this.#key,
      );
      this.#rows.set(seq, bundle);
      this.#hashes.set(seq, bundleHash(bundle));
      this.#last = seq;
      out.push(bundle);
    }
    return out;
  }

  /** Rows not yet deleted by an ack. */
  get size(): number {
    return this.#rows.size;
  }

  head(): { last_seq: number; acked_seq: number } {
    return { last_seq: this.#last, acked_seq: this.#acked };
  }

  pending(afterSeq: number, limit: number): EvidenceBundle[] {
    const out: EvidenceBundle[] = [];
    for (let seq = afterSeq + 1; seq <= this.#last && out.length < limit; seq++) {
      const row = this.#rows.get(seq);
      if (row !== undefined) out.push(row);
    }
    return out;
  }

  applyAck(frame: AckFrame): AckOutcome {
    const refuse = (reason: string): AckOutcome => {
      this.refusals.push(reason);
      return { ok: false, reason };
    };
    const { receipt, signature } = frame;
    if (signature.key_id !== this.#cpKeyId) return refuse("key_mismatch");
    const sig = Buffer.from(signature.value, "base64");
    if (!verifyBytes(this.#cpKey, canonicalBytes(receipt), sig)) return refuse("signature_invalid");
    if (receipt.agent_id !== this.#who.agent_id || receipt.client_id !== this.#who.client_id) {
      return refuse("wrong_agent");
    }
    const upTo = receipt.up_to_seq;
    if (upTo > this.#last) return refuse("beyond_head");
    if (upTo < this.#acked) return refuse("stale");
    if (this.#hashes.get(upTo) !== receipt.head_hash) return refuse("head_mismatch");
    for (let seq = this.#acked + 1; seq <= upTo; seq++) this.#rows.delete(seq);
    this.#acked = upTo;
    this.onAck(upTo);
    return { ok: true, acked_seq: upTo };
  }
}
