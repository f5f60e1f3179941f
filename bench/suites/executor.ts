/**
 * Runbook executor: what the executor itself costs per step, and how long a
 * whole dry run of a 5-step runbook takes.
 *
 * Overhead is measured with the executor's injected process runner replaced
 * by one that answers at once, so process creation is excluded: what remains
 * is request validation, the pin re-check of the YAML, every script and the
 * pinned library, the private copies of each action's script and library, the journal (SQLite, one fsync per write) and
 * sealing the bundle. Runs of a 1-step and a 5-step runbook separate the
 * fixed per-run cost from the marginal cost of one more step. The dry-run
 * latency uses real bash processes; a bare `bash` spawn through the same
 * process runner is shown for scale.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OutputCollector } from "../../agent/src/runbook/capture.js";
import { SCRIPT_PATH } from "../../agent/src/runbook/environment.js";
import { createExecutor, type Executor, type RunRequest } from "../../agent/src/runbook/executor.js";
import { type ProcessResult, type ProcessSpec, runProcess } from "../../agent/src/runbook/process.js";
import { createMemorySink, runbookDefinition, writeLibrary } from "../../agent/src/runbook/testkit.js";
import { type Row, type Suite, sampleLatency } from "../lib.js";

/** Figure names, shared by the rows and the comparisons. */
export const F = {
  run1: "run of a 1-step runbook, process creation excluded",
  run5: "run of a 5-step runbook, process creation excluded",
  perStep: "executor overhead per step, process creation excluded (5-step run / 5)",
  marginal: "marginal cost of one more step, process creation excluded",
  fixed: "fixed cost per run, process creation excluded",
  spawn: "bash spawn of an empty script through runProcess",
  dryP50: "dry run of a 5-step runbook, real bash, p50",
  dryP99: "dry run of a 5-step runbook, real bash, p99",
} as const;

/**
 * The script of every step: sources a pinned library and honours dry-run as
 * the library's scripts do, then prints one evidence line.
 */
const STEP_SCRIPT = [
  "#!/usr/bin/env bash",
  "set -euo pipefail",
  'source "$MSP_LIB_DIR/common.sh"',
  'if [[ "$MSP_DRY_RUN" == 1 ]]; then ev dry_run 1; ev ran 1; exit 0; fi',
  "ev ran 1",
  "",
].join("\n");
/** The pinned library every step sources (copied and checked per action, as with the real library). */
const LIB = 'ev() { printf \'%s=%s\\n\' "$1" "$2"; }\n';

function library(dir: string, id: string, steps: number): string {
  const names = Array.from({ length: steps }, (_, i) => `step${i + 1}`);
  return writeLibrary(dir, [
    {
      definition: runbookDefinition(id, {
        params: { target: { type: "string", pattern: "[a-z]+", default: "clinic" } },
        steps: names.map((name, i) => ({
          step: i + 1,
          name,
          script: `scripts/${name}.sh`,
          timeout_seconds: 30,
        })),
        success_criteria: ["ran == 1"],
      }),
      scripts: {
        ...Object.fromEntries(names.map((n) => [`scripts/${n}.sh`, STEP_SCRIPT])),
        "scripts/lib/common.sh": LIB,
      },
    },
  ]);
}

/** A process runner that starts nothing and reports what the step script would have printed. */
async function instantRunner(_spec: ProcessSpec): Promise<ProcessResult> {
  const out = new OutputCollector();
  out.write(Buffer.from("ran=1\n"));
  return {
    exitCode: 0,
    signal: null,
    timedOut: false,
    spawnError: null,
    stdout: out.finish(),
    stderr: new OutputCollector().finish(),
    outputs: { ran: "1" },
  };
}

const request = (runbookId: string, dryRun: boolean): RunRequest => ({
  runbookId,
  params: {},
  incident: null,
  commandId: "CMD-bench-00000001",
  trigger: "operator_cli",
  approval: { decision: "not_required", approver: null, decided_at: null },
  dryRun,
});

/** Runs `req` and throws unless it ended as `want`: a benchmark of failing runs would measure the wrong path. */
async function runChecked(exec: Executor, req: RunRequest, want: string): Promise<void> {
  const b = await exec.run(req);
  if (b.execution?.outcome !== want) {
    throw new Error(`executor bench: ${req.runbookId} ended ${b.execution?.outcome}: ${b.execution?.reason}`);
  }
}

/** The executor suite. */
export const executorSuite: Suite = {
  name: "executor",
  title: "Runbook executor (one agent)",
  description:
    "Overhead figures replace the executor's process runner with one that answers at once, so they are the " +
    "executor's own work per run and per step: request and parameter validation, pin re-checks, script copies, " +
    "the SQLite journal (WAL, synchronous=FULL: one fsync per write) and sealing the bundle in memory. The " +
    "dry-run figures run real bash for each of the 5 steps.",
  comparisons: [
    { a: F.dryP50, b: F.run5, say: (r) => `a real 5-step dry run takes ${r}x the executor's own work` },
  ],
  async run(opts) {
    const root = mkdtempSync(join(tmpdir(), "msp-bench-exec-"));
    const execs: Executor[] = [];
    try {
      const make = (name: string, steps: number, fake: boolean) => {
        const lib = library(join(root, `lib-${name}`), "RB-DISK-001", steps);
        const exec = createExecutor({
          runbooks: lib,
          config: {
            state_dir: join(root, `state-${name}`),
            path_roots: {},
            service_allowlist: [],
            process_allowlist: [],
            service_manager: "systemd",
          },
          sink: createMemorySink(),
          ...(fake ? { processRunner: instantRunner } : {}),
        });
        execs.push(exec);
        return exec;
      };
      const one = make("one", 1, true);
      const five = make("five", 5, true);
      const real = make("real", 5, false);
      await runChecked(five, request("RB-DISK-001", false), "success");
      await runChecked(real, request("RB-DISK-001", true), "dry_run");

      // Every figure here waits on fsync and child processes, so wall time is the honest clock.
      const samples = Math.max(20, Math.min(opts.latencySamples, opts.quick ? 30 : 400));
      const lat = (exec: Executor, dryRun: boolean, want: string) =>
        sampleLatency(() => runChecked(exec, request("RB-DISK-001", dryRun), want), { samples });
      const r1 = await lat(one, false, "success");
      const r5 = await lat(five, false, "success");
      const empty = join(root, "empty.sh");
      writeFileSync(empty, "");
      const spawn = await sampleLatency(
        () =>
          runProcess({
            command: "/bin/bash",
            args: [empty],
            cwd: root,
            env: { PATH: SCRIPT_PATH },
            timeoutMs: 10_000,
            killGraceMs: 500,
          }),
        { samples },
      );
      const dry = await sampleLatency(() => runChecked(real, request("RB-DISK-001", true), "dry_run"), {
        samples: Math.max(10, Math.floor(samples / 2)),
      });

      const ms = (us: number) => us / 1000;
      const rows: Row[] = [
        { figure: F.run1, value: ms(r1.p50Us), unit: "ms (p50)" },
        { figure: F.run5, value: ms(r5.p50Us), unit: "ms (p50)" },
        { figure: F.perStep, value: ms(r5.p50Us) / 5, unit: "ms" },
        { figure: F.marginal, value: Math.max(0, ms(r5.p50Us - r1.p50Us) / 4), unit: "ms" },
        {
          figure: F.fixed,
          value: Math.max(0, ms(r1.p50Us) - Math.max(0, ms(r5.p50Us - r1.p50Us) / 4)),
          unit: "ms",
        },
        { figure: F.spawn, value: ms(spawn.p50Us), unit: "ms (p50)" },
        { figure: F.dryP50, value: ms(dry.p50Us), unit: "ms" },
        { figure: F.dryP99, value: ms(dry.p99Us), unit: "ms" },
      ];
      return rows;
    } finally {
      for (const e of execs) e.close();
      rmSync(root, { recursive: true, force: true });
    }
  },
};
