/**
 * Starts `loadgen.ts` as a child process and talks to it in JSON lines: the
 * config goes in a file, results come back on stdout, commands go to stdin.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { LoadgenConfig } from "./loadgen.js";

const LOADGEN = fileURLToPath(new URL("./loadgen.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A running load generator. */
export interface Loadgen {
  /** The next JSON line it prints; rejects if it exits first. */
  next<T>(): Promise<T>;
  /** Writes one command line to its stdin. */
  send(line: string): void;
  /** Closes its stdin and waits for it to exit (killed after 10 s). */
  end(): Promise<void>;
}

let counter = 0;

/** Spawns a load generator with `config`, writing the config file into `dir`. */
export function spawnLoadgen(config: LoadgenConfig, dir: string): Loadgen {
  const file = join(dir, `loadgen-${process.pid}-${counter++}.json`);
  writeFileSync(file, JSON.stringify(config));
  // Through a shell so the descriptor limit can be raised for thousands of sockets.
  const child = spawn(
    "sh",
    ["-c", 'ulimit -n 20000 2>/dev/null; exec "$0" --import tsx "$1" "$2"', process.execPath, LOADGEN, file],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err = (err + d.toString("utf8")).slice(-4000);
  });
  const queued: unknown[] = [];
  const waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  let exit: Error | null = null;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const value: unknown = JSON.parse(line);
    const w = waiting.shift();
    if (w === undefined) queued.push(value);
    else w.resolve(value);
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      exit = new Error(`loadgen exited with ${code}: ${err}`);
      for (const w of waiting.splice(0)) w.reject(exit);
      resolve();
    }),
  );
  return {
    next<T>() {
      if (queued.length > 0) return Promise.resolve(queued.shift() as T);
      if (exit !== null) return Promise.reject(exit);
      return new Promise<T>((resolve, reject) =>
        waiting.push({ resolve: resolve as (v: unknown) => void, reject }),
      );
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    async end() {
      child.stdin.end();
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
