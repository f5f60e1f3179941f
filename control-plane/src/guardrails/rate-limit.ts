/**
 * Rate limits on remediations, in the seeds' three layers: a per-action
 * cooldown (same clinic, host and runbook) against thrashing, an hourly
 * budget per clinic against one tenant flooding the system, and an hourly
 * global budget protecting capacity.
 *
 * Each admitted action is one row in `guardrail_actions`; the windows slide
 * over those rows, so a restart changes nothing. Check and consume happen in
 * ONE `BEGIN IMMEDIATE` transaction: SQLite lets a single writer in at a time,
 * so two requests (from two connections or two processes) can never both see
 * the last free slot. A refusal is a value saying which limit bound and when
 * it frees up; {@link rateLimitedError} turns it into the HTTP 429 error.
 */
import { ClinicId, type Clock, ControlPlaneConfig, Hostname, MspError, RunbookId } from "@msp/shared";
import type { Db } from "../db/index.js";

const HOUR_MS = 3_600_000;

/** The three limits, named as they appear in refusals and in the API. */
export type RateLimitName = "cooldown" | "clinic" | "global";

/** The configured limits: `ControlPlaneConfig.rate_limits`, defaults from the seeds (300 s, 100/h, 1000/h). */
export type RateLimits = ControlPlaneConfig["rate_limits"];

/** The action being rate limited; the cooldown key is all three fields. */
export interface RateAction {
  clientId: string;
  hostname: string;
  runbookId: string;
}

/** One limit an action ran into. `used`/`max` count actions in the limit's window. */
export interface LimitHit {
  limit: RateLimitName;
  retry_after_seconds: number;
  used: number;
  max: number;
}

/**
 * The answer to "may this action run now?". When several limits are hit,
 * `limit` names the one that frees up last, because that is when a retry can
 * succeed; every hit is listed in `hits`.
 */
export type RateDecision =
  | { allowed: true; checked_at: string }
  | {
      allowed: false;
      limit: RateLimitName;
      retry_after_seconds: number;
      retry_at: string;
      used: number;
      max: number;
      hits: LimitHit[];
    };

/** A refusal, for code that only handles that case. */
export type RateRefusal = Extract<RateDecision, { allowed: false }>;

/** Use of one hourly budget, for the API. `next_free_at` is now when a slot is free. */
export interface WindowState {
  used: number;
  max: number;
  window_seconds: number;
  next_free_at: string;
}

/** Read-only view of one clinic's limits for the API (`GET /rate-limits/:clinic`). */
export interface RateState {
  clinic_id: string;
  at: string;
  limits: RateLimits;
  clinic: WindowState;
  global: WindowState;
  /** Actions of this clinic still cooling down, most recent first (at most 100). */
  cooldowns: { hostname: string; runbook_id: string; until: string; retry_after_seconds: number }[];
}

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** A database with {@link GUARDRAIL_MIGRATIONS} applied. */
  db: Db;
  clock: Clock;
  /** Overrides of the seeds' defaults, checked with the config schema. */
  limits?: Partial<RateLimits>;
}

/** The rate limiter the incident pipeline calls between validation and the circuit breaker. */
export interface RateLimiter {
  readonly limits: RateLimits;
  /** Admits and records the action, or refuses it; one atomic step. Throws `invalid_input` for a malformed action. */
  consume(action: RateAction): RateDecision;
  /** The same answer as `consume` without recording anything, so a planner can skip work that would be refused. */
  check(action: RateAction): RateDecision;
  /** Current use of a clinic's limits; writes nothing. */
  state(clinicId: string): RateState;
}

const limitsSchema = ControlPlaneConfig.shape.rate_limits.unwrap();

/**
 * Creates a rate limiter over `db`. Fails fast with `config_invalid` on bad
 * limits or a database without the guardrail tables.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const parsed = limitsSchema.safeParse(options.limits ?? {});
  if (!parsed.success) {
    throw new MspError("config_invalid", `invalid rate limits: ${parsed.error.issues[0]?.message ?? "?"}`, {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })) },
    });
  }
  const limits: RateLimits = Object.freeze({ ...parsed.data });
  const { db, clock } = options;
  const cooldownMs = limits.cooldown_seconds * 1000;
  const keepMs = Math.max(HOUR_MS, cooldownMs);
  const q = prepare(db);

  /** Every limit `action` would run into at `now`; empty when it may run. */
  const hitsAt = (a: RateAction, now: number): LimitHit[] => {
    const hits: LimitHit[] = [];
    if (cooldownMs > 0) {
      const last = (
        q.lastForKey.get(a.clientId, a.hostname, a.runbookId, now - cooldownMs) as { last: number | null }
      ).last;
      if (last !== null) {
        hits.push({
          limit: "cooldown",
          retry_after_seconds: secondsUntil(last + cooldownMs, now),
          used: 1,
          max: 1,
        });
      }
    }
    const clinicUsed = (q.countClinic.get(a.clientId, now - HOUR_MS) as { n: number }).n;
    if (clinicUsed >= limits.per_clinic_per_hour) {
      // The slot frees when enough of the oldest entries leave the window to drop below the limit.
      const row = q.nthClinic.get(a.clientId, now - HOUR_MS, clinicUsed - limits.per_clinic_per_hour) as {
        at_ms: number;
      };
      hits.push({
        limit: "clinic",
        retry_after_seconds: secondsUntil(row.at_ms + HOUR_MS, now),
        used: clinicUsed,
        max: limits.per_clinic_per_hour,
      });
    }
    const globalUsed = (q.countAll.get(now - HOUR_MS) as { n: number }).n;
    if (globalUsed >= limits.global_per_hour) {
      const row = q.nthAll.get(now - HOUR_MS, globalUsed - limits.global_per_hour) as { at_ms: number };
      hits.push({
        limit: "global",
        retry_after_seconds: secondsUntil(row.at_ms + HOUR_MS, now),
        used: globalUsed,
        max: limits.global_per_hour,
      });
    }
    return hits;
  };

  const decide = (hits: LimitHit[], now: number): RateDecision => {
    const worst = hits.reduce<LimitHit | undefined>(
      (w, h) => (w === undefined || h.retry_after_seconds > w.retry_after_seconds ? h : w),
      undefined,
    );
    if (worst === undefined) return { allowed: true, checked_at: new Date(now).toISOString() };
    return {
      allowed: false,
      limit: worst.limit,
      retry_after_seconds: worst.retry_after_seconds,
      retry_at: new Date(now + worst.retry_after_seconds * 1000).toISOString(),
      used: worst.used,
      max: worst.max,
      hits,
    };
  };

  const consumeTx = db.transaction((a: RateAction, now: number): RateDecision => {
    q.prune.run(now - keepMs);
    const decision = decide(hitsAt(a, now), now);
    if (decision.allowed) q.insert.run(a.clientId, a.hostname, a.runbookId, now);
    return decision;
  });
  const checkTx = db.transaction((a: RateAction, now: number) => decide(hitsAt(a, now), now));

  const stateTx = db.transaction((clinicId: string, now: number): RateState => {
    const windowState = (used: number, max: number, nth: () => { at_ms: number }): WindowState => ({
      used,
      max,
      window_seconds: HOUR_MS / 1000,
      next_free_at: new Date(used < max ? now : nth().at_ms + HOUR_MS).toISOString(),
    });
    const clinicUsed = (q.countClinic.get(clinicId, now - HOUR_MS) as { n: number }).n;
    const globalUsed = (q.countAll.get(now - HOUR_MS) as { n: number }).n;
    const cooling =
      cooldownMs > 0
        ? (q.cooldowns.all(clinicId, now - cooldownMs) as {
            hostname: string;
            runbook_id: string;
            last: number;
          }[])
        : [];
    return {
      clinic_id: clinicId,
      at: new Date(now).toISOString(),
      limits,
      clinic: windowState(
        clinicUsed,
        limits.per_clinic_per_hour,
        () =>
          q.nthClinic.get(clinicId, now - HOUR_MS, clinicUsed - limits.per_clinic_per_hour) as {
            at_ms: number;
          },
      ),
      global: windowState(
        globalUsed,
        limits.global_per_hour,
        () => q.nthAll.get(now - HOUR_MS, globalUsed - limits.global_per_hour) as { at_ms: number },
      ),
      cooldowns: cooling.map((c) => ({
        hostname: c.hostname,
        runbook_id: c.runbook_id,
        until: new Date(c.last + cooldownMs).toISOString(),
        retry_after_seconds: secondsUntil(c.last + cooldownMs, now),
      })),
    };
  });

  return {
    limits,
    consume: (action) => consumeTx.immediate(normalize(action), clock.now().getTime()),
    check: (action) => checkTx.deferred(normalize(action), clock.now().getTime()),
    state: (clinicId) => {
      if (!ClinicId.safeParse(clinicId).success) {
        throw new MspError("invalid_input", "clinic id must be a lower-case slug", {
          details: { field: "clinicId" },
        });
      }
      return stateTx.deferred(clinicId, clock.now().getTime());
    },
  };
}

/** The 429 error for a refusal: `retryAfterSeconds` feeds the Retry-After header, `details.limit` names the limit. */
export function rateLimitedError(refusal: RateRefusal): MspError {
  const what =
    refusal.limit === "cooldown"
      ? "this runbook ran on this host too recently"
      : refusal.limit === "clinic"
        ? `the clinic's budget of ${refusal.max} actions per hour is used up`
        : `the global budget of ${refusal.max} actions per hour is used up`;
  return new MspError("rate_limited", `rate limited: ${what}; retry in ${refusal.retry_after_seconds} s`, {
    retryAfterSeconds: refusal.retry_after_seconds,
    details: {
      limit: refusal.limit,
      retry_at: refusal.retry_at,
      used: refusal.used,
      max: refusal.max,
      hits: refusal.hits.map((h) => h.limit),
    },
  });
}

/** Whole seconds until `atMs`, never less than 1: a client told "retry in 0 s" would spin. */
function secondsUntil(atMs: number, now: number): number {
  return Math.max(1, Math.ceil((atMs - now) / 1000));
}

/** Validates an action; host names are case-insensitive, so the cooldown key uses lower case. */
function normalize(action: RateAction): RateAction {
  const bad: string[] = [];
  if (typeof action !== "object" || action === null) bad.push("action");
  else {
    if (!ClinicId.safeParse(action.clientId).success) bad.push("clientId");
    if (!Hostname.safeParse(action.hostname).success) bad.push("hostname");
    if (!RunbookId.safeParse(action.runbookId).success) bad.push("runbookId");
  }
  if (bad.length > 0) {
    throw new MspError("invalid_input", `invalid rate-limited action: bad ${bad.join(", ")}`, {
      details: { fields: bad },
    });
  }
  return { clientId: action.clientId, hostname: action.hostname.toLowerCase(), runbookId: action.runbookId };
}

function prepare(db: Db) {
  try {
    return {
      lastForKey: db.prepare(
        "SELECT max(at_ms) AS last FROM guardrail_actions WHERE client_id = ? AND hostname = ? AND runbook_id = ? AND at_ms > ?",
      ),
      countClinic: db.prepare(
        "SELECT count(*) AS n FROM guardrail_actions WHERE client_id = ? AND at_ms > ?",
      ),
      nthClinic: db.prepare(
        "SELECT at_ms FROM guardrail_actions WHERE client_id = ? AND at_ms > ? ORDER BY at_ms LIMIT 1 OFFSET ?",
      ),
      countAll: db.prepare("SELECT count(*) AS n FROM guardrail_actions WHERE at_ms > ?"),
      nthAll: db.prepare(
        "SELECT at_ms FROM guardrail_actions WHERE at_ms > ? ORDER BY at_ms LIMIT 1 OFFSET ?",
      ),
      cooldowns: db.prepare(
        `SELECT hostname, runbook_id, max(at_ms) AS last FROM guardrail_actions
         WHERE client_id = ? AND at_ms > ? GROUP BY hostname, runbook_id ORDER BY last DESC LIMIT 100`,
      ),
      insert: db.prepare(
        "INSERT INTO guardrail_actions (client_id, hostname, runbook_id, at_ms) VALUES (?, ?, ?, ?)",
      ),
      prune: db.prepare("DELETE FROM guardrail_actions WHERE at_ms <= ?"),
    };
  } catch (e) {
    throw new MspError("config_invalid", "guardrail tables are missing: apply GUARDRAIL_MIGRATIONS first", {
      cause: e,
    });
  }
}
