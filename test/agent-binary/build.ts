/**
 * The built agent executable for tests and benchmarks: `agent/dist/msp-agent`,
 * rebuilt (with `agent/build/sea.ts`, as `pnpm build:agent` does) only when it
 * is missing or older than anything that goes into it, so a test run builds it
 * at most once however many files use it.
 *
 * Test files run in parallel workers, so the check-and-build runs under a lock
 * directory; a second worker waits for the first build instead of starting its own.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "..", "..");
const DIST = join(REPO, "agent", "dist");

/** Where the executable and its plain-node twin are. */
export const AGENT_EXE = join(DIST, "msp-agent");
export const AGENT_BUNDLE = join(DIST, "bundle.cjs");

/** Everything the executable is built from: sources (not tests), runbooks, baselines, the build, the lockfile. */
const INPUTS = [
  join(REPO, "agent", "src"),
  join(REPO, "agent", "build"),
  join(REPO, "agent", "baselines"),
  join(REPO, "shared", "src"),
  join(REPO, "runbooks"),
  join(REPO, "pnpm-lock.yaml"),
  process.execPath,
];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.endsWith(".test.ts")) continue;
    newest = Math.max(newest, newestMtime(join(path, entry.name)));
  }
  return newest;
}

/** True when the executable and the bundle exist and are newer than every input. */
export function agentBinaryIsFresh(): boolean {
  if (!existsSync(AGENT_EXE) || !existsSync(AGENT_BUNDLE)) return false;
  const built = Math.min(statSync(AGENT_EXE).mtimeMs, statSync(AGENT_BUNDLE).mtimeMs);
  return INPUTS.every((input) => newestMtime(input) < built);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Returns the path of an up-to-date `agent/dist/msp-agent`, building it first
 * if needed (about 10 s). Throws with the build's output when the build fails.
 */
export function ensureAgentBinary(): string {
  const lock = join(DIST, ".build-lock");
  mkdirSync(DIST, { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      // A lock left by a killed build is older than any real build takes.
      const since = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - since > 120_000) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the agent build lock ${lock}`);
      sleepSync(250);
    }
  }
  try {
    if (!agentBinaryIsFresh()) {
      execFileSync(process.execPath, ["--import", "tsx", join(REPO, "agent", "build", "sea.ts")], {
        cwd: REPO,
        stdio: "pipe",
      });
    }
    return AGENT_EXE;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
