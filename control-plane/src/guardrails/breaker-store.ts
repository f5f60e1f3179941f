/**
 * Where circuit breakers keep their state: in memory for a control plane
 * without a database (and unit tests), in SQLite otherwise, so an OPEN
 * breaker is still open after a restart and several processes sharing the
 * file see one breaker. Every change is a read-modify-write inside one
 * `BEGIN IMMEDIATE` transaction, so two processes recording failures at once
 * cannot lose a count.
 */
import { MspError } from "@msp/shared";
import type { Db } from "../db/index.js";

/** The three breaker states, spelled as stored and as shown by the API. */
export type BreakerStateName = "closed" | "open" | "half_open";

/** One breaker's persisted state. Times are epoch milliseconds of the injected clock. */
export interface BreakerRecord {
  name: string;
  state: BreakerStateName;
  /** Consecutive failures while closed. */
  failures: number;
  /** When the breaker last opened; null while it never has or after a reset. */
  opened_at_ms: number | null;
  /** Trial calls admitted in the current half-open period and not yet reported. */
  trials: number;
  /** When the latest trial started, to expire a trial whose caller never reported. */
  trial_started_ms: number | null;
  updated_at_ms: number;
}

/** The store a breaker registry needs: one atomic update, one read, one listing. */
export interface BreakerStore {
  /** Runs `fn` on the current record atomically; a returned `next` replaces it. */
  update<T>(name: string, fn: (current: BreakerRecord | undefined) => { next?: BreakerRecord; result: T }): T;
  get(name: string): BreakerRecord | undefined;
  list(): BreakerRecord[];
}

/** A process-local store: state is lost on restart, which is why the control plane passes a database. */
export function memoryBreakerStore(): BreakerStore {
  const records = new Map<string, BreakerRecord>();
  return {
    update(name, fn) {
      const { next, result } = fn(records.get(name));
      if (next !== undefined) records.set(name, { ...next });
      return result;
    },
    get: (name) => {
      const r = records.get(name);
      return r === undefined ? undefined : { ...r };
    },
    list: () => [...records.values()].map((r) => ({ ...r })).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** A store over `guardrail_breakers` (see GUARDRAIL_MIGRATIONS). */
export function sqliteBreakerStore(db: Db): BreakerStore {
  let q: ReturnType<typeof prepare>;
  try {
    q = prepare(db);
  } catch (e) {
    throw new MspError("config_invalid", "guardrail tables are missing: apply GUARDRAIL_MIGRATIONS first", {
      cause: e,
    });
  }
  const updateTx = db.transaction(
    (name: string, fn: (current: BreakerRecord | undefined) => { next?: BreakerRecord; result: unknown }) => {
      const { next, result } = fn(q.get.get(name) as BreakerRecord | undefined);
      if (next !== undefined) q.upsert.run(next);
      return result;
    },
  );
  return {
    update: (name, fn) => updateTx.immediate(name, fn) as ReturnType<typeof fn>["result"],
    get: (name) => q.get.get(name) as BreakerRecord | undefined,
    list: () => q.list.all() as BreakerRecord[],
  };
}

function prepare(db: Db) {
  const columns = "name, state, failures, opened_at_ms, trials, trial_started_ms, updated_at_ms";
  return {
    get: db.prepare(`SELECT ${columns} FROM guardrail_breakers WHERE name = ?`),
    list: db.prepare(`SELECT ${columns} FROM guardrail_breakers ORDER BY name`),
    upsert: db.prepare(
      `INSERT INTO guardrail_breakers (${columns})
       VALUES (@name, @state, @failures, @opened_at_ms, @trials, @trial_started_ms, @updated_at_ms)
       ON CONFLICT (name) DO UPDATE SET state = excluded.state, failures = excluded.failures,
         opened_at_ms = excluded.opened_at_ms, trials = excluded.trials,
         trial_started_ms = excluded.trial_started_ms, updated_at_ms = excluded.updated_at_ms`,
    ),
  };
}
