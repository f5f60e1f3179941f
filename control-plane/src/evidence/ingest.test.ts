import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AckFrame,
  bundleHash,
  canonicalBytes,
  type EvidenceBundle,
  FakeClock,
  GENESIS_HASH,
  generateSigningKey,
  signBundle,
  verifyBytes,
} from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { signedChain, unsignedBundle } from "../../../test/support/bundles.js";
import { type Db, migrate, openDatabase } from "../db/index.js";
import type { StoredRow } from "./chain.js";
import { createEvidenceStore, createIngest, EVIDENCE_MIGRATIONS, type Ingest } from "./index.js";

const who = { client_id: "clinic-001", agent_id: "srv-primary" };
const agentKey = generateSigningKey();
const cpKey = generateSigningKey();
const keys = {
  evidenceKeyOf: (id: string) => (id === who.agent_id ? agentKey.publicKey.toString("base64") : undefined),
};
const open: { ingest: Ingest; db: Db }[] = [];
const dirs: string[] = [];

async function setup(
  opts: { workers?: number; path?: string; onStored?: (r: readonly StoredRow[]) => void } = {},
) {
  const db = openDatabase(opts.path ?? ":memory:");
  migrate(db, EVIDENCE_MIGRATIONS);
  const ingest = await createIngest({
    db,
    keys,
    signingKey: cpKey,
    clock: new FakeClock("2026-11-02T00:00:00.000Z"),
    workers: opts.workers ?? 0,
    ...(opts.onStored === undefined ? {} : { onStored: opts.onStored }),
  });
  open.push({ ingest, db });
  return { db, ingest, store: createEvidenceStore({ db, keys }) };
}

afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.ingest.close();
    o.db.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const rows = (db: Db) => (db.prepare("SELECT count(*) AS n FROM evidence_bundles").get() as { n: number }).n;

describe("ingest", () => {
  it("stores a chain and answers with a signed cumulative receipt", async () => {
    const { ingest, db } = await setup();
    const chain = signedChain(agentKey, 5);
    const outs = await Promise.all(chain.map((b) => ingest.submit(who, b)));
    expect(outs.map((o) => o.status)).toEqual(["stored", "stored", "stored", "stored", "stored"]);
    const last = outs[4];
    if (last?.status !== "stored") throw new Error("not stored");
    const ack = AckFrame.parse(last.ack);
    expect(ack.receipt).toMatchObject({
      up_to_seq: 5,
      head_hash: bundleHash(chain[4] as EvidenceBundle),
      ...who,
    });
    expect(
      verifyBytes(
        cpKey.publicKey.toString("base64"),
        canonicalBytes(ack.receipt),
        Buffer.from(ack.signature.value, "base64"),
      ),
    ).toBe(true);
    expect(rows(db)).toBe(5);
    expect(ingest.head(who.agent_id)).toMatchObject({ acked_seq: 5, max_seq: 5 });
  });

  it("answers a replay as duplicate without a second row, and acks it again", async () => {
    const { ingest, db } = await setup();
    const chain = signedChain(agentKey, 3);
    for (const b of chain) await ingest.submit(who, b);
    const again = await ingest.submit(who, chain[1]);
    expect(again).toMatchObject({ status: "duplicate", seq: 2 });
    expect(again.status === "duplicate" && again.ack?.receipt.up_to_seq).toBe(3);
    expect(rows(db)).toBe(3);
  });

  it("refuses a forged signature, a foreign bundle, an unenrolled agent and a malformed bundle, storing nothing", async () => {
    const { ingest, db, store } = await setup();
    const [b1] = signedChain(agentKey, 1) as [EvidenceBundle];
    const forged = { ...b1, hostname: "evil" };
    expect(await ingest.submit(who, forged)).toMatchObject({
      status: "rejected",
      error: { code: "signature_invalid" },
    });
    const otherKey = signBundle(unsignedBundle(1, GENESIS_HASH), generateSigningKey());
    expect(await ingest.submit(who, otherKey)).toMatchObject({
      status: "rejected",
      error: { code: "signature_invalid" },
    });
    const foreign = signBundle(unsignedBundle(1, GENESIS_HASH, { agent_id: "srv-backup" }), agentKey);
    expect(await ingest.submit(who, foreign)).toMatchObject({
      status: "rejected",
      seq: 1,
      error: { code: "forbidden" },
    });
    expect(await ingest.submit({ ...who, agent_id: "srv-unknown" }, b1)).toMatchObject({
      status: "rejected",
      error: { code: "forbidden" },
    });
    expect(await ingest.submit(who, { ...b1, seq: "one" })).toMatchObject({
      status: "rejected",
      error: { code: "invalid_input" },
    });
    expect(await ingest.submitFrame(who, "{not json")).toMatchObject({
      status: "rejected",
      error: { code: "invalid_input" },
    });
    expect(await ingest.submitFrame(who, JSON.stringify({ type: "bundle", bundle: b1, x: 1 }))).toMatchObject(
      {
        status: "rejected",
        error: { code: "invalid_input" },
      },
    );
    expect(rows(db)).toBe(0);
    expect(store.anomalies({ client_id: "clinic-001" }).items.map((a) => a.kind)).toEqual(["foreign"]);
    expect((await ingest.submitFrame(who, JSON.stringify({ type: "bundle", bundle: b1 }))).status).toBe(
      "stored",
    );
  });

  it("flags a fork with both hashes and keeps the first bundle", async () => {
    const { ingest, db, store } = await setup();
    const chain = signedChain(agentKey, 2);
    for (const b of chain) await ingest.submit(who, b);
    const rival = signBundle(
      unsignedBundle(2, bundleHash(chain[0] as EvidenceBundle), { hostname: "other" }),
      agentKey,
    );
    expect(await ingest.submit(who, rival)).toMatchObject({
      status: "rejected",
      seq: 2,
      error: { code: "conflict" },
    });
    expect(rows(db)).toBe(2);
    const [fork] = store.anomalies({ client_id: "clinic-001", kind: "fork" }).items;
    expect(fork).toMatchObject({
      seq: 2,
      held_hash: bundleHash(chain[1] as EvidenceBundle),
      offered_hash: bundleHash(rival),
    });
  });

  it("stores past a gap, flags it, acks only the contiguous head, and resolves the gap when filled (flagged reorder)", async () => {
    const { ingest, store } = await setup();
    const chain = signedChain(agentKey, 4) as [
      EvidenceBundle,
      EvidenceBundle,
      EvidenceBundle,
      EvidenceBundle,
    ];
    await ingest.submit(who, chain[0]);
    const afterGap = await ingest.submit(who, chain[3]);
    expect(afterGap.status === "stored" && afterGap.ack?.receipt.up_to_seq).toBe(1);
    expect(store.anomalies({ client_id: "clinic-001", open: true }).items).toMatchObject([
      { kind: "gap", seq: 2, seq_to: 3 },
    ]);
    await ingest.submit(who, chain[2]);
    const filled = await ingest.submit(who, chain[1]);
    expect(filled.status === "stored" && filled.ack?.receipt.up_to_seq).toBe(4);
    expect(store.anomalies({ client_id: "clinic-001", open: true }).items).toEqual([]);
    expect(store.anomalies({ client_id: "clinic-001" }).items.map((a) => a.kind)).toEqual([
      "gap",
      "reorder",
      "reorder",
    ]);
  });

  it("refuses a broken prev_hash link and records it", async () => {
    const { ingest, db, store } = await setup();
    const [b1] = signedChain(agentKey, 1) as [EvidenceBundle];
    await ingest.submit(who, b1);
    const bad = signBundle(unsignedBundle(2, "e".repeat(64)), agentKey);
    expect(await ingest.submit(who, bad)).toMatchObject({
      status: "rejected",
      error: { code: "chain_broken" },
    });
    expect(rows(db)).toBe(1);
    expect(store.anomalies({ client_id: "clinic-001" }).items).toMatchObject([
      { kind: "broken_link", seq: 2, actual_prev_hash: "e".repeat(64), expected_prev_hash: bundleHash(b1) },
    ]);
  });

  it("loses nothing acknowledged across a restart (close the database, reopen)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "msp-ingest-"));
    dirs.push(dir);
    const path = join(dir, "cp.db");
    const chain = signedChain(agentKey, 6);
    const first = await setup({ path });
    for (const b of chain.slice(0, 4)) await first.ingest.submit(who, b);
    const o = open.pop();
    await o?.ingest.close();
    o?.db.close();
    const second = await setup({ path });
    expect(second.ingest.head(who.agent_id)).toMatchObject({
      acked_seq: 4,
      head_hash: bundleHash(chain[3] as EvidenceBundle),
    });
    expect(await second.ingest.submit(who, chain[3])).toMatchObject({ status: "duplicate" });
    expect(await second.ingest.submit(who, chain[4])).toMatchObject({ status: "stored" });
    expect(rows(second.db)).toBe(5);
  });

  it("verifies on worker threads started from TypeScript source, and calls onStored after commit", async () => {
    const stored: StoredRow[] = [];
    const { ingest, db } = await setup({ workers: 2, onStored: (r) => stored.push(...r) });
    expect(ingest.stats().workers).toBe(2);
    const chain = signedChain(agentKey, 40);
    const outs = await Promise.all(
      chain.map((b) => ingest.submitFrame(who, JSON.stringify({ type: "bundle", bundle: b }))),
    );
    expect(outs.every((o) => o.status === "stored")).toBe(true);
    expect(stored.map((r) => r.seq)).toEqual(chain.map((b) => b.seq));
    expect(stored[0]?.body).toBe(canonicalBytes(chain[0]).toString("utf8"));
    expect(rows(db)).toBe(40);
    const forged = { ...(chain[0] as EvidenceBundle), seq: 41 };
    expect(await ingest.submit(who, forged)).toMatchObject({
      status: "rejected",
      error: { code: "signature_invalid" },
    });
  });

  it("drain answers everything submitted, then refuses new work as unavailable", async () => {
    const { ingest } = await setup();
    const pending = signedChain(agentKey, 10).map((b) => ingest.submit(who, b));
    await ingest.drain();
    expect(ingest.stats()).toMatchObject({ pending: 0, stored: 10 });
    expect((await Promise.all(pending)).every((o) => o.status === "stored")).toBe(true);
    const [b1] = signedChain(agentKey, 1) as [EvidenceBundle];
    expect(await ingest.submit(who, b1)).toMatchObject({
      status: "rejected",
      error: { code: "unavailable" },
    });
  });

  it("refuses bad options", async () => {
    const db = openDatabase(":memory:");
    await expect(
      createIngest({ db, keys, signingKey: cpKey, clock: new FakeClock(), workers: -1 }),
    ).rejects.toMatchObject({ code: "config_invalid" });
  });
});
