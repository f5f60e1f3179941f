/**
 * Helpers for the runbook library tests: run a script the way the executor
 * will (bash, no arguments, only the environment contract, a temp cwd), run a
 * whole runbook's steps in order, and start a real supervisord.
 *
 * `runRunbook` is deliberately a tiny loop, not an executor: it exists so the
 * tests exercise each YAML file's wiring (step order, evidence_required,
 * rollback, validations) against the real scripts.
 */
import { execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { RunbookDefinition } from "@msp/shared";
import { loadRunbooks, RUNBOOKS_DIR } from "../../runbooks/build-catalog.js";

const execFileP = promisify(execFile);

/** Every runbook of the library, validated, by id. */
export const RUNBOOKS: ReadonlyMap<string, RunbookDefinition> = new Map(
  loadRunbooks().map((r) => [r.definition.id, r.definition]),
);

/** The runbook with this id; throws so a typo fails the test loudly. */
export function runbook(id: string): RunbookDefinition {
  const rb = RUNBOOKS.get(id);
  if (rb === undefined) throw new Error(`no runbook ${id}`);
  return rb;
}

/** The shared script libraries; the executor provides a pinned copy as MSP_LIB_DIR, these tests the originals. */
export const LIB_DIR = join(RUNBOOKS_DIR, "scripts", "lib");

/** Absolute path of a script named as in the YAML (`scripts/x.sh`). */
export function scriptPath(script: string): string {
  return join(RUNBOOKS_DIR, script);
}

/** The outcome of one script run. */
export interface ScriptRun {
  script: string;
  code: number;
  stdout: string;
  stderr: string;
  /** The key=value evidence lines of stdout. */
  evidence: Record<string, string>;
}

/** Parses `key=value` evidence lines; anything else on stdout is ignored. */
export function parseEvidence(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z][a-z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/**
 * Runs `bash <script>` with exactly `env` (plus PATH, HOME and MSP_LIB_DIR, which `env` may override) and `cwd`,
 * never with arguments unless `argv` is given (used only to prove argv is refused).
 */
export function runScript(
  script: string,
  env: Record<string, string>,
  opts: { cwd: string; argv?: string[]; timeoutMs?: number },
): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [scriptPath(script), ...(opts.argv ?? [])], {
      cwd: opts.cwd,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: process.env.HOME ?? "/root",
        MSP_LIB_DIR: LIB_DIR,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        script,
        code: code ?? (signal === null ? -1 : 128),
        stdout,
        stderr,
        evidence: parseEvidence(stdout),
      });
    });
  });
}

/** A temp directory removed by `cleanup()`. */
export interface Sandbox {
  dir: string;
  /** Creates (recursively) and returns a directory inside the sandbox. */
  mkdir(...parts: string[]): string;
  cleanup(): void;
}

export function sandbox(prefix = "msp-rb-"): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    mkdir: (...parts) => {
      const p = join(dir, ...parts);
      mkdirSync(p, { recursive: true });
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export type ParamValue = string | number | boolean;

/** What a test gives a runbook run: parameters, root sets and the rest of the contract. */
export interface RunOptions {
  params: Record<string, ParamValue>;
  roots?: Record<string, string[]>;
  workDir: string;
  stateDir: string;
  dryRun?: boolean;
  /** Run post_execution_validation after the steps (default true); off where a test does not look at them. */
  validate?: boolean;
  /** Further contract variables (MSP_SERVICE_MANAGER, allow-lists, ...). */
  env?: Record<string, string>;
}

/**
 * The environment contract for one run: MSP_PARAM_<NAME> for each declared
 * parameter given or defaulted, MSP_ROOTS_<ROOT>, MSP_WORK_DIR, MSP_STATE_DIR,
 * MSP_DRY_RUN. Undeclared parameters throw, as the executor refuses them.
 */
export function contractEnv(rb: RunbookDefinition, opts: RunOptions): Record<string, string> {
  const env: Record<string, string> = {
    MSP_WORK_DIR: opts.workDir,
    MSP_STATE_DIR: opts.stateDir,
    ...(opts.dryRun === true ? { MSP_DRY_RUN: "1" } : {}),
    ...opts.env,
  };
  for (const name of Object.keys(opts.params)) {
    if (!(name in rb.params)) throw new Error(`${rb.id} does not declare parameter ${name}`);
  }
  for (const [name, decl] of Object.entries(rb.params)) {
    const value = opts.params[name] ?? ("default" in decl ? decl.default : undefined);
    if (value !== undefined) env[`MSP_PARAM_${name.toUpperCase()}`] = String(value);
  }
  for (const [root, dirs] of Object.entries(opts.roots ?? {}))
    env[`MSP_ROOTS_${root.toUpperCase()}`] = dirs.join(":");
  return env;
}

/** The outcome of running a runbook's steps, rollback and validations in order. */
export interface RunbookRun {
  steps: (ScriptRun & { name: string; missing: string[] })[];
  rollback: ScriptRun[];
  validations: (ScriptRun & { name: string })[];
  /** All step evidence merged in step order. */
  evidence: Record<string, string>;
  /** Name of the critical step that failed, if any. */
  failedAt?: string;
}

/**
 * Runs the steps of runbook `id` in order. A failing critical step (non-zero
 * exit or missing evidence_required) stops the run and runs the rollback
 * scripts; otherwise the post-execution validations run.
 */
export async function runRunbook(id: string, opts: RunOptions): Promise<RunbookRun> {
  const rb = runbook(id);
  const env = contractEnv(rb, opts);
  const cwd = opts.workDir;
  const result: RunbookRun = { steps: [], rollback: [], validations: [], evidence: {} };
  for (const step of rb.steps) {
    const run = await runScript(step.script, env, { cwd });
    const missing = step.evidence_required.filter((k) => !(k in run.evidence));
    result.steps.push({ ...run, name: step.name, missing });
    Object.assign(result.evidence, run.evidence);
    if ((run.code !== 0 || missing.length > 0) && step.critical) {
      result.failedAt = step.name;
      for (const action of rb.rollback) {
        if (action.script !== undefined) result.rollback.push(await runScript(action.script, env, { cwd }));
      }
      return result;
    }
  }
  if (opts.validate === false) return result;
  for (const v of rb.post_execution_validation) {
    result.validations.push({ ...(await runScript(v.script, env, { cwd })), name: v.name });
  }
  return result;
}

/** Step results by name, for readable assertions. */
export function stepNamed(run: RunbookRun, name: string): ScriptRun & { missing: string[] } {
  const s = run.steps.find((x) => x.name === name);
  if (s === undefined)
    throw new Error(`step ${name} did not run; ran ${run.steps.map((x) => x.name).join(", ")}`);
  return s;
}

/** A real supervisord on a unix socket in a temp directory. */
export interface Supervisor {
  conf: string;
  /** Main pid of a program (0 when it is not running). */
  pid(program: string): Promise<number>;
  /** The program's state word (RUNNING, EXITED, ...). */
  state(program: string): Promise<string>;
  waitFor(program: string, state: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ProgramSpec {
  name: string;
  /** Absolute path of an executable; supervisor runs it without a shell. */
  command: string;
  /** Start with supervisord (default true); a program that is not started stays STOPPED. */
  autostart?: boolean;
}

async function ctl(conf: string, ...args: string[]): Promise<string> {
  try {
    return (await execFileP("supervisorctl", ["-c", conf, ...args])).stdout;
  } catch (e) {
    // supervisorctl exits non-zero for stopped programs; its output is still the answer.
    return (e as { stdout?: string }).stdout ?? "";
  }
}

/**
 * Starts supervisord with `programs` (autorestart off, so a crash stays down
 * until a runbook restarts it) and waits until all are RUNNING.
 */
export async function startSupervisor(dir: string, programs: ProgramSpec[]): Promise<Supervisor> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, "supervisord.conf");
  // startsecs=0: a program counts as RUNNING once spawned, so restarts in tests
  // do not wait a second; the runbooks' own verify steps check it stays up.
  const sections = programs.map((p) =>
    [
      `[program:${p.name}]`,
      `command=${p.command}`,
      `autostart=${p.autostart !== false}`,
      "autorestart=false",
      "startsecs=0",
      "stopwaitsecs=2",
      `stdout_logfile=${join(dir, `${p.name}.out.log`)}`,
      `stderr_logfile=${join(dir, `${p.name}.err.log`)}`,
    ].join("\n"),
  );
  writeFileSync(
    conf,
    [
      "[unix_http_server]",
      `file=${join(dir, "supervisor.sock")}`,
      "[supervisord]",
      `logfile=${join(dir, "supervisord.log")}`,
      `pidfile=${join(dir, "supervisord.pid")}`,
      `childlogdir=${dir}`,
      "[rpcinterface:supervisor]",
      "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
      "[supervisorctl]",
      `serverurl=unix://${join(dir, "supervisor.sock")}`,
      ...sections,
      "",
    ].join("\n"),
  );
  const daemon = spawn("supervisord", ["-c", conf, "-n"], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => daemon.once("exit", () => resolve()));
  const sup: Supervisor = {
    conf,
    pid: async (program) => Number.parseInt((await ctl(conf, "pid", program)).trim(), 10) || 0,
    state: async (program) => (await ctl(conf, "status", program)).trim().split(/\s+/)[1] ?? "",
    waitFor: async (program, state, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const now = await sup.state(program);
        if (now === state) return;
        if (Date.now() > deadline)
          throw new Error(`${program} is ${now}, not ${state}, after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: async () => {
      if (daemon.exitCode === null) daemon.kill("SIGTERM");
      await exited;
    },
  };
  try {
    for (const p of programs) await sup.waitFor(p.name, p.autostart === false ? "STOPPED" : "RUNNING");
  } catch (e) {
    await sup.stop();
    throw e;
  }
  return sup;
}

/**
 * Writes an executable bash script (test programs, fake ACME clients). The
 * shebang names bash directly: through `/usr/bin/env` the process would be
 * renamed `bash` by the second exec, and the CPU runbook matches by name.
 */
export function writeExecutable(path: string, body: string): string {
  writeFileSync(path, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
  return path;
}

/** Whether a pid is alive; a zombie (killed, not yet reaped) counts as gone. */
export function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  const state = stat.charAt(stat.lastIndexOf(")") + 2);
  return state !== "Z" && state !== "X";
}
