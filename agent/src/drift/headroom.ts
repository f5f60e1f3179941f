/**
 * Disk and CPU headroom checks (164.308(a)(7)(ii)(B): a full disk or a pegged
 * CPU stops the clinic's systems and its backups). Disk usage comes from the
 * filesystem (systeminformation) for a mount, or from `du` against a quota for
 * a directory; CPU load is averaged over a short sample.
 */
import { stat } from "node:fs/promises";
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, firstLine, pass, skipped } from "./context.js";
import { isMissing } from "./exec.js";

const pct = (n: number) => `${n.toFixed(1)}%`;

async function directoryUsage(
  check: CheckOf<"disk_usage">,
  dir: string,
  ctx: CheckContext,
): Promise<CheckOutcome> {
  const quotaMb = check.quota_mb ?? 0;
  const expected = `${dir} uses at most ${check.max_used_percent}% of its ${quotaMb} MB quota`;
  try {
    await stat(ctx.path(dir));
  } catch {
    return fail("directory does not exist", expected, `${dir} is missing`);
  }
  // -x stays on one filesystem, so a mount below the directory is not billed to it.
  const r = await ctx.exec.run("du", ["-s", "-k", "-x", ctx.path(dir)], { timeoutMs: 60_000 });
  if (isMissing(r)) return skipped(expected, "du is not installed");
  const kb = Number(/^(\d+)\s/.exec(r.stdout)?.[1]);
  if (r.code !== 0 || !Number.isFinite(kb)) return errored(expected, `du failed: ${firstLine(r)}`);
  const used = (kb / 1024 / quotaMb) * 100;
  const observed = `${(kb / 1024).toFixed(1)} MB of ${quotaMb} MB (${pct(used)})`;
  if (used > check.max_used_percent)
    return fail(observed, expected, `${dir} is at ${pct(used)} of its quota`);
  return pass(observed, expected);
}

/** Runs the disk usage check for a mount or a directory quota. */
export async function checkDiskUsage(check: CheckOf<"disk_usage">, ctx: CheckContext): Promise<CheckOutcome> {
  if (check.directory !== undefined) return directoryUsage(check, check.directory, ctx);
  // Mounts are the kernel's view of the host, so the agent's root prefix does not apply to them.
  const mount = check.mount ?? "/";
  const expected = `${mount} used at most ${check.max_used_percent}%`;
  const entry = (await ctx.sys.fsSize()).find((f) => f.mount === mount);
  if (entry === undefined) return fail("not mounted", expected, `no filesystem is mounted at ${mount}`);
  const gb = (b: number) => `${(b / 1e9).toFixed(1)} GB`;
  const observed = `${entry.fs} at ${mount}: ${pct(entry.usedPercent)} used (${gb(entry.usedBytes)} of ${gb(entry.sizeBytes)})`;
  if (entry.usedPercent > check.max_used_percent)
    return fail(observed, expected, `${mount} is ${pct(entry.usedPercent)} full`);
  return pass(observed, expected);
}

/** Runs the CPU headroom check. */
export async function checkCpuLoad(check: CheckOf<"cpu_load">, ctx: CheckContext): Promise<CheckOutcome> {
  const expected = `average CPU load over ${check.sample_ms} ms at most ${check.max_percent}%`;
  const load = await ctx.sys.cpuLoadPercent(check.sample_ms);
  if (!Number.isFinite(load)) return errored(expected, "systeminformation returned no CPU load");
  const observed = `${pct(load)} over ${check.sample_ms} ms`;
  if (load > check.max_percent)
    return fail(observed, expected, `CPU load ${pct(load)} exceeds ${check.max_percent}%`);
  return pass(observed, expected);
}
