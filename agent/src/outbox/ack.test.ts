import { join } from "node:path";
import { bundleHash, type EvidenceBundle, generateSigningKey, type Receipt, verifyChain } from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { commitWithoutFsync } from "./ack.js";
import { createRig, driftDraft, type OutboxRig, signedAck, TEST_IDENTITY } from "./fixtures.js";
import type { Outbox } from "./index.js";
import { openOutboxDb } from "./store.js";

let rig: OutboxRig;
let outbox: Outbox;
let bundles: EvidenceBundle[];

beforeEach(async () => {
  rig = createRig();
  outbox = rig.open();
  bundles = [];
  for (let i = 0; i < 6; i++) bundles.push(await outbox.append(driftDraft()));
});
afterEach(() => rig.cleanup());

const hashAt = (seq: number) => bundleHash(bundles[seq - 1] as EvidenceBundle);
const receiptFor = (seq: number, over: Partial<Receipt> = {}): Receipt => ({
  agent_id: TEST_IDENTITY.agent_id,
  client_id: TEST_IDENTITY.client_id,
  up_to_seq: seq,
  stored_at: "2026-01-01T00:00:01.000Z",
  ...over,
  head_hash: over.head_hash ?? hashAt(seq),
});
/** Everything an ack could change, to compare before and after a refused one. */
const snapshot = () => ({ head: outbox.head(), stats: outbox.stats(), rows: outbox.pending(0, 1000) });

describe("applyAck", () => {
  it("deletes exactly the rows up to up_to_seq and records the acked head", () => {
    const before = outbox.stats();
    const result = outbox.applyAck(signedAck(rig.cpKey, receiptFor(4)));
    expect(result).toMatchObject({ ok: true, acked_seq: 4, deleted: 4 });
    expect(outbox.pending(0, 100).map((b) => b.seq)).toEqual([5, 6]);
    expect(outbox.head()).toMatchObject({ last_seq: 6, acked_seq: 4, acked_hash: hashAt(4) });
    const after = outbox.stats();
    expect(after.rows).toBe(2);
    expect(result.ok && before.bytes - after.bytes === result.freed_bytes).toBe(true);
    const report = outbox.verifyIntegrity();
    expect(report.ok).toBe(true);
    expect(report.anchor).toEqual({ seq: 4, hash: hashAt(4) });
  });

  it("accepts a repeated ack without change and refuses an older one as stale", () => {
    expect(outbox.applyAck(signedAck(rig.cpKey, receiptFor(3))).ok).toBe(true);
    expect(outbox.applyAck(signedAck(rig.cpKey, receiptFor(3)))).toMatchObject({ ok: true, deleted: 0 });
    const before = snapshot();
    expect(outbox.applyAck(signedAck(rig.cpKey, receiptFor(2)))).toMatchObject({
      ok: false,
      refusal: "stale",
    });
    expect(snapshot()).toEqual(before);
  });

  it("continues the chain from the acked head after every row is gone, across a reopen", async () => {
    expect(outbox.applyAck(signedAck(rig.cpKey, receiptFor(6)))).toMatchObject({ ok: true, deleted: 6 });
    expect(outbox.stats()).toMatchObject({ rows: 0, bytes: 0 });
    outbox.close();
    outbox = rig.open();
    const next = await outbox.append(driftDraft());
    expect(next.seq).toBe(7);
    expect(next.prev_hash).toBe(hashAt(6));
    expect(verifyChain(outbox.pending(0, 10), { seq: 6, hash: hashAt(6) }).ok).toBe(true);
    expect(outbox.verifyIntegrity().ok).toBe(true);
  });

  const forgeries: [string, () => unknown, string][] = [
    [
      "signed by another key under its own id",
      () => signedAck(generateSigningKey(), receiptFor(4)),
      "key_mismatch",
    ],
    [
      "signed by another key under the control-plane key id",
      () => {
        const forged = signedAck(generateSigningKey(), receiptFor(4));
        return { ...forged, signature: { ...forged.signature, key_id: rig.cpKey.keyId } };
      },
      "signature_invalid",
    ],
    [
      "receipt edited after signing",
      () => ({ ...signedAck(rig.cpKey, receiptFor(2)), receipt: receiptFor(4) }),
      "signature_invalid",
    ],
    ["wrong head_hash", () => signedAck(rig.cpKey, receiptFor(4, { head_hash: hashAt(3) })), "head_mismatch"],
    ["another agent", () => signedAck(rig.cpKey, receiptFor(4, { agent_id: "agent-2" })), "wrong_agent"],
    ["another clinic", () => signedAck(rig.cpKey, receiptFor(4, { client_id: "clinic-b" })), "wrong_agent"],
    [
      "up_to_seq beyond the last seq",
      () => signedAck(rig.cpKey, receiptFor(7, { head_hash: hashAt(6) })),
      "beyond_head",
    ],
    ["a malformed frame", () => ({ type: "ack", receipt: receiptFor(4) }), "malformed"],
  ];

  it.each(forgeries)("refuses an ack %s and changes nothing", (_name, make, refusal) => {
    const before = snapshot();
    const result = outbox.applyAck(make());
    expect(result).toMatchObject({ ok: false, refusal });
    expect(snapshot()).toEqual(before);
    expect(rig.alerts).toContainEqual(expect.objectContaining({ kind: "ack_refused", refusal }));
    // The genuine ack still works afterwards.
    expect(outbox.applyAck(signedAck(rig.cpKey, receiptFor(4)))).toMatchObject({ ok: true, deleted: 4 });
  });
});

describe("commitWithoutFsync", () => {
  it("runs the ack commit with synchronous = NORMAL and restores FULL, also when the commit throws", () => {
    const db = openOutboxDb(join(rig.dir, "sync.sqlite"));
    try {
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
      expect(commitWithoutFsync(db, () => db.pragma("synchronous", { simple: true }))).toBe(1);
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
      expect(() =>
        commitWithoutFsync(db, () => {
          throw new Error("refused");
        }),
      ).toThrow("refused");
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
    } finally {
      db.close();
    }
  });
});
