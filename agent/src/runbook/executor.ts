/**
 * The runbook executor: the only part of the agent that runs code, and only
 * pinned runbook scripts with validated parameters. `createExecutor` loads the
 * library once; `run` turns a request into exactly one evidence bundle
 * (through the injected EvidenceSink, which seals and stores it); and
 * `recoverInterrupted` turns runs a previous process left unfinished into
 * "interrupted" bundles. Runs are serialised: two remediations never touch a
 * clinic server at the same time.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import {
  type AgentConfig,
  type Clock,
  EventType,
  type EvidenceBundle,
  IncidentId,
  MspError,
  parseWith,
  Severity,
  systemClock,
  Timestamp,
} from "@msp/shared";
import { z } from "zod";
import type { EvidenceSink } from "../evidence/index.js";
import type { ActionRuntime, RetryPolicy } from "./actions.js";
import { interruptedDraft, type RunContext, refusalDraft } from "./drafts.js";
import {
  type ApprovalRecord,
  type IncidentRef,
  type Journal,
  openJournal,
  type RunTrigger,
} from "./journal.js";
import {
  describeLibrary,
  type LoadedRunbook,
  loadRunbookLibrary,
  type RunbookInfo,
  type RunbookLibrary,
} from "./library.js";
import { preflight } from "./preflight.js";
import { killOrphanedGroup, type ProcessRunner, runProcess } from "./process.js";
import { executeRun } from "./run.js";

/** The agent configuration the executor uses (a subset of AgentConfig, plus the supervisord config file). */
export type ExecutorConfig = Pick<
  AgentConfig,
  "state_dir" | "path_roots" | "service_allowlist" | "process_allowlist" | "service_manager"
> & { supervisorConf?: string | undefined };

/** Options of {@link createExecutor}. */
export interface ExecutorOptions {
  /** The runbook library directory (catalog.json, RB-*.yaml, scripts/), or a library loaded already. */
  runbooks: string | RunbookLibrary;
  config: ExecutorConfig;
  /** Where every execution's draft goes; it seals, signs and stores it. */
  sink: EvidenceSink;
  /** Timestamps, durations, MTTR and retry backoff. Defaults to real time. */
  clock?: Clock;
  /** Recorded as the bundle's operator; default `service:msp-agent`. */
  operator?: string;
  /** Retry backoff; default 1 s doubled per attempt, capped at 60 s. */
  retry?: Partial<RetryPolicy>;
  /** SIGTERM-to-SIGKILL grace for a timed-out script's process group; default 5000 ms. */
  killGraceMs?: number;
  /** bash to run scripts with; default the first of /bin/bash, /usr/bin/bash, /run/current-system/sw/bin/bash. */
  bashPath?: string;
  /**
   * Starts script processes; default {@link runProcess} (own process group,
   * timeout, bounded capture). Only the executor benchmark replaces it, to
   * measure the executor's own per-step work without process creation.
   */
  processRunner?: ProcessRunner;
}

/** One run request, as the transport (a verified command), offline autonomy or the CLI makes it. */
export interface RunRequest {
  runbookId: string;
  /** Checked against the runbook's declarations; anything wrong yields a refusal bundle. */
  params: Record<string, unknown>;
  incident: IncidentRef | null;
  commandId: string | null;
  trigger: RunTrigger;
  approval: ApprovalRecord;
  dryRun: boolean;
  /** The runbook sha256 the command was planned against; a different local pin is refused. */
  expectedSha256?: string | undefined;
  /** Overrides the executor's operator (e.g. the CLI user). */
  operator?: string | undefined;
}

/** The executor's interface; see the module comment. */
export interface Executor {
  /** sha256 of the loaded catalog.json (for the hello frame). */
  readonly catalogSha256: string;
  list(): RunbookInfo[];
  get(id: string): LoadedRunbook | undefined;
  /** Runs (or refuses) a request; resolves with the sealed bundle. Throws only for malformed requests or a failing sink. */
  run(request: RunRequest): Promise<EvidenceBundle>;
  /** Emits one bundle per run a previous process left unfinished; call once at startup, before `run`. */
  recoverInterrupted(): Promise<EvidenceBundle[]>;
  /** Closes the journal. */
  close(): void;
}

const RequestSchema = z.strictObject({
  runbookId: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()),
  incident: z
    .strictObject({
      incident_id: IncidentId,
      event_type: EventType,
      severity: Severity,
      detected_at: Timestamp,
    })
    .nullable(),
  commandId: z.string().min(1).max(64).nullable(),
  trigger: z.enum(["control_plane", "offline_autonomy", "operator_cli"]),
  approval: z
    .strictObject({
      decision: z.enum(["approved", "not_required"]),
      approver: z.string().max(128).nullable(),
      decided_at: Timestamp.nullable(),
    })
    .nullable(),
  dryRun: z.boolean(),
  expectedSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  operator: z.string().min(1).max(128).optional(),
});

/** How long finished runs stay in the journal (their bundles are the lasting record). */
const JOURNAL_KEEP_MS = 30 * 86_400_000;

const BASH_CANDIDATES = ["/bin/bash", "/usr/bin/bash", "/run/current-system/sw/bin/bash"];

/** Creates an executor; fails fast on bad options (relative state dir, no bash, unreadable catalog). */
export function createExecutor(options: ExecutorOptions): Executor {
  const { config, sink } = options;
  const clock = options.clock ?? systemClock;
  const operator = options.operator ?? "service:msp-agent";
  const retry: RetryPolicy = { baseMs: options.retry?.baseMs ?? 1000, maxMs: options.retry?.maxMs ?? 60_000 };
  const killGraceMs = options.killGraceMs ?? 5000;
  if (!isAbsolute(config.state_dir))
    throw new MspError("config_invalid", "executor state_dir must be absolute");
  if (retry.baseMs < 0 || retry.maxMs < retry.baseMs || killGraceMs < 0) {
    throw new MspError("config_invalid", "executor retry/killGraceMs options are out of range");
  }
  const foundBash = options.bashPath ?? BASH_CANDIDATES.find((p) => existsSync(p));
  if (foundBash === undefined)
    throw new MspError("config_invalid", "no bash found to run runbook scripts with");
  const bashPath: string = foundBash;
  const library =
    typeof options.runbooks === "string" ? loadRunbookLibrary(options.runbooks) : options.runbooks;
  const base = join(config.state_dir, "runbooks");
  const stateDir = join(base, "state");
  const runsDir = join(base, "runs");
  for (const d of [base, stateDir, runsDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const journal: Journal = openJournal(join(base, "journal.sqlite"));
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };

  async function execute(req: RunRequest): Promise<EvidenceBundle> {
    const ctx: RunContext = {
      incident: req.incident,
      commandId: req.commandId,
      trigger: req.trigger,
      approval: req.approval,
      operator: req.operator ?? operator,
      startedAt: clock.now(),
      slaTargetSeconds: 0,
    };
    const pre = preflight(library, req, config.path_roots);
    if (!pre.ok) {
      ctx.slaTargetSeconds = pre.definition?.sla_target_seconds ?? 0;
      const controls = pre.definition?.hipaa_controls ?? [];
      return sink.append(refusalDraft(ctx, clock.now(), pre.ref, controls, pre.reason));
    }
    const { runbook: rb, params } = pre;
    const def = rb.definition;
    ctx.slaTargetSeconds = def.sla_target_seconds;

    const runId = randomUUID();
    const runDir = join(runsDir, runId);
    const dirs = {
      bin: join(runDir, "bin"),
      work: join(runDir, "work"),
      home: join(runDir, "home"),
      tmp: join(runDir, "tmp"),
    };
    for (const d of [runDir, ...Object.values(dirs)]) mkdirSync(d, { mode: 0o700 });
    journal.begin({
      runId,
      commandId: req.commandId,
      runbookId: rb.id,
      runbookVersion: def.version,
      runbookSha256: rb.sha256,
      stepsTotal: def.steps.length,
      slaTargetSeconds: def.sla_target_seconds,
      hipaaControls: def.hipaa_controls,
      incident: req.incident,
      params: { ...params },
      trigger: req.trigger,
      approval: req.approval,
      operator: ctx.operator,
      dryRun: req.dryRun,
      startedAt: ctx.startedAt.toISOString(),
      runDir,
    });
    const rt: ActionRuntime = {
      runId,
      runbook: rb,
      env: {
        runbookId: rb.id,
        runId,
        params,
        config,
        workDir: dirs.work,
        homeDir: dirs.home,
        tmpDir: dirs.tmp,
        stateDir,
        dryRun: req.dryRun,
      },
      binDir: dirs.bin,
      clock,
      journal,
      retry,
      killGraceMs,
      bashPath,
      runProcess: options.processRunner ?? runProcess,
    };
    let draft: Awaited<ReturnType<typeof executeRun>>;
    try {
      draft = await executeRun(rt, ctx);
    } catch (e) {
      // An environment failure (disk full, journal error) mid-run: report what is known, as recovery would.
      const u = journal.unfinished().find((x) => x.run.runId === runId);
      if (u === undefined) throw e;
      return finish(
        runId,
        runDir,
        interruptedDraft(u, clock.now(), `the run failed (${(e as Error).message})`),
      );
    }
    journal.complete(runId, draft);
    return finish(runId, runDir, draft);
  }

  async function finish(runId: string, runDir: string, draft: Parameters<EvidenceSink["append"]>[0]) {
    const bundle = await sink.append(draft);
    journal.done(runId, clock.now().toISOString());
    rmSync(runDir, { recursive: true, force: true });
    return bundle;
  }

  return {
    catalogSha256: library.catalogSha256,
    list: () => describeLibrary(library),
    get: (id) => library.runbooks.get(id),
    run: async (request) => {
      const req = parseWith(RequestSchema, request, "run request") as RunRequest;
      return serial(() => execute(req));
    },
    recoverInterrupted: () =>
      serial(async () => {
        const out: EvidenceBundle[] = [];
        for (const u of journal.unfinished()) {
          // The dead agent's script may still be running in its own process group; stop it first.
          for (const a of u.actions)
            if (a.finished === null && a.pgid !== null) await killOrphanedGroup(a.pgid, u.run.runId);
          out.push(
            await finish(u.run.runId, u.run.runDir, u.draft ?? interruptedDraft(u, clock.now(), null)),
          );
        }
        // No run is active (runs are serialised with this), so whatever is left in runs/ is debris
        // of an agent that died before journaling its run.
        for (const d of readdirSync(runsDir)) rmSync(join(runsDir, d), { recursive: true, force: true });
        journal.prune(new Date(clock.now().getTime() - JOURNAL_KEEP_MS).toISOString());
        return out;
      }),
    close: () => journal.close(),
  };
}
