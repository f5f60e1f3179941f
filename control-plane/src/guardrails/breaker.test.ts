import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock, isMspError, MspError } from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { BREAKER_NAMES, type BreakerDecision, circuitOpenError, createBreakers } from "./breaker.js";
import { GUARDRAIL_MIGRATIONS } from "./migrations.js";

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock("2026-03-01T10:00:00.000Z");
});

const refused = (d: BreakerDecision) => {
  if (d.allowed) throw new Error("expected a refusal");
  return d;
};
const fail = (b: { recordFailure(): void }, n: number) => {
  for (let i = 0; i < n; i++) b.recordFailure();
};

describe("transitions (in memory, fake time)", () => {
  it("closed -> open after N consecutive failures; a success in between restarts the count", () => {
    const b = createBreakers({ clock, defaults: { failureThreshold: 3, openSeconds: 60 } }).get("llm");
    expect(b.allow()).toEqual({ allowed: true, state: "closed" });
    fail(b, 2);
    b.recordSuccess();
    fail(b, 2);
    expect(b.snapshot()).toMatchObject({ state: "closed", failures: 2, failure_threshold: 3 });
    b.recordFailure();
    expect(b.snapshot()).toMatchObject({
      state: "open",
      opened_at: "2026-03-01T10:00:00.000Z",
      half_open_at: "2026-03-01T10:01:00.000Z",
    });
    expect(refused(b.allow())).toEqual({
      allowed: false,
      state: "open",
      retry_after_seconds: 60,
      retry_at: "2026-03-01T10:01:00.000Z",
    });
  });

  it("open -> half_open after the open duration; half_open -> closed on a trial's success", async () => {
    const b = createBreakers({ clock, defaults: { failureThreshold: 2, openSeconds: 60 } }).get("llm");
    fail(b, 2);
    await clock.advance(59_001);
    expect(refused(b.allow()).retry_after_seconds).toBe(1);
    await clock.advance(999);
    expect(b.snapshot().state).toBe("half_open");
    expect(b.allow()).toEqual({ allowed: true, state: "half_open" });
    // One trial at a time by default: the second caller waits for the first trial's outcome.
    expect(refused(b.allow())).toMatchObject({ state: "half_open", retry_after_seconds: 900 });
    expect(b.snapshot().trials_in_flight).toBe(1);
    b.recordSuccess();
    expect(b.snapshot()).toMatchObject({ state: "closed", failures: 0, trials_in_flight: 0 });
    expect(b.allow().allowed).toBe(true);
  });

  it("half_open -> open on a trial's failure, for a whole new period", async () => {
    const b = createBreakers({ clock, defaults: { failureThreshold: 1, openSeconds: 30 } }).get(
      "runbook:RB-DISK-001",
    );
    b.recordFailure();
    await clock.advance(30_000);
    expect(b.allow()).toEqual({ allowed: true, state: "half_open" });
    b.recordFailure();
    expect(b.snapshot()).toMatchObject({ state: "open", opened_at: "2026-03-01T10:00:30.000Z" });
    expect(refused(b.allow())).toMatchObject({ state: "open", retry_after_seconds: 30 });
  });

  it("admits up to halfOpenMaxTrials trials, and frees a slot held by a trial that never reported", async () => {
    const b = createBreakers({
      clock,
      defaults: { failureThreshold: 1, openSeconds: 10, halfOpenMaxTrials: 2, trialTimeoutSeconds: 120 },
    }).get("llm");
    b.recordFailure();
    await clock.advance(10_000);
    expect(b.allow().allowed).toBe(true);
    expect(b.allow().allowed).toBe(true);
    expect(refused(b.allow())).toMatchObject({ state: "half_open", retry_after_seconds: 120 });
    await clock.advance(120_000);
    expect(b.allow()).toEqual({ allowed: true, state: "half_open" });
  });

  it("ignores outcomes reported while open: a late success does not close it, a late failure does not extend it", async () => {
    const b = createBreakers({ clock, defaults: { failureThreshold: 1, openSeconds: 60 } }).get("llm");
    b.recordFailure();
    await clock.advance(30_000);
    b.recordSuccess();
    b.recordFailure();
    expect(b.snapshot()).toMatchObject({ state: "open", opened_at: "2026-03-01T10:00:00.000Z" });
  });

  it("reset closes an open breaker; unknown or malformed names are refused", () => {
    const breakers = createBreakers({ clock, defaults: { failureThreshold: 1 } });
    const b = breakers.get(BREAKER_NAMES.runbook("RB-BACKUP-001"));
    b.recordFailure();
    expect(b.snapshot().state).toBe("open");
    expect(breakers.reset("runbook:RB-BACKUP-001")).toMatchObject({ state: "closed", failures: 0 });
    expect(b.allow()).toEqual({ allowed: true, state: "closed" });
    expect(() => breakers.reset("runbook:RB-NEVER-001")).toThrow(/no circuit breaker/);
    for (const bad of ["", "LLM", "runbook:RB 1; rm -rf /", "a".repeat(40)]) {
      let caught: unknown;
      try {
        breakers.get(bad);
      } catch (e) {
        caught = e;
      }
      expect(isMspError(caught, "invalid_input"), bad).toBe(true);
    }
  });
});

describe("run", () => {
  it("records outcomes and throws circuit_open without calling fn while open", async () => {
    const b = createBreakers({ clock, defaults: { failureThreshold: 2, openSeconds: 60 } }).get("llm");
    await expect(b.run(async () => "ok")).resolves.toBe("ok");
    const boom = () => Promise.reject(new Error("upstream down"));
    await expect(b.run(boom)).rejects.toThrow("upstream down");
    // An error the caller classes as not the dependency's fault counts as an answer.
    await expect(
      b.run(
        () => Promise.reject(new MspError("invalid_input", "bad")),
        () => false,
      ),
    ).rejects.toThrow("bad");
    expect(b.snapshot().failures).toBe(0);
    await expect(b.run(boom)).rejects.toThrow("upstream down");
    await expect(b.run(boom)).rejects.toThrow("upstream down");
    let called = false;
    let caught: unknown;
    try {
      await b.run(async () => {
        called = true;
      });
    } catch (e) {
      caught = e;
    }
    expect(called).toBe(false);
    expect(isMspError(caught, "circuit_open")).toBe(true);
    expect((caught as MspError).retryAfterSeconds).toBe(60);
    expect((caught as MspError).status).toBe(503);
    expect((caught as MspError).details).toMatchObject({ breaker: "llm", state: "open" });
  });

  it("circuitOpenError describes a half-open refusal", () => {
    const e = circuitOpenError("llm", {
      allowed: false,
      state: "half_open",
      retry_after_seconds: 5,
      retry_at: "2026-03-01T10:00:05.000Z",
    });
    expect(e.code).toBe("circuit_open");
    expect(e.message).toMatch(/half-open/);
    expect(e.retryAfterSeconds).toBe(5);
  });
});

describe("registry", () => {
  it("applies per-breaker overrides over the defaults and lists every breaker used", () => {
    const breakers = createBreakers({
      clock,
      defaults: { failureThreshold: 5 },
      overrides: { llm: { failureThreshold: 2 } },
    });
    const llm = breakers.get("llm");
    const rb = breakers.get("runbook:RB-CPU-001");
    fail(llm, 2);
    fail(rb, 2);
    expect(breakers.state().map((s) => [s.name, s.state, s.failure_threshold])).toEqual([
      ["llm", "open", 2],
      ["runbook:RB-CPU-001", "closed", 5],
    ]);
    expect(breakers.get("llm")).toBe(llm);
  });

  it("fails fast on bad tuning", () => {
    expect(() => createBreakers({ clock, defaults: { failureThreshold: 0 } })).toThrow(
      /invalid circuit breaker/,
    );
    expect(() => createBreakers({ clock, overrides: { llm: { openSeconds: -1 } } })).toThrow(/overrides.llm/);
    expect(() => createBreakers({ clock, overrides: { "bad name": {} } })).toThrow(/names look like/);
    expect(() => createBreakers({ clock, defaults: { extra: 1 } as never })).toThrow(
      /invalid circuit breaker/,
    );
  });
});

describe("persistence", () => {
  let dir: string;
  let db: Db;
  const open = () => {
    const d = openDatabase(join(dir, "cp.db"));
    migrate(d, GUARDRAIL_MIGRATIONS);
    return d;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "guardrails-br-"));
    db = open();
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an OPEN breaker stays open across a restart, then half-opens on time", async () => {
    const first = createBreakers({ clock, db, defaults: { failureThreshold: 2, openSeconds: 120 } });
    fail(first.get("llm"), 2);
    first.get("runbook:RB-DISK-001").recordFailure();
    db.close();

    db = open();
    await clock.advance(60_000);
    const again = createBreakers({ clock, db, defaults: { failureThreshold: 2, openSeconds: 120 } });
    expect(again.state().map((s) => [s.name, s.state, s.failures])).toEqual([
      ["llm", "open", 2],
      ["runbook:RB-DISK-001", "closed", 1],
    ]);
    expect(refused(again.get("llm").allow()).retry_after_seconds).toBe(60);
    await clock.advance(60_000);
    expect(again.get("llm").allow()).toEqual({ allowed: true, state: "half_open" });
    // The trial slot is stored too: a second registry on the same file sees it taken.
    const otherDb = openDatabase(join(dir, "cp.db"));
    const other = createBreakers({ clock, db: otherDb, defaults: { openSeconds: 120 } });
    expect(refused(other.get("llm").allow()).state).toBe("half_open");
    // A reset is stored, and is visible to the other registry at once.
    again.reset("llm");
    expect(other.get("llm").allow()).toEqual({ allowed: true, state: "closed" });
    otherDb.close();
  });

  it("refuses a database without the guardrail tables", () => {
    const bare = openDatabase(":memory:");
    let caught: unknown;
    try {
      createBreakers({ clock, db: bare });
    } catch (e) {
      caught = e;
    }
    expect(isMspError(caught, "config_invalid")).toBe(true);
    bare.close();
  });
});
