/**
 * Tables of the guardrails. Both live in SQLite so that a restart of the
 * control plane neither hands every clinic a fresh hourly budget nor closes a
 * breaker that opened because a runbook or the LLM kept failing.
 */
import type { Migration } from "../db/index.js";

/** Apply with `migrate(db, GUARDRAIL_MIGRATIONS)` at startup, before creating a rate limiter or breakers. */
export const GUARDRAIL_MIGRATIONS: readonly Migration[] = [
  {
    id: "guardrails-001",
    sql: `
CREATE TABLE guardrail_actions (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  hostname TEXT NOT NULL,
  runbook_id TEXT NOT NULL,
  at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX guardrail_actions_at ON guardrail_actions (at_ms);
CREATE INDEX guardrail_actions_clinic ON guardrail_actions (client_id, at_ms);
CREATE INDEX guardrail_actions_key ON guardrail_actions (client_id, hostname, runbook_id, at_ms);

CREATE TABLE guardrail_breakers (
  name TEXT PRIMARY KEY,
  state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
  failures INTEGER NOT NULL CHECK (failures >= 0),
  opened_at_ms INTEGER,
  trials INTEGER NOT NULL CHECK (trials >= 0),
  trial_started_ms INTEGER,
  updated_at_ms INTEGER NOT NULL
) STRICT;
`,
  },
];
