import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock, isMspError } from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { GUARDRAIL_MIGRATIONS } from "./migrations.js";
import { createRateLimiter, type RateAction, type RateDecision, rateLimitedError } from "./rate-limit.js";

let dir: string;
let dbPath: string;
let db: Db;
let clock: FakeClock;

const open = () => {
  const d = openDatabase(dbPath);
  migrate(d, GUARDRAIL_MIGRATIONS);
  return d;
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "guardrails-rl-"));
  dbPath = join(dir, "cp.db");
  db = open();
  clock = new FakeClock("2026-03-01T10:00:00.000Z");
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const act = (over: Partial<RateAction> = {}): RateAction => ({
  clientId: "clinic-a",
  hostname: "srv1",
  runbookId: "RB-BACKUP-001",
  ...over,
});
const refused = (d: RateDecision) => {
  if (d.allowed) throw new Error("expected a refusal");
  return d;
};
const rows = (d: Db) => (d.prepare("SELECT count(*) AS n FROM guardrail_actions").get() as { n: number }).n;

describe("cooldown", () => {
  it("blocks the second identical action until the cooldown ends; other hosts and runbooks pass", async () => {
    const rl = createRateLimiter({ db, clock });
    expect(rl.consume(act()).allowed).toBe(true);
    const second = refused(rl.consume(act()));
    expect(second).toMatchObject({ limit: "cooldown", retry_after_seconds: 300, used: 1, max: 1 });
    expect(second.retry_at).toBe("2026-03-01T10:05:00.000Z");
    // Host names are case-insensitive: the same host in capitals is the same key.
    expect(refused(rl.consume(act({ hostname: "SRV1" }))).limit).toBe("cooldown");
    expect(rl.consume(act({ hostname: "srv2" })).allowed).toBe(true);
    expect(rl.consume(act({ runbookId: "RB-DISK-001" })).allowed).toBe(true);
    expect(rl.consume(act({ clientId: "clinic-b" })).allowed).toBe(true);

    await clock.advance(299_500);
    expect(refused(rl.consume(act())).retry_after_seconds).toBe(1);
    await clock.advance(500);
    expect(rl.consume(act()).allowed).toBe(true);
    // A refusal records nothing: 4 admitted on the first round, 1 after the cooldown.
    expect(rows(db)).toBe(5);
  });

  it("is disabled by cooldown_seconds 0", () => {
    const rl = createRateLimiter({ db, clock, limits: { cooldown_seconds: 0 } });
    expect(rl.consume(act()).allowed).toBe(true);
    expect(rl.consume(act()).allowed).toBe(true);
  });
});

describe("hourly budgets", () => {
  it("refuses the clinic's 4th action in an hour and frees a slot when the oldest leaves the window", async () => {
    const rl = createRateLimiter({ db, clock, limits: { per_clinic_per_hour: 3 } });
    for (const h of ["h1", "h2", "h3"]) {
      expect(rl.consume(act({ hostname: h })).allowed).toBe(true);
      await clock.advance(60_000);
    }
    // Entries at 10:00, 10:01, 10:02; now 10:03. The 10:00 entry leaves at 11:00.
    const r = refused(rl.consume(act({ hostname: "h4" })));
    expect(r).toMatchObject({ limit: "clinic", retry_after_seconds: 57 * 60, used: 3, max: 3 });
    expect(rateLimitedError(r).retryAfterSeconds).toBe(57 * 60);
    expect(rl.consume(act({ clientId: "clinic-b", hostname: "h4" })).allowed).toBe(true);
    await clock.advance(57 * 60_000 - 1);
    expect(refused(rl.consume(act({ hostname: "h4" }))).retry_after_seconds).toBe(1);
    await clock.advance(1);
    expect(rl.consume(act({ hostname: "h4" })).allowed).toBe(true);
  });

  it("refuses any clinic once the global budget is used, and reports the limit that frees last", async () => {
    const rl = createRateLimiter({
      db,
      clock,
      limits: { per_clinic_per_hour: 2, global_per_hour: 3, cooldown_seconds: 60 },
    });
    expect(rl.consume(act({ clientId: "c2", hostname: "a" })).allowed).toBe(true);
    await clock.advance(10_000);
    expect(rl.consume(act({ clientId: "c1", hostname: "a" })).allowed).toBe(true);
    await clock.advance(10_000);
    expect(rl.consume(act({ clientId: "c1", hostname: "b" })).allowed).toBe(true);
    const g = refused(rl.consume(act({ clientId: "c3", hostname: "a" })));
    expect(g).toMatchObject({ limit: "global", used: 3, max: 3, retry_after_seconds: 3600 - 20 });
    // c1 hits its cooldown, its own budget and the global one: all are listed, the one freeing last is named.
    const all = refused(rl.consume(act({ clientId: "c1", hostname: "b" })));
    expect(all.hits).toEqual([
      { limit: "cooldown", retry_after_seconds: 60, used: 1, max: 1 },
      { limit: "clinic", retry_after_seconds: 3600 - 10, used: 2, max: 2 },
      { limit: "global", retry_after_seconds: 3600 - 20, used: 3, max: 3 },
    ]);
    expect(all.limit).toBe("clinic");
    expect(all.retry_after_seconds).toBe(3600 - 10);
    const err = rateLimitedError(all);
    expect(isMspError(err, "rate_limited")).toBe(true);
    expect(err.status).toBe(429);
    expect(err.details).toMatchObject({ limit: "clinic", hits: ["cooldown", "clinic", "global"] });
  });

  it("check answers like consume but records nothing", () => {
    const rl = createRateLimiter({ db, clock });
    expect(rl.check(act()).allowed).toBe(true);
    expect(rl.check(act()).allowed).toBe(true);
    expect(rows(db)).toBe(0);
    rl.consume(act());
    expect(refused(rl.check(act())).limit).toBe("cooldown");
    expect(rows(db)).toBe(1);
  });
});

describe("persistence and housekeeping", () => {
  it("keeps budgets and cooldowns across a restart (close and reopen the file)", () => {
    const first = createRateLimiter({ db, clock, limits: { per_clinic_per_hour: 2 } });
    expect(first.consume(act({ hostname: "a" })).allowed).toBe(true);
    expect(first.consume(act({ hostname: "b" })).allowed).toBe(true);
    db.close();
    db = open();
    const again = createRateLimiter({ db, clock, limits: { per_clinic_per_hour: 2 } });
    expect(refused(again.consume(act({ hostname: "c" }))).limit).toBe("clinic");
    const cooled = refused(again.check(act({ hostname: "a" })));
    expect(cooled.hits.map((h) => h.limit)).toContain("cooldown");
  });

  it("prunes entries older than the longest window on consume", async () => {
    const rl = createRateLimiter({ db, clock });
    rl.consume(act({ hostname: "a" }));
    rl.consume(act({ hostname: "b" }));
    await clock.advance(3_600_000);
    rl.consume(act({ hostname: "c" }));
    expect(rows(db)).toBe(1);
  });

  it("state reports use, limits, next free time and active cooldowns without writing", async () => {
    const rl = createRateLimiter({ db, clock, limits: { per_clinic_per_hour: 2 } });
    rl.consume(act({ hostname: "a" }));
    await clock.advance(120_000);
    rl.consume(act({ hostname: "b", runbookId: "RB-DISK-001" }));
    rl.consume(act({ clientId: "clinic-b" }));
    const s = rl.state("clinic-a");
    expect(s.limits).toEqual({ cooldown_seconds: 300, per_clinic_per_hour: 2, global_per_hour: 1000 });
    expect(s.clinic).toEqual({
      used: 2,
      max: 2,
      window_seconds: 3600,
      next_free_at: "2026-03-01T11:00:00.000Z",
    });
    expect(s.global).toMatchObject({ used: 3, max: 1000, next_free_at: "2026-03-01T10:02:00.000Z" });
    expect(s.cooldowns).toEqual([
      {
        hostname: "b",
        runbook_id: "RB-DISK-001",
        until: "2026-03-01T10:07:00.000Z",
        retry_after_seconds: 300,
      },
      {
        hostname: "a",
        runbook_id: "RB-BACKUP-001",
        until: "2026-03-01T10:05:00.000Z",
        retry_after_seconds: 180,
      },
    ]);
    expect(rows(db)).toBe(3);
    await clock.advance(3_600_000);
    const later = rl.state("clinic-a");
    expect(later.clinic.used).toBe(0);
    expect(later.cooldowns).toEqual([]);
    // state is read-only: expired rows are left for the next consume to prune.
    expect(rows(db)).toBe(3);
  });
});

describe("bad input", () => {
  it("refuses a malformed action with invalid_input and records nothing", () => {
    const rl = createRateLimiter({ db, clock });
    const bad: RateAction[] = [
      act({ clientId: "Clinic A" }),
      act({ hostname: "srv1; rm -rf /" }),
      act({ runbookId: "rm -rf" }),
      act({ hostname: "" }),
    ];
    for (const a of bad) {
      let caught: unknown;
      try {
        rl.consume(a);
      } catch (e) {
        caught = e;
      }
      expect(isMspError(caught, "invalid_input"), JSON.stringify(a)).toBe(true);
    }
    expect(() => rl.state("../etc")).toThrow(/slug/);
    expect(rows(db)).toBe(0);
  });

  it("fails fast on bad limits and on a database without the guardrail tables", () => {
    expect(() => createRateLimiter({ db, clock, limits: { per_clinic_per_hour: 0 } })).toThrow(
      /invalid rate limits/,
    );
    expect(() => createRateLimiter({ db, clock, limits: { cooldown_seconds: 1.5 } })).toThrow(
      /invalid rate limits/,
    );
    const bare = openDatabase(":memory:");
    let caught: unknown;
    try {
      createRateLimiter({ db: bare, clock });
    } catch (e) {
      caught = e;
    }
    expect(isMspError(caught, "config_invalid")).toBe(true);
    bare.close();
  });
});
