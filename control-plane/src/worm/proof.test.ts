import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  canonicalBytes,
  FakeClock,
  generateSigningKey,
  MspError,
  merkleLeafHash,
  sha256Hex,
  verifyCheckpoint,
  verifyInclusion,
} from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { type Db, migrate, openDatabase } from "../db/index.js";
import type { WormBundle } from "./enqueue.js";
import { createLocalWormStore, initLocalWormDir } from "./local.js";
import { WORM_MIGRATIONS } from "./migrations.js";
import { type BundleInclusionProof, createProofSource } from "./proof.js";
import type { ObjectStore } from "./store.js";
import { createWormUploader } from "./uploader.js";

const key = generateSigningKey();
const pub = key.publicKey.toString("base64");
let db: Db;
let dir: string;

afterEach(() => {
  db?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function bundle(agent: string, seq: number): WormBundle {
  const body = canonicalBytes({ seq, agent, note: "evidence" });
  return {
    client_id: "clinic-a",
    agent_id: agent,
    seq,
    bundle_id: `EB-20260310-${String(seq).padStart(4, "0")}`,
    sha256: sha256Hex(body),
    created_at: "2026-03-10T11:00:00.000Z",
    body,
  };
}

/** Seven bundles of two agents on 2026-03-10, on the real local WORM adapter, with a fake clock. */
async function setup(store?: (real: ObjectStore) => ObjectStore) {
  db = openDatabase(":memory:");
  migrate(db, WORM_MIGRATIONS);
  dir = mkdtempSync(join(tmpdir(), "msp-proof-"));
  await initLocalWormDir(dir);
  const clock = new FakeClock("2026-03-10T12:00:00.000Z");
  const real = createLocalWormStore({ dir, clock });
  const uploader = createWormUploader({ db, store: store ? store(real) : real, clock, signingKey: key });
  for (let s = 1; s <= 5; s++) uploader.enqueue(bundle("agent-1", s));
  for (let s = 1; s <= 2; s++) uploader.enqueue(bundle("agent-0", s));
  return { clock, uploader, store: real };
}

const verifies = (p: BundleInclusionProof, leafHex = p.leaf) =>
  verifyInclusion({
    leaf: Buffer.from(leafHex, "hex"),
    index: p.leaf_index,
    treeSize: p.tree_size,
    proof: p.audit_path.map((h) => Buffer.from(h, "hex")),
    root: Buffer.from(p.checkpoint.root, "hex"),
  });

describe("inclusion proofs", () => {
  it("answers checkpoint_pending (conflict, retryable, seconds to the day's end) before the day is checkpointed", async () => {
    const { uploader } = await setup();
    const err = await uploader.proof("clinic-a", "agent-1", 3).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MspError);
    expect(err).toMatchObject({
      code: "conflict",
      retryable: true,
      retryAfterSeconds: 12 * 3600,
      details: { status: "checkpoint_pending", day: "2026-03-10" },
    });
    expect((err as MspError).message).toMatch(/checkpoint of 2026-03-10 is not built yet/);
  });

  it("proves every bundle of the day against the signed checkpoint read back from WORM; a tampered leaf fails", async () => {
    const { clock, uploader } = await setup();
    await clock.advance(86_400_000);
    expect(uploader.checkpoint().created).toEqual(["clinic-a/2026-03-10"]);
    // Before the upload the queued body answers; after it, WORM does (the queue drops the body).
    const pending = await uploader.proof("clinic-a", "agent-1", 2);
    expect(pending.checkpoint_object.version_id).toBeNull();
    await uploader.pump();
    const order = [
      ...[1, 2].map((s) => bundle("agent-0", s)),
      ...[1, 2, 3, 4, 5].map((s) => bundle("agent-1", s)),
    ];
    for (const [i, b] of order.entries()) {
      const p = await uploader.proof("clinic-a", b.agent_id, b.seq);
      expect(p).toMatchObject({ leaf: b.sha256, leaf_index: i, tree_size: 7, day: "2026-03-10" });
      expect(p.leaf_hash).toBe(merkleLeafHash(Buffer.from(b.sha256, "hex")).toString("hex"));
      expect(p.checkpoint_object.version_id).not.toBeNull();
      expect(verifyCheckpoint(p.checkpoint, pub)).toMatchObject({ ok: true });
      expect(verifies(p)).toBe(true);
      const flipped = `${p.leaf.slice(0, 63)}${p.leaf.endsWith("0") ? "1" : "0"}`;
      expect(verifies(p, flipped)).toBe(false);
      expect(verifies({ ...p, leaf_index: (i + 1) % 7 })).toBe(false);
    }
    expect(pending.checkpoint).toEqual((await uploader.proof("clinic-a", "agent-1", 2)).checkpoint);
  });

  it("refuses unknown bundles and bad input, and a checkpoint WORM no longer holds", async () => {
    let hide = false;
    const { clock, uploader } = await setup((real) => ({
      ...real,
      label: real.label,
      tamperProof: real.tamperProof,
      get: (k, v) => (hide ? Promise.resolve(null) : real.get(k, v)),
    }));
    await clock.advance(86_400_000);
    uploader.checkpoint();
    await uploader.pump();
    await expect(uploader.proof("clinic-a", "agent-1", 6)).rejects.toMatchObject({ code: "not_found" });
    await expect(uploader.proof("clinic-b", "agent-1", 1)).rejects.toMatchObject({ code: "not_found" });
    await expect(uploader.proof("clinic-a", "agent-1", 0)).rejects.toMatchObject({ code: "invalid_input" });
    await expect(uploader.proof("clinic-a", "../x", 1)).rejects.toMatchObject({ code: "invalid_input" });
    hide = true;
    await expect(uploader.proof("clinic-a", "agent-1", 1)).rejects.toMatchObject({
      code: "integrity_mismatch",
      message: expect.stringMatching(/missing from WORM/),
    });
  });

  it("refuses to serve a proof when the queue's leaves no longer match the stored checkpoint", async () => {
    const { clock, uploader } = await setup();
    await clock.advance(86_400_000);
    uploader.checkpoint();
    await uploader.pump();
    db.prepare("UPDATE worm_bundles SET sha256 = ? WHERE agent_id = 'agent-0' AND seq = 1").run(
      "ab".repeat(32),
    );
    const proofs = createProofSource({ db, store: createLocalWormStore({ dir }), clock });
    await expect(proofs.proof("clinic-a", "agent-1", 4)).rejects.toMatchObject({
      code: "integrity_mismatch",
      message: expect.stringMatching(/does not verify against the stored checkpoint/),
    });
  });
});
