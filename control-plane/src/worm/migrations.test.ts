import { canonicalBytes, generateSigningKey, sha256Hex } from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { queueCheckpoint } from "./checkpoint.js";
import { createWormObjectQueue, makeEnqueue } from "./enqueue.js";
import { WORM_MIGRATIONS } from "./migrations.js";
import { WormQueue } from "./queue.js";

let db: Db;
afterEach(() => db?.close());

const TABLES = ["worm_objects", "worm_bundles", "worm_checkpoints"] as const;
const rows = (table: string) => db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all();
const indexes = (d: Db) =>
  d.prepare("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name").all() as {
    name: string;
    tbl_name: string;
    sql: string | null;
  }[];

/** A worm-001 database with uploaded, pending and failed bundles and a checkpoint, as the uploader leaves it. */
function populated(): void {
  db = openDatabase(":memory:");
  migrate(db, WORM_MIGRATIONS.slice(0, 1));
  const queue = new WormQueue(db);
  const at = new Date("2026-03-10T12:00:00.000Z");
  const enqueue = makeEnqueue(queue, 6, () => at);
  for (let seq = 1; seq <= 4; seq++) {
    const body = canonicalBytes({ seq, note: "evidence" });
    enqueue({
      client_id: "clinic-a",
      agent_id: "agent-1",
      seq,
      bundle_id: `EB-20260310-${String(seq).padStart(4, "0")}`,
      sha256: sha256Hex(body),
      created_at: "2026-03-10T11:00:00.000Z",
      body,
    });
  }
  queue.markUploaded(1, "ver-1", at);
  queue.markRetry(2, at.getTime() + 5000, "S3 unavailable (test)");
  queue.markFailed(3, "S3 denied (test)");
  db.transaction(() =>
    queueCheckpoint(
      queue,
      generateSigningKey(),
      "clinic-a",
      "2026-03-10",
      new Date("2026-03-11T00:00:01Z"),
      6,
    ),
  )();
}

describe("worm-002", () => {
  it("keeps every row, id and index of a populated database and admits packet objects", () => {
    populated();
    const before = Object.fromEntries(TABLES.map((t) => [t, rows(t)]));
    expect(before.worm_objects).toHaveLength(5);
    const packet = {
      client_id: "clinic-a",
      kind: "packet" as const,
      key: "packets/clinic-a/2026-03/CP-202603-0123456789abcdef/packet.md",
      body: Buffer.from("# Packet\n"),
      content_type: "text/markdown; charset=utf-8",
      retain_until: new Date("2032-03-11T00:00:00.000Z"),
    };
    const objects = createWormObjectQueue(db, () => new Date("2026-03-11T00:00:02Z"));
    expect(() => objects.enqueue(packet)).toThrow(/CHECK constraint/);

    expect(migrate(db, WORM_MIGRATIONS)).toEqual(["worm-002"]);
    for (const t of TABLES) expect(rows(t)).toEqual(before[t]);
    const fresh = openDatabase(":memory:");
    migrate(fresh, WORM_MIGRATIONS);
    expect(indexes(db)).toEqual(indexes(fresh));
    expect(indexes(db).map((i) => i.name)).toEqual(
      expect.arrayContaining([
        "worm_bundles_created",
        "worm_bundles_day",
        "worm_objects_client",
        "worm_objects_state",
      ]),
    );
    fresh.close();
    expect(db.pragma("foreign_key_check")).toEqual([]);
    expect(db.pragma("integrity_check")).toEqual([{ integrity_check: "ok" }]);

    expect(objects.enqueue(packet).status).toBe("queued");
    // Foreign keys still point at worm_objects, and are still enforced.
    expect(() =>
      db
        .prepare(
          "INSERT INTO worm_bundles VALUES ('clinic-a', 'agent-1', 9, 'EB-20260310-0009', 's', 't', 'd', 99)",
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
    expect(() =>
      db
        .prepare(
          `INSERT INTO worm_objects (client_id, kind, object_key, sha256, size, content_type, retain_until, body,
             state, next_attempt_at, enqueued_at) VALUES ('c', 'other', 'k', 's', 1, 't', 'r', x'00', 'pending', 0, 't')`,
        )
        .run(),
    ).toThrow(/CHECK constraint/);
    // The queue carries on in the same order: pending bundles, the checkpoint, then the packet.
    const queue = new WormQueue(db);
    expect(queue.head()?.id).toBe(2);
    expect(queue.counts()).toEqual({ pending: 4, uploaded: 1, failed: 1 });
  });
});
