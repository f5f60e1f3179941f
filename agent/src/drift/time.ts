/**
 * Time synchronisation check. Audit trails (164.312(b)) are only comparable
 * across systems when clocks agree, so the host must be synchronised and its
 * offset from NTP time under the baseline's threshold. chrony is asked first
 * (`chronyc tracking` gives the offset); systemd-timesyncd via `timedatectl
 * show` only says whether the clock is synchronised.
 */
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped, systemdAbsent } from "./context.js";
import { isMissing } from "./exec.js";

/** The parts of `chronyc tracking` the check needs. */
export interface ChronyTracking {
  reference: string;
  /** Seconds; positive when the system clock is ahead of NTP time. */
  offsetSeconds: number;
  leapStatus: string;
}

/** Parses `chronyc tracking` output; null when the fields are not there. */
export function parseChronyTracking(text: string): ChronyTracking | null {
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? null;
  const system = field("System time");
  const leap = field("Leap status");
  const m = system === null ? null : /^([\d.]+) seconds (fast|slow) of NTP time$/.exec(system);
  if (m === null || leap === null) return null;
  const magnitude = Number(m[1]);
  return {
    reference: field("Reference ID") ?? "",
    offsetSeconds: m[2] === "fast" ? magnitude : -magnitude,
    leapStatus: leap,
  };
}

/** Parses `timedatectl show` (`Key=value` lines). */
export function parseTimedatectlShow(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return out;
}

async function viaTimedatectl(
  ctx: CheckContext,
  expected: string,
  chronyNote: string | null,
): Promise<CheckOutcome> {
  const r = await ctx.exec.run("timedatectl", ["show"]);
  if (isMissing(r) || systemdAbsent(r)) {
    const why = isMissing(r)
      ? "timedatectl is not installed"
      : "systemd is not running, timedatectl cannot answer";
    // chrony installed but its daemon down, and nothing else syncing: that is drift, not "unknown".
    if (chronyNote !== null)
      return fail("no time synchronisation daemon answering", expected, [chronyNote, why]);
    return skipped(expected, `chronyc is not installed and ${why}`);
  }
  if (r.code !== 0) return errored(expected, `timedatectl show failed: ${firstLine(r)}`);
  const props = parseTimedatectlShow(r.stdout);
  const synced = props.get("NTPSynchronized");
  if (synced === undefined) return errored(expected, "timedatectl show printed no NTPSynchronized property");
  const observed = `timedatectl: NTP=${props.get("NTP") ?? "?"}, NTPSynchronized=${synced} (offset not reported)`;
  const notes = [chronyNote, "offset not measured: systemd-timesyncd does not report it here"].filter(
    (n): n is string => n !== null,
  );
  if (synced !== "yes") return fail(observed, expected, ["clock is not NTP-synchronised", ...notes]);
  return pass(observed, expected, notes.join("; "));
}

/** Runs the time synchronisation check. */
export async function checkTimeSync(check: CheckOf<"time_sync">, ctx: CheckContext): Promise<CheckOutcome> {
  const expected = `synchronised to NTP; |offset| <= ${check.max_offset_ms} ms`;
  const r = await ctx.exec.run("chronyc", ["tracking"]);
  if (isMissing(r)) return viaTimedatectl(ctx, expected, null);
  if (r.code !== 0) return viaTimedatectl(ctx, expected, `chronyd not answering: ${firstLine(r)}`);
  const t = parseChronyTracking(r.stdout);
  if (t === null)
    return errored(
      expected,
      "chronyc tracking output has no System time / Leap status",
      r.stdout.slice(0, 200),
    );
  const offsetMs = t.offsetSeconds * 1000;
  const observed = `chrony: reference ${t.reference}; offset ${offsetMs.toFixed(3)} ms; leap status ${t.leapStatus}`;
  const problems: string[] = [];
  if (t.leapStatus === "Not synchronised") problems.push("chrony is not synchronised");
  if (Math.abs(offsetMs) > check.max_offset_ms)
    problems.push(`offset ${offsetMs.toFixed(3)} ms exceeds ${check.max_offset_ms} ms`);
  return problems.length === 0 ? pass(observed, expected) : fail(observed, expected, problems);
}
