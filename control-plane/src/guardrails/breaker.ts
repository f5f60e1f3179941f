/**
 * Circuit breakers, one per runbook and one for the LLM: after
 * `failureThreshold` consecutive failures a breaker OPENs and refuses calls
 * for `openSeconds`, so a runbook that keeps failing on every host (or an LLM
 * endpoint that is down) stops being hammered. Then it is HALF_OPEN and lets
 * up to `halfOpenMaxTrials` trial calls through: a success CLOSEs it, a
 * failure OPENs it again for another period. An admin can reset it.
 *
 * Transitions are computed from the injected clock when a breaker is used,
 * not by timers, so fake time drives them in tests and a restart loses none.
 * A refusal is a value with the seconds until a retry can succeed;
 * {@link circuitOpenError} makes it the HTTP 503 error.
 */
import { type Clock, MspError } from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";
import {
  type BreakerRecord,
  type BreakerStateName,
  type BreakerStore,
  memoryBreakerStore,
  sqliteBreakerStore,
} from "./breaker-store.js";

export type { BreakerStateName } from "./breaker-store.js";

const BreakerOptionsSchema = z.strictObject({
  failureThreshold: z.number().int().min(1).max(1000).default(5),
  openSeconds: z.number().int().min(1).max(86_400).default(300),
  halfOpenMaxTrials: z.number().int().min(1).max(100).default(1),
  trialTimeoutSeconds: z.number().int().min(1).max(86_400).default(900),
});

/**
 * Tuning of one breaker. Defaults: 5 consecutive failures open it for 300 s
 * (the runbook cooldown, so an opened runbook is not retried sooner than it
 * could run again anyway); one trial at a time when half-open; a trial not
 * reported within 900 s (RB-SERVICE-001's SLA, the longest runbook) counts as
 * lost and another is admitted.
 */
export type BreakerOptions = z.infer<typeof BreakerOptionsSchema>;

/** Names of the breakers the pipeline uses, so the API and the planner agree on them. */
export const BREAKER_NAMES = {
  llm: "llm",
  runbook: (runbookId: string) => `runbook:${runbookId}`,
} as const;

const BreakerName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}(:[A-Za-z0-9_.-]{1,64})?$/);

/** Answer of {@link CircuitBreaker.allow}. A `half_open` admission is a trial whose outcome decides the state. */
export type BreakerDecision =
  | { allowed: true; state: "closed" | "half_open" }
  | { allowed: false; state: "open" | "half_open"; retry_after_seconds: number; retry_at: string };

/** A refusal, for code that only handles that case. */
export type BreakerRefusal = Extract<BreakerDecision, { allowed: false }>;

/** One breaker as the API shows it. */
export interface BreakerSnapshot {
  name: string;
  state: BreakerStateName;
  failures: number;
  failure_threshold: number;
  opened_at: string | null;
  /** When an open breaker turns half-open; null unless open. */
  half_open_at: string | null;
  trials_in_flight: number;
  half_open_max_trials: number;
}

/** One breaker. `allow` then `recordSuccess`/`recordFailure`, or `run` to do all three. */
export interface CircuitBreaker {
  readonly name: string;
  /** Asks to make a call; an admission while half-open takes one of the trial slots. */
  allow(): BreakerDecision;
  /** Reports that an admitted call succeeded. */
  recordSuccess(): void;
  /** Reports that an admitted call failed. */
  recordFailure(): void;
  /**
   * Runs `fn` under the breaker: throws `circuit_open` without calling it when
   * refused, records its outcome otherwise. A thrown error counts as a failure
   * unless `isFailure` says otherwise (e.g. a caller's invalid_input): then the
   * dependency did answer, so it counts as a success.
   */
  run<T>(fn: () => Promise<T>, isFailure?: (e: unknown) => boolean): Promise<T>;
  /** Current state, with an elapsed open period shown as half_open; writes nothing. */
  snapshot(): BreakerSnapshot;
}

/** Options of {@link createBreakers}. */
export interface BreakersOptions {
  clock: Clock;
  /** With a database (GUARDRAIL_MIGRATIONS applied) state survives restarts; without, it lives in memory. */
  db?: Db;
  /** Tuning for every breaker. */
  defaults?: Partial<BreakerOptions>;
  /** Tuning of individual breakers by name, over the defaults. */
  overrides?: Record<string, Partial<BreakerOptions>>;
}

/** The registry the pipeline gets breakers from and the admin API lists and resets. */
export interface Breakers {
  /** The breaker named `name` (see BREAKER_NAMES); throws `invalid_input` for a malformed name. */
  get(name: string): CircuitBreaker;
  /** Every breaker that was used or has stored state, by name. */
  state(): BreakerSnapshot[];
  /** Closes a breaker and clears its counts; `not_found` for a breaker never used. */
  reset(name: string): BreakerSnapshot;
}

/** Creates the breaker registry. Fails fast with `config_invalid` on bad tuning or a database without the tables. */
export function createBreakers(options: BreakersOptions): Breakers {
  const defaults = parseOptions(options.defaults ?? {}, "defaults");
  const overrides = new Map<string, BreakerOptions>();
  for (const [name, o] of Object.entries(options.overrides ?? {})) {
    checkName(name, "config_invalid");
    overrides.set(name, parseOptions({ ...defaults, ...o }, `overrides.${name}`));
  }
  const store: BreakerStore =
    options.db === undefined ? memoryBreakerStore() : sqliteBreakerStore(options.db);
  const { clock } = options;
  const used = new Map<string, CircuitBreaker>();
  const tuning = (name: string) => overrides.get(name) ?? defaults;

  const snapshotOf = (rec: BreakerRecord, now: number): BreakerSnapshot => {
    const o = tuning(rec.name);
    const r = settle(rec, o, now);
    return {
      name: r.name,
      state: r.state,
      failures: r.failures,
      failure_threshold: o.failureThreshold,
      opened_at: iso(r.opened_at_ms),
      half_open_at:
        r.state === "open" && r.opened_at_ms !== null ? iso(r.opened_at_ms + o.openSeconds * 1000) : null,
      trials_in_flight: r.trials,
      half_open_max_trials: o.halfOpenMaxTrials,
    };
  };

  const make = (name: string): CircuitBreaker => {
    const o = tuning(name);
    const now = () => clock.now().getTime();
    const breaker: CircuitBreaker = {
      name,
      allow: () =>
        store.update(name, (cur) => {
          const t = now();
          const r = settle(cur ?? closed(name, t), o, t);
          return admit(r, o, t);
        }),
      recordSuccess: () =>
        store.update(name, (cur) => {
          const t = now();
          const r = settle(cur ?? closed(name, t), o, t);
          // A success while open comes from a call admitted before the breaker opened: it proves nothing.
          // A stored breaker that is closed with no failures has nothing to clear: skip the write.
          if (r.state === "open" || (r.state === "closed" && r.failures === 0 && cur !== undefined)) {
            return { result: undefined };
          }
          return { next: { ...closed(name, t), opened_at_ms: r.opened_at_ms }, result: undefined };
        }),
      recordFailure: () =>
        store.update(name, (cur) => {
          const t = now();
          const r = settle(cur ?? closed(name, t), o, t);
          if (r.state === "open") return { result: undefined };
          if (r.state === "half_open" || r.failures + 1 >= o.failureThreshold) {
            return {
              next: {
                ...r,
                state: "open",
                failures: r.failures + 1,
                opened_at_ms: t,
                trials: 0,
                trial_started_ms: null,
                updated_at_ms: t,
              },
              result: undefined,
            };
          }
          return { next: { ...r, failures: r.failures + 1, updated_at_ms: t }, result: undefined };
        }),
      async run<T>(fn: () => Promise<T>, isFailure: (e: unknown) => boolean = () => true): Promise<T> {
        const d = breaker.allow();
        if (!d.allowed) throw circuitOpenError(name, d);
        let value: T;
        try {
          value = await fn();
        } catch (e) {
          if (isFailure(e)) breaker.recordFailure();
          else breaker.recordSuccess();
          throw e;
        }
        breaker.recordSuccess();
        return value;
      },
      snapshot: () => {
        const t = now();
        return snapshotOf(store.get(name) ?? closed(name, t), t);
      },
    };
    return breaker;
  };

  return {
    get(name) {
      checkName(name, "invalid_input");
      let b = used.get(name);
      if (b === undefined) {
        b = make(name);
        used.set(name, b);
      }
      return b;
    },
    state() {
      const t = clock.now().getTime();
      const stored = new Map(store.list().map((r) => [r.name, r]));
      for (const name of used.keys()) if (!stored.has(name)) stored.set(name, closed(name, t));
      return [...stored.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => snapshotOf(r, t));
    },
    reset(name) {
      checkName(name, "invalid_input");
      const t = clock.now().getTime();
      const found = store.update(name, (cur) =>
        cur === undefined && !used.has(name) ? { result: false } : { next: closed(name, t), result: true },
      );
      if (!found)
        throw new MspError("not_found", `no circuit breaker named ${name}`, { details: { breaker: name } });
      return snapshotOf(closed(name, t), t);
    },
  };
}

/** The 503 error for a refused call: `retryAfterSeconds` feeds the Retry-After header. */
export function circuitOpenError(name: string, refusal: BreakerRefusal): MspError {
  const why =
    refusal.state === "open"
      ? "it failed too often"
      : "it is half-open and its trial calls are still running";
  return new MspError(
    "circuit_open",
    `circuit breaker ${name} refuses calls: ${why}; retry in ${refusal.retry_after_seconds} s`,
    {
      retryAfterSeconds: refusal.retry_after_seconds,
      details: { breaker: name, state: refusal.state, retry_at: refusal.retry_at },
    },
  );
}

/** Applies the time-driven transitions: an elapsed open period makes the breaker half-open. */
function settle(r: BreakerRecord, o: BreakerOptions, now: number): BreakerRecord {
  if (r.state === "open" && r.opened_at_ms !== null && now >= r.opened_at_ms + o.openSeconds * 1000) {
    return { ...r, state: "half_open", trials: 0, trial_started_ms: null };
  }
  return r;
}

function admit(
  r: BreakerRecord,
  o: BreakerOptions,
  now: number,
): { next?: BreakerRecord; result: BreakerDecision } {
  switch (r.state) {
    case "closed":
      return { result: { allowed: true, state: "closed" } };
    case "open": {
      const at = (r.opened_at_ms ?? now) + o.openSeconds * 1000;
      return { result: refusal("open", at, now) };
    }
    case "half_open": {
      const timeoutMs = o.trialTimeoutSeconds * 1000;
      // Trials whose callers never reported (crashed, lost) stop holding their slots after the trial timeout.
      const stale = r.trial_started_ms !== null && now >= r.trial_started_ms + timeoutMs;
      const inFlight = stale ? 0 : r.trials;
      if (inFlight >= o.halfOpenMaxTrials) {
        return { result: refusal("half_open", (r.trial_started_ms ?? now) + timeoutMs, now) };
      }
      return {
        next: { ...r, trials: inFlight + 1, trial_started_ms: now, updated_at_ms: now },
        result: { allowed: true, state: "half_open" },
      };
    }
  }
}

function refusal(state: "open" | "half_open", atMs: number, now: number): BreakerRefusal {
  const seconds = Math.max(1, Math.ceil((atMs - now) / 1000));
  return {
    allowed: false,
    state,
    retry_after_seconds: seconds,
    retry_at: new Date(now + seconds * 1000).toISOString(),
  };
}

function closed(name: string, now: number): BreakerRecord {
  return {
    name,
    state: "closed",
    failures: 0,
    opened_at_ms: null,
    trials: 0,
    trial_started_ms: null,
    updated_at_ms: now,
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function checkName(name: string, code: "invalid_input" | "config_invalid"): void {
  if (!BreakerName.safeParse(name).success) {
    throw new MspError(code, "circuit breaker names look like llm or runbook:RB-NAME-001", {
      details: { breaker: name },
    });
  }
}

function parseOptions(input: Partial<BreakerOptions>, where: string): BreakerOptions {
  const parsed = BreakerOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MspError(
      "config_invalid",
      `invalid circuit breaker ${where}: ${issue?.path.join(".")} ${issue?.message}`,
    );
  }
  return parsed.data;
}
