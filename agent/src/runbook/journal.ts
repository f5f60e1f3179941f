/**
 * The execution journal: a write-ahead record of every run, so that an agent
 * killed mid-run (kill -9, power loss, OOM) reports an "interrupted" bundle
 * after restart instead of silence. The run is recorded before its first
 * step, each action as it starts (with its process group, so a restart can
 * kill what the dead agent left running) and as it ends, then the finished
 * bundle draft before it goes to the sink, and finally "done" once the sink
 * has stored it.
 *
 * SQLite (better-sqlite3, WAL, synchronous=FULL) gives an fsync per
 * statement; every method commits before returning.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { ActionTaken } from "@msp/shared";
import type { BundleDraft } from "../evidence/index.js";
import { openDatabase } from "../sqlite/index.js";
import type { ParamValue } from "./params.js";

/** The incident reference of a bundle. */
export type IncidentRef = NonNullable<BundleDraft["incident"]>;
/** The execution summary of a bundle. */
export type ExecutionSummary = NonNullable<BundleDraft["execution"]>;
/** The approval record a command carried. */
export type ApprovalRecord = ExecutionSummary["approval"];
/** Who asked for a run. */
export type RunTrigger = ExecutionSummary["trigger"];

/** What is known about a run before its first step: enough to write its bundle if it never finishes. */
export interface JournalRun {
  runId: string;
  commandId: string | null;
  runbookId: string;
  runbookVersion: string;
  runbookSha256: string;
  stepsTotal: number;
  slaTargetSeconds: number;
  hipaaControls: string[];
  incident: IncidentRef | null;
  params: Record<string, ParamValue>;
  trigger: RunTrigger;
  approval: ApprovalRecord;
  operator: string;
  dryRun: boolean;
  startedAt: string;
  /** The private run directory, removed on recovery. */
  runDir: string;
}

/** An action as recorded when it starts. */
export interface StartedAction {
  phase: ActionTaken["phase"];
  step: number;
  action: string;
  script_sha256: string | null;
  started_at: string;
}

/** A run found unfinished at startup, with everything the journal knows about it. */
export interface UnfinishedRun {
  run: JournalRun;
  /** The finished run's draft when the agent died between finishing and the sink storing it. */
  draft: BundleDraft | null;
  actions: { started: StartedAction; attempts: number; pgid: number | null; finished: ActionTaken | null }[];
}

/** The journal's operations; each one is durable when it returns. */
export interface Journal {
  begin(run: JournalRun): void;
  actionStarted(runId: string, idx: number, action: StartedAction): void;
  actionAttempt(runId: string, idx: number, attempt: number, pgid: number | null): void;
  actionFinished(runId: string, idx: number, action: ActionTaken): void;
  /** Records the finished draft before it is handed to the sink. */
  complete(runId: string, draft: BundleDraft): void;
  /** The sink has stored the bundle: the run needs no recovery. Its per-action rows are dropped. */
  done(runId: string, at: string): void;
  unfinished(): UnfinishedRun[];
  /** Forgets runs that finished before `before` (ISO time). */
  prune(before: string): void;
  close(): void;
}

/** Opens (creating if needed) the journal database at `path`; its directory is made 0700. */
export function openJournal(path: string): Journal {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  chmodSync(dirname(path), 0o700);
  // Through openDatabase, so the single executable loads its embedded SQLite addon here too.
  const db = openDatabase(path);
  db.exec(`
    CREATE TABLE IF NOT EXISTS runs (
      run_id TEXT PRIMARY KEY,
      record TEXT NOT NULL,
      draft TEXT,
      done_at TEXT
    );
    CREATE TABLE IF NOT EXISTS actions (
      run_id TEXT NOT NULL,
      idx INTEGER NOT NULL,
      started TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      pgid INTEGER,
      finished TEXT,
      PRIMARY KEY (run_id, idx)
    );
  `);
  const q = {
    begin: db.prepare("INSERT INTO runs (run_id, record) VALUES (?, ?)"),
    started: db.prepare("INSERT INTO actions (run_id, idx, started) VALUES (?, ?, ?)"),
    attempt: db.prepare("UPDATE actions SET attempts = ?, pgid = ? WHERE run_id = ? AND idx = ?"),
    finished: db.prepare("UPDATE actions SET finished = ? WHERE run_id = ? AND idx = ?"),
    complete: db.prepare("UPDATE runs SET draft = ? WHERE run_id = ?"),
    done: db.prepare("UPDATE runs SET done_at = ?, draft = NULL WHERE run_id = ?"),
    dropActions: db.prepare("DELETE FROM actions WHERE run_id = ?"),
    prune: db.prepare("DELETE FROM runs WHERE done_at IS NOT NULL AND done_at < ?"),
    open: db.prepare("SELECT run_id, record, draft FROM runs WHERE done_at IS NULL ORDER BY rowid"),
    actionsOf: db.prepare(
      "SELECT started, attempts, pgid, finished FROM actions WHERE run_id = ? ORDER BY idx",
    ),
  };
  const done = db.transaction((runId: string, at: string) => {
    q.done.run(at, runId);
    q.dropActions.run(runId);
  });
  return {
    begin: (run) => void q.begin.run(run.runId, JSON.stringify(run)),
    actionStarted: (runId, idx, action) => void q.started.run(runId, idx, JSON.stringify(action)),
    actionAttempt: (runId, idx, attempt, pgid) => void q.attempt.run(attempt, pgid, runId, idx),
    actionFinished: (runId, idx, action) => void q.finished.run(JSON.stringify(action), runId, idx),
    complete: (runId, draft) => void q.complete.run(JSON.stringify(draft), runId),
    done: (runId, at) => done(runId, at),
    unfinished: () =>
      (q.open.all() as { run_id: string; record: string; draft: string | null }[]).map((row) => ({
        run: JSON.parse(row.record) as JournalRun,
        draft: row.draft === null ? null : (JSON.parse(row.draft) as BundleDraft),
        actions: (
          q.actionsOf.all(row.run_id) as {
            started: string;
            attempts: number;
            pgid: number | null;
            finished: string | null;
          }[]
        ).map((a) => ({
          started: JSON.parse(a.started) as StartedAction,
          attempts: a.attempts,
          pgid: a.pgid,
          finished: a.finished === null ? null : (JSON.parse(a.finished) as ActionTaken),
        })),
      })),
    prune: (before) => void q.prune.run(before),
    close: () => db.close(),
  };
}
