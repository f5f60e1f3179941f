import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMspError } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { commitWithoutSync, migrate, openDatabase } from "./index.js";

describe("migrate", () => {
  it("applies each migration once and records it", () => {
    const db = openDatabase(":memory:");
    const ms = [
      { id: "t-001", sql: "CREATE TABLE a (x INTEGER) STRICT" },
      { id: "t-002", sql: "CREATE TABLE b (y TEXT) STRICT" },
    ];
    expect(migrate(db, ms)).toEqual(["t-001", "t-002"]);
    expect(migrate(db, ms)).toEqual([]);
    expect(db.prepare("SELECT count(*) AS n FROM schema_migrations").get()).toEqual({ n: 2 });
  });

  it("refuses an applied migration whose SQL changed, and duplicate ids", () => {
    const db = openDatabase(":memory:");
    migrate(db, [{ id: "t-001", sql: "CREATE TABLE a (x INTEGER) STRICT" }]);
    expect(() => migrate(db, [{ id: "t-001", sql: "CREATE TABLE a (x TEXT) STRICT" }])).toThrow(/changed/);
    let caught: unknown;
    try {
      migrate(db, [
        { id: "t-009", sql: "SELECT 1" },
        { id: "t-009", sql: "SELECT 2" },
      ]);
    } catch (e) {
      caught = e;
    }
    expect(isMspError(caught, "config_invalid")).toBe(true);
  });

  it("rolls back a failing migration entirely", () => {
    const db = openDatabase(":memory:");
    expect(() =>
      migrate(db, [{ id: "t-001", sql: "CREATE TABLE a (x INTEGER); CREATE TABLE a (y INTEGER);" }]),
    ).toThrow();
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").get()).toBeUndefined();
  });
});

describe("commitWithoutSync", () => {
  it("commits, then restores synchronous=FULL; inside a transaction it joins it", () => {
    const dir = mkdtempSync(join(tmpdir(), "msp-db-"));
    const db = openDatabase(join(dir, "t.db"));
    try {
      db.exec("CREATE TABLE t (x INTEGER) STRICT");
      commitWithoutSync(db, () => db.prepare("INSERT INTO t VALUES (1)").run());
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
      expect(db.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 1 });
      expect(() =>
        db.transaction(() => {
          commitWithoutSync(db, () => db.prepare("INSERT INTO t VALUES (2)").run());
          throw new Error("outer rolls back");
        })(),
      ).toThrow(/outer/);
      expect(db.prepare("SELECT count(*) AS n FROM t").get()).toEqual({ n: 1 });
      expect(() =>
        commitWithoutSync(db, () => {
          throw new Error("inner fails");
        }),
      ).toThrow(/inner/);
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
