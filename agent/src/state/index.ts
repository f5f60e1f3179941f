/**
 * The daemon's small durable memory, kept apart from the outbox so evidence
 * storage never shares a schema with bookkeeping: which control-plane
 * commands this agent has already seen (commands are idempotent by
 * command_id across restarts) and when each offline-autonomy runbook last
 * ran (cooldowns survive a restart, so a crash loop cannot turn into a
 * remediation loop).
 *
 * One SQLite file (`<state_dir>/agent-state.sqlite`, WAL, synchronous=FULL):
 * every write is fsync'd before the call returns.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { MspError } from "@msp/shared";
import type Database from "better-sqlite3";
import { openDatabase } from "../sqlite/index.js";

/** Schema version in `PRAGMA user_version`; a newer file is refused rather than misread. */
const STATE_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS seen_commands (
  command_id   TEXT    PRIMARY KEY,
  agent_id     TEXT    NOT NULL,
  client_id    TEXT    NOT NULL,
  runbook_id   TEXT    NOT NULL,
  status       TEXT    NOT NULL CHECK (status IN ('accepted', 'refused')),
  reason       TEXT,
  received_at  TEXT    NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS cooldowns (
  client_id    TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  last_run_at  TEXT    NOT NULL,
  PRIMARY KEY (client_id, key)
) STRICT;
`;

/** What the agent remembers about a command it has answered. */
export interface SeenCommand {
  command_id: string;
  runbook_id: string;
  status: "accepted" | "refused";
  reason: string | null;
  received_at: string;
}

/**
 * Commands already answered, by id. Owned by the command handler; `record`
 * returns false when the id was already there, so two deliveries racing each
 * other still run a command at most once.
 */
export interface CommandLedger {
  get(commandId: string): SeenCommand | undefined;
  record(entry: SeenCommand): boolean;
}

/** Last local run per cooldown key (a runbook id), for offline autonomy. */
export interface CooldownStore {
  lastRun(key: string): Date | undefined;
  setLastRun(key: string, at: Date): void;
}

/** The opened state file; close it last, after everything that writes to it has stopped. */
export interface AgentState {
  readonly commands: CommandLedger;
  readonly cooldowns: CooldownStore;
  close(): void;
}

/** Opens (creating) the state database for one agent of one clinic. */
export function openAgentState(
  path: string,
  identity: { agent_id: string; client_id: string },
  options: { nativeDir?: string } = {},
): AgentState {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  let db: Database.Database;
  try {
    db = openDatabase(path, options);
  } catch (e) {
    throw new MspError("unavailable", `agent state ${path} cannot be opened`, { cause: e });
  }
  try {
    chmodSync(path, 0o600);
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > STATE_SCHEMA_VERSION) {
      throw new MspError(
        "config_invalid",
        `agent state ${path} has schema ${version}; this agent understands up to ${STATE_SCHEMA_VERSION}`,
      );
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${STATE_SCHEMA_VERSION}`);
  } catch (e) {
    db.close();
    throw e;
  }
  const { agent_id, client_id } = identity;
  const getCommand = db.prepare<[string, string], SeenCommand>(
    "SELECT command_id, runbook_id, status, reason, received_at FROM seen_commands WHERE command_id = ? AND client_id = ?",
  );
  const insertCommand = db.prepare(
    `INSERT INTO seen_commands (command_id, agent_id, client_id, runbook_id, status, reason, received_at)
     VALUES (@command_id, @agent_id, @client_id, @runbook_id, @status, @reason, @received_at)
     ON CONFLICT (command_id) DO NOTHING`,
  );
  const getCooldown = db.prepare<[string, string], { last_run_at: string }>(
    "SELECT last_run_at FROM cooldowns WHERE client_id = ? AND key = ?",
  );
  const putCooldown = db.prepare(
    `INSERT INTO cooldowns (client_id, key, last_run_at) VALUES (?, ?, ?)
     ON CONFLICT (client_id, key) DO UPDATE SET last_run_at = excluded.last_run_at`,
  );
  let closed = false;
  const live = () => {
    if (closed) throw new MspError("unavailable", "agent state is closed");
  };
  return {
    commands: {
      get(commandId) {
        live();
        return getCommand.get(commandId, client_id);
      },
      record(entry) {
        live();
        return insertCommand.run({ ...entry, agent_id, client_id }).changes === 1;
      },
    },
    cooldowns: {
      lastRun(key) {
        live();
        const row = getCooldown.get(client_id, key);
        return row === undefined ? undefined : new Date(row.last_run_at);
      },
      setLastRun(key, at) {
        live();
        putCooldown.run(client_id, key, at.toISOString());
      },
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
