/**
 * The RB-DISK-001 target: a 4 MiB quota directory filled past its 80 %
 * threshold (~4.3 MiB) with what a clinic server accumulates: three 600 KiB
 * temp files ten days old, a fresh temp file, a 2.4 MiB log, a small log, and
 * an old record outside every cleanup root (plus a symlink to it from the
 * temp root) that must survive any cleanup.
 */
import { symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Sandbox } from "./helpers.js";

const DAY = 86_400;
/** One line of the big log; tests check the rotated copy starts with it. */
export const LOG_LINE = "2026-01-01T00:00:00Z GET /api/patients/17 200 12ms clinic-web\n";

/** The directories of a filled quota directory and the runbook parameters and roots that fit it. */
export interface QuotaDir {
  data: string;
  tmp: string;
  logs: string;
  outside: string;
  params: Record<string, string | number>;
  roots: Record<string, string[]>;
}

/** Builds the quota directory inside `box` (see the module comment). */
export function fillQuotaDir(box: Sandbox): QuotaDir {
  const data = box.mkdir("data");
  const tmp = box.mkdir("data", "tmp");
  const logs = box.mkdir("data", "log");
  const outside = box.mkdir("data", "records");
  const old = Date.now() / 1000 - 10 * DAY;
  for (const name of ["upload-1.part", "upload-2.part", "render.cache"]) {
    writeFileSync(join(tmp, name), Buffer.alloc(600 * 1024, 1));
    utimesSync(join(tmp, name), old, old);
  }
  writeFileSync(join(tmp, "in-progress.part"), Buffer.alloc(100 * 1024, 2));
  writeFileSync(join(logs, "app.log"), LOG_LINE.repeat(Math.ceil((2400 * 1024) / LOG_LINE.length)));
  writeFileSync(join(logs, "small.log"), LOG_LINE);
  writeFileSync(join(outside, "chart-2019.pdf"), Buffer.alloc(300 * 1024, 3));
  utimesSync(join(outside, "chart-2019.pdf"), old, old);
  // A link from the temp root to a record outside it: cleanup must not follow it.
  symlinkSync(join(outside, "chart-2019.pdf"), join(tmp, "link-to-chart"));
  return {
    data,
    tmp,
    logs,
    outside,
    params: {
      target_dir: data,
      quota_mb: 4,
      threshold_percent: 80,
      temp_max_age_days: 7,
      log_max_mb: 1,
      largest_count: 3,
    },
    roots: { disk_targets: [data], tmp: [tmp], log: [logs] },
  };
}
