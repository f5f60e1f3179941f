/**
 * Audit daemon check (164.312(b) audit controls): kernel auditing enabled,
 * auditd running to persist events, and the expected rules loaded. Reads
 * `auditctl -s` (status) and `auditctl -l` (rules).
 */
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped } from "./context.js";
import { isMissing } from "./exec.js";

/** Parses `auditctl -s` (`key value` lines) into numbers where it can. */
export function parseAuditStatus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\w+)\s+(-?\d+)/.exec(line.trim());
    if (m !== null) out.set(m[1] ?? "", Number(m[2]));
  }
  return out;
}

/** Parses `auditctl -l`: the rule lines and the keys they carry (`-k key` or `-F key=key`). */
export function parseAuditRules(text: string): { rules: string[]; keys: Set<string> } {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("-"));
  const keys = new Set<string>();
  for (const rule of rules) {
    for (const m of rule.matchAll(/(?:-k |-F key=)(\S+)/g)) if (m[1] !== undefined) keys.add(m[1]);
  }
  return { rules, keys };
}

/** Runs the audit daemon check. */
export async function checkAuditd(check: CheckOf<"auditd">, ctx: CheckContext): Promise<CheckOutcome> {
  const parts = [
    `auditing enabled${check.require_immutable ? " and locked (enabled 2)" : ""}`,
    "auditd running",
  ];
  parts.push(`at least ${check.min_rules} rules loaded`);
  if (check.required_keys.length > 0) parts.push(`rule keys ${check.required_keys.join(", ")}`);
  const expected = parts.join(", ");

  const status = await ctx.exec.run("auditctl", ["-s"]);
  if (isMissing(status)) return skipped(expected, "auditctl is not installed (auditd package missing)");
  if (status.code !== 0) return errored(expected, `auditctl -s failed: ${firstLine(status)}`);
  const s = parseAuditStatus(status.stdout);
  const enabled = s.get("enabled");
  const pid = s.get("pid");
  if (enabled === undefined || pid === undefined)
    return errored(expected, "auditctl -s printed no enabled/pid lines");

  const list = await ctx.exec.run("auditctl", ["-l"]);
  if (isMissing(list)) return skipped(expected, "auditctl disappeared between calls");
  if (list.code !== 0) return errored(expected, `auditctl -l failed: ${firstLine(list)}`);
  const { rules, keys } = parseAuditRules(list.stdout);

  const observed = `enabled ${enabled}; auditd pid ${pid}; ${rules.length} rules; keys: ${[...keys].sort().join(", ") || "none"}`;
  const problems: string[] = [];
  if (enabled === 0) problems.push("kernel auditing is disabled");
  if (check.require_immutable && enabled !== 2) problems.push("audit rules are not locked");
  if (pid === 0) problems.push("auditd is not running");
  if (rules.length < check.min_rules) problems.push(`only ${rules.length} rules loaded`);
  const missingKeys = check.required_keys.filter((k) => !keys.has(k));
  if (missingKeys.length > 0) problems.push(`missing rule keys: ${missingKeys.join(", ")}`);
  return problems.length === 0 ? pass(observed, expected) : fail(observed, expected, problems);
}
