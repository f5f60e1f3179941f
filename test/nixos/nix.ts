/**
 * Runs Debian's `nix-instantiate` (package nix-bin) for the NixOS tests.
 * CI installs it, so there a missing binary is a failure; on a developer
 * machine without Nix the tests are skipped with a message saying why.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";

/** The repository root. */
export const repo = resolve(import.meta.dirname, "..", "..");

/** Settings for a root or sandboxed nix-bin without the nixbld group or a daemon. */
const env = {
  ...process.env,
  NIX_CONFIG: "build-users-group =\nexperimental-features = nix-command",
  NIX_REMOTE: "",
};

/** Whether nix-instantiate runs here. */
export const nixAvailable: boolean = spawnSync("nix-instantiate", ["--version"], { env }).status === 0;

/**
 * Why the suite is skipped, or null when it runs. Under CI a missing
 * nix-instantiate throws instead, so the suite can not pass by skipping.
 */
export function skipReason(): string | null {
  if (nixAvailable) return null;
  if (process.env.CI) throw new Error("nix-instantiate is missing under CI: .ci/run must install nix-bin");
  return "nix-instantiate is not installed (apt-get install nix-bin); NixOS tests skipped";
}

/** Result of one nix-instantiate run. */
export interface NixRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs nix-instantiate with `args`, without network or a store daemon. */
export function nixInstantiate(args: readonly string[]): NixRun {
  const r = spawnSync("nix-instantiate", args, { env, encoding: "utf8", timeout: 60_000, cwd: repo });
  const stderr = r.stderr
    .split("\n")
    .filter((l) => !l.startsWith("warning: the group 'nixbld'"))
    .join("\n");
  return { code: r.status, stdout: r.stdout, stderr };
}

/**
 * Evaluates a Nix expression strictly and returns its JSON value. `args`
 * become `--argstr` string arguments (the expression must then be a function).
 */
export function nixEval(expr: string, args: Record<string, string> = {}): unknown {
  const argv = ["--eval", "--strict", "--json", "-E", expr];
  for (const [k, v] of Object.entries(args)) argv.push("--argstr", k, v);
  const r = nixInstantiate(argv);
  if (r.code !== 0) throw new Error(`nix-instantiate failed (${r.code}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as unknown;
}

/** Every .nix file in the repository (relative paths), outside node_modules and .git. */
export function nixFiles(dir = repo): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === ".git" || entry.name === "dist") continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...nixFiles(full));
    else if (entry.isFile() && entry.name.endsWith(".nix")) out.push(relative(repo, full));
  }
  return out.sort();
}
