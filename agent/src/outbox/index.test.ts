import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { bundleHash, GENESIS_HASH, isMspError, verifyBundle, verifyChain } from "@msp/shared";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRig, driftDraft, type OutboxRig, runbookDraft, TEST_IDENTITY } from "./fixtures.js";
import { openOutboxDb } from "./store.js";

let rig: OutboxRig;
beforeEach(() => {
  rig = createRig();
});
afterEach(() => rig.cleanup());

const pub = () => rig.agentKey.publicKey.toString("base64");

describe("append", () => {
  it("seals drafts into a signed chain with seq, prev_hash, bundle_id and created_at", async () => {
    const outbox = rig.open();
    const produced = [];
    for (let i = 0; i < 5; i++) {
      produced.push(await outbox.append(i % 2 === 0 ? driftDraft() : runbookDraft()));
      await rig.clock.advance(1000);
    }
    expect(produced.map((b) => b.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(produced.map((b) => b.bundle_id)).toEqual([
      "EB-20260101-0001",
      "EB-20260101-0002",
      "EB-20260101-0003",
      "EB-20260101-0004",
      "EB-20260101-0005",
    ]);
    expect(produced[0]?.prev_hash).toBe(GENESIS_HASH);
    expect(produced[0]?.created_at).toBe("2026-01-01T00:00:00.000Z");
    expect(produced[4]?.created_at).toBe("2026-01-01T00:00:04.000Z");
    for (let i = 1; i < produced.length; i++) {
      expect(produced[i]?.prev_hash).toBe(bundleHash(produced[i - 1] as (typeof produced)[0]));
    }
    for (const b of produced) {
      expect(b).toMatchObject({ ...TEST_IDENTITY, protocol_version: 1 });
    }

    const pending = outbox.pending(0, 100);
    expect(pending).toEqual(produced);
    const chain = verifyChain(pending);
    expect(chain).toMatchObject({
      ok: true,
      count: 5,
      last_seq: 5,
      head_hash: bundleHash(produced[4] as never),
    });
    for (const b of pending) expect(verifyBundle(b, pub()).ok).toBe(true);
    expect(outbox.head()).toMatchObject({ last_seq: 5, last_hash: chain.head_hash, acked_seq: 0 });
    expect(outbox.pending(2, 2).map((b) => b.seq)).toEqual([3, 4]);
    expect(outbox.verifyIntegrity().ok).toBe(true);
  });

  it("restarts the bundle-id counter each UTC day and never moves the id day backwards", async () => {
    const outbox = rig.open();
    expect((await outbox.append(driftDraft())).bundle_id).toBe("EB-20260101-0001");
    await rig.clock.advance(24 * 3600 * 1000);
    expect((await outbox.append(driftDraft())).bundle_id).toBe("EB-20260102-0001");
    expect((await outbox.append(driftDraft())).bundle_id).toBe("EB-20260102-0002");
    // A clock stepped back a day must not reissue EB-20260101-0002 ... ids stay unique.
    const stepped = rig.open({
      clock: { now: () => new Date("2026-01-01T12:00:00.000Z"), sleep: async () => {} },
    });
    expect((await stepped.append(driftDraft())).bundle_id).toBe("EB-20260102-0003");
  });

  it("refuses an invalid draft without consuming a seq", async () => {
    const outbox = rig.open();
    await outbox.append(driftDraft());
    const before = outbox.head();
    const bad = { ...driftDraft(), drift: null };
    await expect(outbox.append(bad)).rejects.toSatisfy((e) => isMspError(e, "invalid_input"));
    expect(outbox.head()).toEqual(before);
    expect((await outbox.append(driftDraft())).seq).toBe(2);
  });

  it("refuses a bundle over the shared bundle limit, which the control plane would never accept", async () => {
    const outbox = rig.open();
    const huge = runbookDraft("runbook_execution", 900_000);
    await expect(outbox.append(huge)).rejects.toSatisfy((e) => isMspError(e, "payload_too_large"));
    expect(outbox.head().last_seq).toBe(0);
  });

  it("ignores fields a draft must not set (seq, identity)", async () => {
    const outbox = rig.open();
    const sneaky = { ...driftDraft(), seq: 99, agent_id: "someone-else" } as never;
    const b = await outbox.append(sneaky);
    expect(b.seq).toBe(1);
    expect(b.agent_id).toBe(TEST_IDENTITY.agent_id);
  });
});

describe("reopening", () => {
  it("keeps the head and continues the chain without reusing a seq", async () => {
    const first = rig.open();
    for (let i = 0; i < 3; i++) await first.append(driftDraft());
    const head = first.head();
    first.close();

    const second = rig.open();
    expect(second.head()).toEqual(head);
    const next = await second.append(driftDraft());
    expect(next.seq).toBe(4);
    expect(next.prev_hash).toBe(head.last_hash);
    expect(next.bundle_id).toBe("EB-20260101-0004");
    expect(verifyChain(second.pending(0, 10)).ok).toBe(true);
  });

  it("refuses an outbox that belongs to another agent or holds bundles signed by another key", async () => {
    const first = rig.open();
    await first.append(driftDraft());
    first.close();
    expect(() => rig.open({ identity: { ...TEST_IDENTITY, agent_id: "agent-2" } })).toThrow(
      /belongs to agent agent-1/,
    );
    const other = createRig();
    try {
      expect(() => rig.open({ signingKey: other.agentKey })).toThrow(/unacked bundles signed by key/);
    } finally {
      other.cleanup();
    }
  });

  it("fails fast on bad options", () => {
    expect(() => rig.open({ maxBytes: 0 })).toThrow(/maxBytes/);
    expect(() => rig.open({ controlPlanePublicKey: "not-a-key" })).toThrow(/public key/);
    expect(() => rig.open({ identity: { ...TEST_IDENTITY, client_id: "Bad Clinic" } })).toThrow(/client_id/);
  });

  it("turns a file that is not an outbox into a clear error", () => {
    mkdirSync(dirname(rig.dbPath), { recursive: true });
    writeFileSync(rig.dbPath, "this is not a database ".repeat(200));
    expect(() => rig.open()).toThrow(
      expect.objectContaining({ code: "internal", message: expect.stringMatching(/SQLITE_NOTADB/) }),
    );
  });
});

describe("storage", () => {
  it("opens SQLite in WAL mode with synchronous = FULL", () => {
    const db = openOutboxDb(rig.dbPath);
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
    } finally {
      db.close();
    }
  });

  it("reports rows, bytes and the oldest bundle's age", async () => {
    const outbox = rig.open();
    expect(outbox.stats()).toMatchObject({ rows: 0, bytes: 0, oldest_age_ms: null, full_since: null });
    const a = await outbox.append(driftDraft());
    await rig.clock.advance(5000);
    await outbox.append(driftDraft());
    const stats = outbox.stats();
    expect(stats.rows).toBe(2);
    expect(stats.bytes).toBeGreaterThan(2 * JSON.stringify(a).length - 10);
    expect(stats.oldest_age_ms).toBe(5000);
  });

  it("verifyIntegrity reports a tampered row and a missing row", async () => {
    const outbox = rig.open();
    for (let i = 0; i < 4; i++) await outbox.append(driftDraft());
    const db = new Database(rig.dbPath);
    try {
      const row = db.prepare<[], { body: string }>("SELECT body FROM bundles WHERE seq = 2").get();
      const body = String(row?.body).replace("passwordauthentication no", "passwordauthentication yes");
      db.prepare("UPDATE bundles SET body = ? WHERE seq = 2").run(body);
      db.prepare("DELETE FROM bundles WHERE seq = 3").run();
    } finally {
      db.close();
    }
    const report = outbox.verifyIntegrity();
    expect(report.ok).toBe(false);
    expect(report.bundles).toContainEqual(expect.objectContaining({ seq: 2, problem: "signature_invalid" }));
    expect(report.chain.problems.map((p) => p.kind)).toContain("gap");
    expect(report.head.join(" ")).toMatch(/byte counter/);
  });

  it("refuses every call after close", async () => {
    const outbox = rig.open();
    outbox.close();
    outbox.close();
    await expect(outbox.append(driftDraft())).rejects.toSatisfy((e) => isMspError(e, "unavailable"));
    expect(() => outbox.head()).toThrow(/closed/);
  });
});

describe("appended listeners", () => {
  it("hear every append that stored a row, with the new last_seq, whoever appended", async () => {
    const outbox = rig.open();
    const heard: number[] = [];
    const stop = outbox.onAppended((lastSeq) => heard.push(lastSeq));
    outbox.onAppended(() => {
      throw new Error("a broken listener");
    });
    const first = await outbox.append(driftDraft());
    // Called after the commit and before append resolves: a sender woken by it finds the row.
    expect(heard).toEqual([first.seq]);
    await outbox.append(runbookDraft());
    expect(heard).toEqual([1, 2]);
    // A refused draft stores nothing and is not announced.
    await expect(outbox.append({ ...driftDraft(), drift: null })).rejects.toSatisfy((e) =>
      isMspError(e, "invalid_input"),
    );
    expect(heard).toEqual([1, 2]);
    stop();
    await outbox.append(driftDraft());
    expect(heard).toEqual([1, 2]);
  });

  it("hear the local_alert a refused drift bundle leaves, and not the refusals after it", async () => {
    const small = createRig(2500);
    try {
      const outbox = small.open();
      const heard: number[] = [];
      outbox.onAppended((lastSeq) => heard.push(lastSeq));
      let refused = 0;
      while (refused === 0) {
        await outbox.append(driftDraft(500)).catch(() => refused++);
      }
      const alert = small.alerts.find((a) => a.kind === "outbox_full");
      expect(alert).toMatchObject({ alert_bundle_seq: outbox.head().last_seq });
      expect(heard.at(-1)).toBe(outbox.head().last_seq);
      const count = heard.length;
      await expect(outbox.append(driftDraft(500))).rejects.toSatisfy((e) => isMspError(e, "unavailable"));
      expect(heard).toHaveLength(count);
    } finally {
      small.cleanup();
    }
  });
});
