/**
 * The demo's child processes: the built `msp-cp` and `msp-agent` commands,
 * run with `node` exactly as an operator would run them. Long-running ones
 * (`msp-cp serve`, `msp-agent run`) announce themselves with one JSON line
 * on stdout; their structured logs (stderr) go to a file in the demo
 * directory. Every daemon is stopped by its own PID (SIGTERM, then SIGKILL
 * after a grace period) and its PID is recorded in a file, so a later run
 * can stop a daemon an interrupted run left behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DemoError } from "./errors.js";

/**
 * The environment for children: the demo's, minus config overrides that would
 * change what it shows, with HOME and the XDG config and cache directories in
 * the demo directory (headless Chromium, which renders the packet PDF, writes
 * crash-report and dconf settings there).
 */
function childEnv(home: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^MSP_(CP|AGENT)(_|$)/.test(k)) delete env[k];
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") };
}

/** The last lines of a log file, for error messages. */
export function tailOf(file: string, lines = 12): string {
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/** What a finished one-shot command printed. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** What a one-shot command is: the script, its arguments, a name for errors, and the HOME it gets. */
export interface NodeCommand {
  script: string;
  args: readonly string[];
  what: string;
  home: string;
}

/** Runs `node <script> ...args` to completion and returns its exit code and output. */
export function runNode({ script, args, what, home }: NodeCommand): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: childEnv(home),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => reject(new DemoError(`${what} could not start: ${e.message}`)));
    child.on("close", (code) => {
      const result = {
        code: code ?? 1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      resolve(result);
    });
  });
}

/** Like {@link runNode}, but any exit code other than 0 is an error carrying the command's stderr. */
export async function runNodeOk(c: NodeCommand): Promise<string> {
  const r = await runNode(c);
  if (r.code !== 0)
    throw new DemoError(`${c.what} exited with ${r.code}: ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  return r.stdout;
}

/** A running daemon. */
export interface Daemon {
  readonly name: string;
  readonly pid: number;
  /** The JSON line it announced itself with. */
  readonly ready: Record<string, unknown>;
  readonly logFile: string;
  /** True once it has exited. */
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed by a signal). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  name: string;
  script: string;
  args: readonly string[];
  logFile: string;
  /** Directory of PID files (`<name>.pid`). */
  pidDir: string;
  home: string;
  /** How long to wait for the announcement line. */
  readyTimeoutMs: number;
}

/**
 * Starts `node <script> ...args` and waits for its first stdout line, a JSON
 * object. Fails with the log's tail when it exits or stays silent instead.
 */
export function startDaemon(o: DaemonOptions): Promise<Daemon> {
  const log = openSync(o.logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [o.script, ...o.args], {
      stdio: ["ignore", "pipe", log],
      env: childEnv(o.home),
    });
  } finally {
    closeSync(log);
  }
  const pid = child.pid;
  if (pid === undefined) return Promise.reject(new DemoError(`${o.name} could not be started`));
  const pidFile = join(o.pidDir, `${o.name}.pid`);
  writeFileSync(pidFile, `${pid}\n${o.args.join(" ")}\n`);
  let exitCode: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      rmSync(pidFile, { force: true });
      resolve(code);
    }),
  );
  const stop = async (graceMs = 15_000): Promise<number | null> => {
    if (exitCode !== undefined) return exitCode;
    process.kill(pid, "SIGTERM");
    const timer = setTimeout(() => {
      if (exitCode === undefined) process.kill(pid, "SIGKILL");
    }, graceMs);
    try {
      return await exit;
    } finally {
      clearTimeout(timer);
    }
  };
  return new Promise((resolve, reject) => {
    const stdout = child.stdout;
    if (stdout === null) return reject(new DemoError(`${o.name} has no stdout`));
    const lines = createInterface({ input: stdout });
    const timer = setTimeout(() => {
      void stop(2_000);
      reject(
        new DemoError(
          `${o.name} did not report ready within ${o.readyTimeoutMs / 1000} s; log ${o.logFile}:\n${tailOf(o.logFile)}`,
        ),
      );
    }, o.readyTimeoutMs);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(
        new DemoError(
          `${o.name} exited (${code}) before it was ready; log ${o.logFile}:\n${tailOf(o.logFile)}`,
        ),
      );
    };
    child.once("exit", early);
    lines.once("line", (line) => {
      clearTimeout(timer);
      child.off("exit", early);
      let ready: Record<string, unknown>;
      try {
        ready = JSON.parse(line) as Record<string, unknown>;
      } catch {
        void stop(2_000);
        return reject(new DemoError(`${o.name} printed "${line.slice(0, 200)}" instead of its ready line`));
      }
      // Keep draining stdout so the child never blocks on a full pipe.
      lines.on("line", () => undefined);
      resolve({
        name: o.name,
        pid,
        ready,
        logFile: o.logFile,
        exited: () => exitCode !== undefined,
        stop,
      });
    });
  });
}

/**
 * Stops daemons an interrupted earlier run left behind: each PID file names a
 * PID and the daemon's arguments; the process is signalled only if it is still
 * running with exactly those arguments (a recycled PID is left alone).
 */
export async function stopLeftovers(pidDir: string): Promise<string[]> {
  if (!existsSync(pidDir)) return [];
  const stopped: string[] = [];
  for (const name of readdirSync(pidDir).filter((f) => f.endsWith(".pid"))) {
    const [pidText = "", args = ""] = readFileSync(join(pidDir, name), "utf8").split("\n");
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 1) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    } catch {
      continue;
    }
    if (args === "" || !cmdline.includes(args)) continue;
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    if (existsSync(`/proc/${pid}`)) process.kill(pid, "SIGKILL");
    stopped.push(`${name.replace(/\.pid$/, "")} (pid ${pid})`);
  }
  return stopped;
}
