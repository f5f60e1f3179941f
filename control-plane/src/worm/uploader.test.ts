import {
  canonicalBytes,
  FakeClock,
  generateSigningKey,
  isMspError,
  MspError,
  sha256Hex,
  verifyCheckpoint,
} from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { retryDelay } from "./backoff.js";
import { createWormObjectQueue, storedBundleSink, type WormBundle, type WormObject } from "./enqueue.js";
import { WORM_MIGRATIONS } from "./migrations.js";
import type { ObjectRetention, ObjectStore, PutObjectRequest, StoredObject } from "./store.js";
import { createWormUploader, type WormUploaderOptions } from "./uploader.js";

/** An in-memory ObjectStore whose outages and refusals the test switches on. */
class FakeStore implements ObjectStore {
  readonly label = "fake://bucket";
  readonly tamperProof = true;
  readonly versions = new Map<string, { versionId: string; req: PutObjectRequest }[]>();
  readonly calls: string[] = [];
  down = false;
  locked = true;
  refuseKey: string | null = null;

  async checkBucket(): Promise<void> {
    this.calls.push("checkBucket");
    if (this.down) throw new MspError("unavailable", "S3 unavailable (test outage)");
    if (!this.locked) throw new MspError("config_invalid", "bucket does not have Object Lock enabled (test)");
  }
  async put(req: PutObjectRequest): Promise<{ versionId: string }> {
    this.calls.push(`put ${req.key}`);
    if (this.down) throw new MspError("unavailable", "S3 unavailable (test outage)");
    if (req.key === this.refuseKey) throw new MspError("forbidden", "S3 denied (test)");
    const list = this.versions.get(req.key) ?? [];
    const versionId = `ver-${list.length + 1}`;
    list.push({ versionId, req });
    this.versions.set(req.key, list);
    return { versionId };
  }
  async head(key: string): Promise<StoredObject | null> {
    this.calls.push(`head ${key}`);
    if (this.down) throw new MspError("unavailable", "S3 unavailable (test outage)");
    const last = this.versions.get(key)?.at(-1);
    return last === undefined
      ? null
      : { key, versionId: last.versionId, sha256: last.req.sha256, size: last.req.body.length };
  }
  async get(key: string): Promise<Buffer | null> {
    return this.versions.get(key)?.at(-1)?.req.body ?? null;
  }
  async retention(key: string): Promise<ObjectRetention | null> {
    const last = this.versions.get(key)?.at(-1);
    return last === undefined ? null : { mode: "COMPLIANCE", retainUntil: last.req.retainUntil };
  }
  puts(): string[] {
    return this.calls.filter((c) => c.startsWith("put ")).map((c) => c.slice(4));
  }
}

const key = generateSigningKey();
let db: Db;

function setup(over: Partial<WormUploaderOptions> = {}) {
  db = openDatabase(":memory:");
  migrate(db, WORM_MIGRATIONS);
  const clock = new FakeClock("2026-03-10T12:00:00.000Z");
  const store = new FakeStore();
  const uploader = createWormUploader({
    db,
    store,
    clock,
    signingKey: key,
    backoff: { initialMs: 1000, maxMs: 8000 },
    random: () => 1,
    ...over,
  });
  return { clock, store, uploader };
}

afterEach(() => db?.close());

function bundle(seq: number, over: Partial<WormBundle> = {}): WormBundle {
  const body = canonicalBytes({ seq, agent: over.agent_id ?? "agent-1", note: "evidence" });
  return {
    client_id: "clinic-a",
    agent_id: "agent-1",
    seq,
    bundle_id: `EB-20260310-${String(seq).padStart(4, "0")}`,
    sha256: sha256Hex(body),
    created_at: "2026-03-10T11:00:00.000Z",
    body,
    ...over,
  };
}

const rowCount = () => (db.prepare("SELECT count(*) AS n FROM worm_objects").get() as { n: number }).n;

describe("enqueue", () => {
  it("queues a bundle under clinic/agent/day/seq and is idempotent for the same bundle", () => {
    const { uploader } = setup();
    const first = uploader.enqueue(bundle(7));
    expect(first).toEqual({
      status: "queued",
      key: "evidence/clinic-a/agent-1/2026-03-10/000000000007_EB-20260310-0007.json",
    });
    expect(uploader.enqueue(bundle(7))).toEqual({ ...first, status: "duplicate" });
    expect(uploader.counts()).toEqual({ pending: 1, uploaded: 0, failed: 0 });
  });

  it("refuses bad input, a body that does not match its sha256, and a changed bundle, changing nothing", () => {
    const { uploader } = setup();
    const bad: unknown[] = [
      { ...bundle(1), client_id: "Clinic A" },
      { ...bundle(1), seq: 0 },
      { ...bundle(1), body: "not a buffer" },
      { ...bundle(1), extra: true },
      { ...bundle(1), created_at: "yesterday" },
    ];
    for (const b of bad) {
      expect(() => uploader.enqueue(b as WormBundle)).toThrow(
        expect.objectContaining({ code: "invalid_input" }),
      );
    }
    expect(() => uploader.enqueue({ ...bundle(1), sha256: "0".repeat(64) })).toThrow(
      expect.objectContaining({ code: "integrity_mismatch" }),
    );
    expect(rowCount()).toBe(0);
    uploader.enqueue(bundle(1));
    const changed = canonicalBytes({ forged: true });
    expect(() => uploader.enqueue({ ...bundle(1), body: changed, sha256: sha256Hex(changed) })).toThrow(
      expect.objectContaining({ code: "conflict" }),
    );
    expect(rowCount()).toBe(1);
  });

  it("refuses a bundle already past its retention period", () => {
    const { uploader } = setup({ retentionYears: 1 });
    expect(() => uploader.enqueue(bundle(1, { created_at: "2025-03-01T00:00:00.000Z" }))).toThrow(
      /older than the 1-year retention/,
    );
  });

  it("rejects bad options with config_invalid", () => {
    for (const over of [
      { retentionYears: 0 },
      { retentionYears: 6.5 },
      { backoff: { initialMs: 0, maxMs: 1 } },
    ]) {
      try {
        setup(over);
        expect.unreachable();
      } catch (e) {
        expect(isMspError(e, "config_invalid")).toBe(true);
      }
    }
  });
});

describe("storedBundleSink", () => {
  it("queues rows with text bodies and hands a refused row to onError without stopping the batch", () => {
    const { uploader } = setup();
    const errors: string[] = [];
    const sink = storedBundleSink(uploader, (e, row) => errors.push(`${row.seq}:${e.code}`));
    const row = (seq: number) => {
      const b = bundle(seq);
      return { ...b, body: b.body.toString("utf8"), kind: "drift_check", received_at: b.created_at };
    };
    sink([row(1), { ...row(2), sha256: "f".repeat(64) }, row(3)]);
    expect(errors).toEqual(["2:integrity_mismatch"]);
    expect(uploader.counts().pending).toBe(2);
  });
});

describe("enqueueObject (packet files)", () => {
  const object = (over: Partial<WormObject> = {}): WormObject => ({
    client_id: "clinic-a",
    kind: "packet",
    key: "packets/clinic-a/2026-02/CP-202602-0123456789abcdef/packet.md",
    body: Buffer.from("# Packet\n"),
    content_type: "text/markdown; charset=utf-8",
    retain_until: new Date("2032-03-10T12:00:00.000Z"),
    ...over,
  });

  it("queues behind earlier objects and uploads with its sha256, type and retention; same content is a duplicate", async () => {
    const { store, uploader } = setup();
    const first = uploader.enqueue(bundle(1)).key;
    const o = object();
    expect(uploader.enqueueObject(o)).toEqual({ status: "queued", key: o.key });
    expect(uploader.enqueueObject(object())).toEqual({ status: "duplicate", key: o.key });
    expect(await uploader.pump()).toEqual({ uploaded: 2, failed: 0, retryAt: null });
    expect(store.puts()).toEqual([first, o.key]);
    const put = store.versions.get(o.key)?.[0]?.req;
    expect(put).toMatchObject({ sha256: sha256Hex(o.body), contentType: o.content_type });
    expect(put?.retainUntil.toISOString()).toBe("2032-03-10T12:00:00.000Z");
    expect(createWormObjectQueue(db, () => new Date()).state(o.key)).toEqual({
      state: "uploaded",
      version_id: "ver-1",
    });
    expect(db.prepare("SELECT kind FROM worm_objects WHERE object_key = ?").get(o.key)).toEqual({
      kind: "packet",
    });
  });

  it("refuses bad input and other content under a queued key, changing nothing", () => {
    const { uploader } = setup();
    uploader.enqueueObject(object());
    const bad: [unknown, string][] = [
      [{ ...object(), kind: "bundle" }, "invalid_input"],
      [{ ...object(), key: "packets/../x" }, "invalid_input"],
      [{ ...object(), content_type: "markdown" }, "invalid_input"],
      [{ ...object(), retain_until: new Date("2026-03-10T11:59:59.000Z") }, "invalid_input"],
      [{ ...object(), body: "text" }, "invalid_input"],
      [{ ...object(), extra: 1 }, "invalid_input"],
      [object({ body: Buffer.from("other") }), "conflict"],
    ];
    for (const [input, code] of bad) {
      let caught: unknown;
      try {
        uploader.enqueueObject(input as WormObject);
      } catch (e) {
        caught = e;
      }
      expect(isMspError(caught) && caught.code).toBe(code);
    }
    expect(rowCount()).toBe(1);
  });

  it("works without an uploader, for a process that only generates (the CLI)", () => {
    setup();
    const queue = createWormObjectQueue(db, () => new Date("2026-03-10T12:00:00.000Z"));
    expect(queue.state(object().key)).toBeUndefined();
    queue.enqueue(object());
    expect(queue.state(object().key)).toEqual({ state: "pending", version_id: null });
  });
});

describe("pump", () => {
  it("uploads in enqueue order with COMPLIANCE retention of bundle time + 6 years and records versions", async () => {
    const { store, uploader } = setup();
    const keys = [3, 1, 2].map((seq) => uploader.enqueue(bundle(seq)).key);
    expect(await uploader.pump()).toEqual({ uploaded: 3, failed: 0, retryAt: null });
    expect(store.puts()).toEqual(keys);
    const put = store.versions.get(keys[0] as string)?.[0]?.req;
    expect(put?.retainUntil.toISOString()).toBe("2032-03-10T11:00:00.000Z");
    expect(put?.sha256).toBe(bundle(3).sha256);
    expect(uploader.versionOf(keys[0] as string)).toBe("ver-1");
    const bodies = db.prepare("SELECT count(*) AS n FROM worm_objects WHERE body IS NOT NULL").get();
    expect(bodies).toEqual({ n: 0 });
  });

  it("records the existing version instead of writing a second one when the object is already there", async () => {
    const { store, uploader } = setup();
    const { key: k } = uploader.enqueue(bundle(1));
    const b = bundle(1);
    await store.put({
      key: k,
      body: b.body,
      sha256: b.sha256,
      retainUntil: new Date("2032-03-10T11:00:00.000Z"),
      contentType: "application/json",
    });
    store.calls.length = 0;
    await uploader.pump();
    expect(store.puts()).toEqual([]);
    expect(store.versions.get(k)).toHaveLength(1);
    expect(uploader.versionOf(k)).toBe("ver-1");
  });

  it("never overwrites different content under the key: the object fails, the queue moves on", async () => {
    const { store, uploader } = setup();
    const { key: k1 } = uploader.enqueue(bundle(1));
    const { key: k2 } = uploader.enqueue(bundle(2));
    const other = canonicalBytes({ other: 1 });
    store.versions.set(k1, [
      {
        versionId: "ver-x",
        req: { key: k1, body: other, sha256: sha256Hex(other), retainUntil: new Date(), contentType: "x/y" },
      },
    ]);
    expect(await uploader.pump()).toEqual({ uploaded: 1, failed: 1, retryAt: null });
    expect(store.puts()).toEqual([k2]);
    expect(uploader.counts()).toEqual({ pending: 0, uploaded: 1, failed: 1 });
    const row = db.prepare("SELECT last_error, body FROM worm_objects WHERE object_key = ?").get(k1) as {
      last_error: string;
      body: Buffer | null;
    };
    expect(row.last_error).toMatch(/different content/);
    expect(row.body).not.toBeNull();
  });

  it("keeps a refused object for an operator and uploads it after requeueFailed", async () => {
    const { store, uploader } = setup();
    const { key: k1 } = uploader.enqueue(bundle(1));
    uploader.enqueue(bundle(2));
    store.refuseKey = k1;
    expect(await uploader.pump()).toMatchObject({ uploaded: 1, failed: 1 });
    store.refuseKey = null;
    expect(uploader.requeueFailed()).toBe(1);
    expect(await uploader.pump()).toMatchObject({ uploaded: 1, failed: 0 });
    expect(uploader.counts()).toEqual({ pending: 0, uploaded: 2, failed: 0 });
  });

  it("backs off exponentially during an outage without reordering, then uploads everything", async () => {
    const { clock, store, uploader } = setup();
    const keys = [1, 2, 3].map((seq) => uploader.enqueue(bundle(seq)).key);
    await uploader.checkStorage();
    store.down = true;
    const start = clock.now().getTime();
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await uploader.pump();
      expect(r.uploaded).toBe(0);
      const retryAt = r.retryAt?.getTime() ?? Number.NaN;
      waits.push(retryAt - clock.now().getTime());
      // Not due yet: a pass before retryAt makes no attempt.
      store.calls.length = 0;
      expect((await uploader.pump()).retryAt?.getTime()).toBe(retryAt);
      expect(store.calls).toEqual([]);
      await clock.advance(retryAt - clock.now().getTime());
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(clock.now().getTime() - start).toBe(23_000);
    const attempts = db.prepare("SELECT attempts FROM worm_objects ORDER BY id").all();
    expect(attempts).toEqual([{ attempts: 5 }, { attempts: 0 }, { attempts: 0 }]);
    store.down = false;
    expect(await uploader.pump()).toEqual({ uploaded: 3, failed: 0, retryAt: null });
    expect(store.puts()).toEqual(keys);
  });

  it("survives a restart: a new uploader on the same database uploads what the old one queued", async () => {
    const { store, uploader, clock } = setup();
    uploader.enqueue(bundle(1));
    await uploader.checkStorage();
    store.down = true;
    await uploader.pump();
    const again = createWormUploader({ db, store, clock, signingKey: key, random: () => 0 });
    store.down = false;
    await clock.advance(60_000);
    expect(await again.pump()).toMatchObject({ uploaded: 1 });
  });
});

describe("storage check", () => {
  it("refuses to start or pump against storage without Object Lock, and writes nothing", async () => {
    const { store, uploader } = setup();
    store.locked = false;
    uploader.enqueue(bundle(1));
    await expect(uploader.start()).rejects.toMatchObject({ code: "config_invalid" });
    await expect(uploader.pump()).rejects.toMatchObject({ code: "config_invalid" });
    expect(store.puts()).toEqual([]);
    expect(uploader.counts()).toEqual({ pending: 1, uploaded: 0, failed: 0 });
    await uploader.stop();
  });

  it("starts while storage is unreachable and checks it before the first upload", async () => {
    const { clock, store, uploader } = setup();
    store.down = true;
    uploader.enqueue(bundle(1));
    const r = await uploader.pump();
    expect(r).toMatchObject({ uploaded: 0, retryAt: new Date(clock.now().getTime() + 1000) });
    expect(store.calls).toEqual(["checkBucket"]);
    store.down = false;
    store.locked = false;
    await clock.advance(1000);
    await expect(uploader.pump()).rejects.toMatchObject({ code: "config_invalid" });
    store.locked = true;
    expect(await uploader.pump()).toMatchObject({ uploaded: 1 });
    expect(store.calls.filter((c) => c === "checkBucket")).toHaveLength(3);
  });

  it("stops the loop when the storage is refused, keeping the queue", async () => {
    const { clock, store, uploader } = setup({ idleMs: 60_000 });
    store.down = true;
    await uploader.start();
    uploader.enqueue(bundle(1));
    store.down = false;
    store.locked = false;
    await clock.advance(2000);
    await uploader.stop();
    expect(store.puts()).toEqual([]);
    expect(uploader.counts().pending).toBe(1);
  });
});

describe("retryDelay", () => {
  it("stays between half and all of the capped exponential and is never zero", () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect(retryDelay(0, b, () => 0)).toBe(50);
    expect(retryDelay(0, b, () => 1)).toBe(100);
    expect(retryDelay(3, b, () => 0.5)).toBe(600);
    expect(retryDelay(1000, b, () => 0)).toBe(500);
    expect(retryDelay(0, { initialMs: 1, maxMs: 1 }, () => 0)).toBe(1);
  });
});

describe("loop", () => {
  it("uploads on enqueue, rides out an outage and stops cleanly", async () => {
    const { clock, store, uploader } = setup({ idleMs: 60_000 });
    await uploader.start();
    uploader.enqueue(bundle(1));
    await waitFor(() => uploader.counts().uploaded === 1);
    store.down = true;
    const k2 = uploader.enqueue(bundle(2)).key;
    await waitFor(() => store.calls.includes(`head ${k2}`));
    expect(uploader.counts().pending).toBe(1);
    store.down = false;
    await clock.advance(1000);
    await waitFor(() => uploader.counts().uploaded === 2);
    await uploader.stop();
    await uploader.stop();
  });
});

describe("daily checkpoints", () => {
  it("signs one checkpoint per clinic per finished day, including empty days, queued after its bundles", async () => {
    const { clock, store, uploader } = setup();
    uploader.enqueue(bundle(1));
    uploader.enqueue(bundle(2, { agent_id: "agent-0" }));
    uploader.enqueue(bundle(3));
    expect(uploader.checkpoint().created).toEqual([]);
    await clock.advance(2 * 86_400_000);
    expect(uploader.checkpoint().created).toEqual(["clinic-a/2026-03-10", "clinic-a/2026-03-11"]);
    expect(uploader.checkpoint().created).toEqual([]);
    await uploader.pump();
    expect(store.puts().slice(3)).toEqual([
      "checkpoints/clinic-a/2026-03-10.json",
      "checkpoints/clinic-a/2026-03-11.json",
    ]);
    const cp = JSON.parse(String(await store.get("checkpoints/clinic-a/2026-03-10.json")));
    const pub = key.publicKey.toString("base64");
    // Leaf order is agent_id, then seq.
    const hashes = [bundle(2, { agent_id: "agent-0" }), bundle(1), bundle(3)].map((b) => b.sha256);
    expect(verifyCheckpoint(cp, pub, hashes)).toMatchObject({ ok: true });
    expect(verifyCheckpoint(cp, pub, [...hashes].reverse())).toMatchObject({
      ok: false,
      problem: "root_mismatch",
    });
    expect(cp).toMatchObject({
      bundle_count: 3,
      first_bundle_id: "EB-20260310-0002",
      last_bundle_id: "EB-20260310-0003",
      agents: [
        { agent_id: "agent-0", count: 1, first_seq: 2, last_seq: 2 },
        { agent_id: "agent-1", count: 2, first_seq: 1, last_seq: 3 },
      ],
    });
    const empty = JSON.parse(String(await store.get("checkpoints/clinic-a/2026-03-11.json")));
    expect(empty).toMatchObject({ bundle_count: 0, first_bundle_id: null, agents: [] });
    expect(empty.root).toBe(sha256Hex(""));
    const retention = await store.retention("checkpoints/clinic-a/2026-03-10.json");
    expect(retention?.retainUntil.toISOString()).toBe("2032-03-11T00:00:00.000Z");
  });

  it("files a bundle that arrives after its day was checkpointed under the next open day", async () => {
    const { clock, uploader } = setup();
    uploader.enqueue(bundle(1));
    await clock.advance(86_400_000);
    uploader.checkpoint();
    const late = new FakeClock("2026-03-10T23:00:00.000Z");
    const back = createWormUploader({ db, store: new FakeStore(), clock: late, signingKey: key });
    expect(back.enqueue(bundle(2)).key).toContain("/2026-03-11/");
  });
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}
