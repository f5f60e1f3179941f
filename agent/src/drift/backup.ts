/**
 * Backup freshness check (164.308(a)(7)(ii)(A) data backup plan): the newest
 * backup archive or manifest in the configured directory is recent enough and
 * not empty. Uses file modification times under the agent root against the
 * injected clock, so a backup job that silently stopped shows up as drift.
 */
import type { Stats } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
import { errored, fail, pass } from "./context.js";
import { globToRegExp } from "./glob.js";

/** How deep a recursive scan goes; backup trees are shallow (host/date/archive). */
const MAX_DEPTH = 6;

interface Candidate {
  path: string;
  stats: Stats;
}

async function scan(
  dir: string,
  re: RegExp,
  recursive: boolean,
  depth: number,
  out: Candidate[],
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    // Hidden entries are staging areas (`.incomplete-*`) or tool state, never finished backups.
    if (e.name.startsWith(".")) continue;
    const full = join(dir, e.name);
    if (e.isDirectory() && recursive && depth < MAX_DEPTH) await scan(full, re, recursive, depth + 1, out);
    else if (e.isFile() && re.test(e.name)) out.push({ path: full, stats: await stat(full) });
  }
}

const hours = (ms: number) => ms / 3_600_000;

/** Runs the backup freshness check. */
export async function checkBackupFreshness(
  check: CheckOf<"backup_freshness">,
  ctx: CheckContext,
): Promise<CheckOutcome> {
  const expected = `newest ${check.pattern} in ${check.directory} modified within ${check.max_age_hours} h, at least ${check.min_size_bytes} bytes`;
  const dir = ctx.path(check.directory);
  const found: Candidate[] = [];
  try {
    await scan(dir, globToRegExp(check.pattern), check.recursive, 0, found);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      return fail("backup directory does not exist", expected, `${check.directory} is missing`);
    return errored(expected, `cannot read ${check.directory}: ${(e as Error).message}`);
  }
  const usable = found.filter((c) => c.stats.size >= check.min_size_bytes);
  const newest = usable.sort((a, b) => b.stats.mtimeMs - a.stats.mtimeMs)[0];
  if (newest === undefined) {
    const why =
      found.length === 0
        ? "no backup files"
        : `${found.length} backup files, all smaller than ${check.min_size_bytes} bytes`;
    return fail(why, expected, `no usable backup in ${check.directory}`);
  }
  const age = hours(ctx.clock.now().getTime() - newest.stats.mtimeMs);
  const rel = newest.path.slice(dir.length).replace(/^\//, "");
  const observed = `newest ${rel}: ${age.toFixed(1)} h old, ${newest.stats.size} bytes, modified ${newest.stats.mtime.toISOString()}; ${usable.length} usable backups`;
  if (age > check.max_age_hours) {
    return fail(
      observed,
      expected,
      `newest backup is ${age.toFixed(1)} h old (limit ${check.max_age_hours} h)`,
    );
  }
  return pass(observed, expected);
}
