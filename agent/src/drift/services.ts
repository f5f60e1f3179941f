/**
 * Required services check: every listed service is running, asked of systemd
 * (`systemctl is-active`, unit by unit) or, on hosts that run their workloads
 * under supervisord, of `supervisorctl -c <conf> status <names...>`.
 */
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped, systemdAbsent } from "./context.js";
import { type ExecMissing, type ExecResult, isMissing } from "./exec.js";

/** The Debian location of supervisord's config. */
const DEFAULT_SUPERVISOR_CONF = "/etc/supervisor/supervisord.conf";

type State = { state: string; running: boolean } | { outcome: "skipped" | "error"; reason: string };

function systemdState(name: string, r: ExecResult | ExecMissing): State {
  if (isMissing(r)) return { outcome: "skipped", reason: "systemctl is not installed" };
  if (systemdAbsent(r))
    return { outcome: "skipped", reason: `systemd is not running on this host (${firstLine(r)})` };
  const state = r.stdout.trim().split("\n")[0]?.trim() ?? "";
  if (state === "") return { outcome: "error", reason: `systemctl is-active ${name}: ${firstLine(r)}` };
  return { state, running: state === "active" };
}

/** Reads one program's state from `supervisorctl status` output (`name  RUNNING  pid 42, uptime ...`). */
export function parseSupervisorStatus(name: string, text: string): string | null {
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+([A-Z]+)\b/.exec(line.trim());
    if (m !== null && (m[1] === name || m[1]?.endsWith(`:${name}`))) return m[2] ?? null;
    if (line.startsWith(`${name}: ERROR`)) return line.slice(name.length + 1).trim();
  }
  return null;
}

function supervisorState(name: string, r: ExecResult | ExecMissing): State {
  if (isMissing(r)) return { outcome: "skipped", reason: "supervisorctl is not installed" };
  const out = `${r.stdout}\n${r.stderr}`;
  // supervisord itself down: nothing it supervises is running, which is a finding.
  if (/no such file|refused connection|connection refused|SHUTDOWN_STATE/i.test(out)) {
    return { state: `supervisord unreachable (${firstLine(r)})`, running: false };
  }
  const state = parseSupervisorStatus(name, r.stdout);
  if (state === null) return { outcome: "error", reason: `supervisorctl status ${name}: ${firstLine(r)}` };
  return { state, running: state === "RUNNING" };
}

/** One answer per service: systemctl per unit, supervisorctl once for all programs (it is slow to start). */
async function states(check: CheckOf<"services">, ctx: CheckContext): Promise<State[]> {
  if (check.manager === "systemd") {
    const out: State[] = [];
    for (const name of check.services)
      out.push(systemdState(name, await ctx.exec.run("systemctl", ["is-active", name])));
    return out;
  }
  const conf = ctx.path(check.supervisor_config ?? DEFAULT_SUPERVISOR_CONF);
  const r = await ctx.exec.run("supervisorctl", ["-c", conf, "status", ...check.services]);
  return check.services.map((name) => supervisorState(name, r));
}

/** Runs the required services check. */
export async function checkServices(check: CheckOf<"services">, ctx: CheckContext): Promise<CheckOutcome> {
  const expected = `${check.services.join(", ")} running (${check.manager})`;
  const observed: string[] = [];
  const problems: string[] = [];
  const answers = await states(check, ctx);
  for (const [i, s] of answers.entries()) {
    const name = check.services[i] ?? "";
    if ("outcome" in s) {
      // The manager cannot answer at all: report that, not a half-checked list.
      return s.outcome === "skipped"
        ? skipped(expected, s.reason)
        : errored(expected, s.reason, observed.join("; "));
    }
    observed.push(`${name}: ${s.state}`);
    if (!s.running) problems.push(`${name} is ${s.state}`);
  }
  const seen = observed.join("; ");
  return problems.length === 0 ? pass(seen, expected) : fail(seen, expected, problems);
}
