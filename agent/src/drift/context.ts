/**
 * What every check receives and returns. A check is a function from its
 * baseline entry and this context to an outcome value; the runner adds the
 * citation, event type and exceptions, so checks stay about the host only.
 */
import { join } from "node:path";
import type { BaselineCheck, Clock } from "@msp/shared";
import type { Exec, ExecResult } from "./exec.js";
import type { SystemInfo } from "./sysinfo.js";

/** The baseline entry of one check type. */
export type CheckOf<T extends BaselineCheck["type"]> = Extract<BaselineCheck, { type: T }>;

/** The host as checks see it. */
export interface CheckContext {
  exec: Exec;
  sys: SystemInfo;
  clock: Clock;
  /** Maps an absolute host path under the agent's root, so tests read a prepared tree. */
  path(hostPath: string): string;
}

/** A check's verdict before the runner applies exceptions. */
export interface CheckOutcome {
  status: "pass" | "fail" | "error" | "skipped";
  observed: string;
  expected: string;
  reason: string | null;
}

/** Builds the context's path mapper for a root directory. */
export function underRoot(root: string): (hostPath: string) => string {
  return (hostPath) => (root === "/" ? hostPath : join(root, hostPath));
}

/** A passing outcome. */
export const pass = (observed: string, expected: string, reason: string | null = null): CheckOutcome => ({
  status: "pass",
  observed,
  expected,
  reason,
});

/** A failing outcome; `problems` become the reason so an operator sees every deviation at once. */
export const fail = (observed: string, expected: string, problems: string[] | string): CheckOutcome => ({
  status: "fail",
  observed,
  expected,
  reason: typeof problems === "string" ? problems : problems.join("; "),
});

/** The check could not be evaluated here (tool or manager absent); never a pass. */
export const skipped = (expected: string, reason: string): CheckOutcome => ({
  status: "skipped",
  observed: "not checked",
  expected,
  reason,
});

/** The check ran but its evidence was unusable (tool failed, output unparseable). */
export const errored = (expected: string, reason: string, observed = "unknown"): CheckOutcome => ({
  status: "error",
  observed,
  expected,
  reason,
});

/** The first meaningful line of a failed command, for reasons. */
export function firstLine(r: ExecResult): string {
  const text = `${r.stderr}\n${r.stdout}`
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  return `${text ?? "no output"} (exit ${r.code ?? "killed"})`;
}

/** True when a systemd tool says systemd itself is absent (containers, non-systemd init). */
export function systemdAbsent(r: ExecResult): boolean {
  return /not been booted with systemd|Failed to connect to bus|System has not been booted/i.test(r.stderr);
}
