/**
 * Running host tools for drift checks. Checks see only this narrow interface,
 * so tests can replay recorded outputs of tools a test machine cannot have,
 * while every other check runs the real command.
 */
import { execFile } from "node:child_process";

/** What a finished command printed; `code` is null when it was killed (timeout, signal, output cap). */
export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The tool is not installed: checks report `skipped`, never `pass`. */
export interface ExecMissing {
  missing: true;
}

/** Per-call options. */
export interface ExecOptions {
  /** Overrides the default timeout for slow tools (`du` on a large tree). */
  timeoutMs?: number;
}

/** Runs one command without a shell. Owned by the drift checks; implemented by {@link createExec}. */
export interface Exec {
  run(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult | ExecMissing>;
}

/** Options of {@link createExec}. */
export interface CreateExecOptions {
  timeoutMs?: number;
  /** Output kept per stream; larger output ends the command (a check never needs megabytes). */
  maxOutputBytes?: number;
  /** Directories appended to PATH: admin tools live in sbin, which a service PATH may lack. */
  extraPath?: string[];
}

/** True when a result says the tool is absent. */
export function isMissing(r: ExecResult | ExecMissing): r is ExecMissing {
  return "missing" in r;
}

/**
 * The real `Exec`: `execFile` (arguments are never parsed by a shell), a
 * timeout, a C locale so outputs parse the same everywhere, and ENOENT turned
 * into `{ missing: true }`.
 */
export function createExec(options: CreateExecOptions = {}): Exec {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxBuffer = options.maxOutputBytes ?? 4 << 20;
  const extra = options.extraPath ?? [
    "/usr/sbin",
    "/sbin",
    "/run/current-system/sw/bin",
    "/run/current-system/sw/sbin",
  ];
  if (!(timeoutMs > 0)) throw new RangeError("createExec: timeoutMs must be positive");
  const path = [process.env.PATH ?? "/usr/bin:/bin", ...extra].join(":");
  const env = { ...process.env, PATH: path, LC_ALL: "C", LANG: "C" };
  return {
    run(cmd, args, opts = {}) {
      const timeout = opts.timeoutMs ?? timeoutMs;
      return new Promise((resolve) => {
        execFile(
          cmd,
          args,
          { timeout, maxBuffer, encoding: "utf8", env, windowsHide: true },
          (err, stdout, stderr) => {
            if (err === null) return resolve({ code: 0, stdout, stderr });
            const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
            if (e.code === "ENOENT") return resolve({ missing: true });
            if (typeof e.code === "number") return resolve({ code: e.code, stdout, stderr });
            const why = e.killed ? `killed after ${timeout} ms` : e.message;
            resolve({
              code: null,
              stdout,
              stderr: `${stderr}${stderr.endsWith("\n") || stderr === "" ? "" : "\n"}${why}`,
            });
          },
        );
      });
    },
  };
}
