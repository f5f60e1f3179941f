/**
 * RB-DISK-001 against a real quota directory filled past its threshold: old
 * temp files are deleted and big logs compressed, only inside the configured
 * roots, until usage is back under the threshold.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { contractEnv, runbook, runRunbook, runScript, type Sandbox, sandbox, stepNamed } from "./helpers.js";

const DAY = 86_400;
const LOG_LINE = "2026-01-01T00:00:00Z GET /api/patients/17 200 12ms clinic-web\n";

interface Clinic {
  box: Sandbox;
  data: string;
  tmp: string;
  logs: string;
  outside: string;
  params: Record<string, string | number>;
  roots: Record<string, string[]>;
}

let current: Sandbox | undefined;
afterEach(() => current?.cleanup());

/**
 * A 4 MiB quota directory holding ~4.3 MiB: three 600 KiB temp files ten days
 * old, a fresh temp file, a 2.4 MiB log, some data, and next to it an old file
 * outside every root that must survive.
 */
function clinic(): Clinic {
  const box = sandbox();
  current = box;
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
    box,
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

const dirs = (c: Clinic) => ({ workDir: c.box.mkdir("work"), stateDir: c.box.mkdir("state") });

describe("RB-DISK-001", () => {
  it("brings a quota directory filled past the threshold back under it, touching only tmp and log roots", async () => {
    const c = clinic();
    const run = await runRunbook("RB-DISK-001", { params: c.params, roots: c.roots, ...dirs(c) });
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);

    const before = stepNamed(run, "check_usage").evidence;
    expect(before).toMatchObject({ usage_mode: "quota", limit_kb: String(4 * 1024), over_threshold: "yes" });
    expect(Number(before.usage_percent)).toBeGreaterThanOrEqual(100);
    expect(run.evidence).toMatchObject({
      temp_files_removed: "3",
      temp_cleanup: "done",
      logs_rotated: "1",
      log_rotation: "done",
    });
    expect(Number(run.evidence.temp_kb_freed)).toBe(1800);
    expect(run.evidence.usage_below_threshold).toBe("yes");
    expect(Number(run.evidence.usage_after_percent)).toBeLessThan(80);
    expect(Number(run.evidence.kb_recovered)).toBeGreaterThan(3000);
    expect(run.validations.map((v) => [v.name, v.code])).toEqual([["usage_under_threshold", 0]]);

    // Old temp files are gone, the fresh one and the link's target are not.
    expect(readdirSync(c.tmp).sort()).toEqual(["in-progress.part", "link-to-chart"]);
    expect(statSync(join(c.outside, "chart-2019.pdf")).size).toBe(300 * 1024);
    // The big log was compressed next to itself and truncated in place; the small one is untouched.
    const rotated = readdirSync(c.logs).filter((f) => f.endsWith(".gz"));
    expect(rotated).toHaveLength(1);
    const restored = gunzipSync(readFileSync(join(c.logs, rotated[0] ?? ""))).toString();
    expect(restored.startsWith(LOG_LINE)).toBe(true);
    expect(restored.length).toBeGreaterThanOrEqual(2400 * 1024);
    expect(statSync(join(c.logs, "app.log")).size).toBe(0);
    expect(readFileSync(join(c.logs, "small.log"), "utf8")).toBe(LOG_LINE);
    // The largest files left are reported for an operator.
    expect(run.evidence.largest_files_listed).toBe("3");
    expect(run.evidence.largest_files).toContain(join(c.outside, "chart-2019.pdf"));
  });

  it("fails verification when cleanup cannot free enough", async () => {
    const c = clinic();
    writeFileSync(join(c.outside, "big-scan.dcm"), Buffer.alloc(3500 * 1024, 4));
    const run = await runRunbook("RB-DISK-001", { params: c.params, roots: c.roots, ...dirs(c) });
    expect(run.failedAt).toBe("verify_usage");
    expect(run.evidence.usage_below_threshold).toBe("no");
    expect(run.evidence.largest_files?.split("; ")[0]).toBe(`3500 ${join(c.outside, "big-scan.dcm")}`);
    expect(statSync(join(c.outside, "big-scan.dcm")).size).toBe(3500 * 1024);
  });

  it("measures the whole filesystem with df when no quota is set", async () => {
    const c = clinic();
    const env = contractEnv(runbook("RB-DISK-001"), {
      params: { ...c.params, quota_mb: 0 },
      roots: c.roots,
      ...dirs(c),
    });
    const run = await runScript("scripts/disk_usage.sh", env, { cwd: c.box.dir });
    expect(run.code).toBe(0);
    expect(run.evidence.usage_mode).toBe("filesystem");
    const [total, used, avail] =
      execFileSync("df", ["-Pk", c.data], { encoding: "utf8" })
        .split("\n")[1]
        ?.trim()
        .split(/\s+/)
        .slice(1, 4)
        .map(Number) ?? [];
    expect(total).toBeGreaterThan(0);
    expect(Number(run.evidence.limit_kb)).toBeCloseTo((used ?? 0) + (avail ?? 0), -4);
    expect(Number(run.evidence.usage_percent)).toBeGreaterThan(0);
    expect(Number(run.evidence.usage_percent)).toBeLessThanOrEqual(100);
  });

  it("may measure the root filesystem but never cleans inside a root of /", async () => {
    const c = clinic();
    const rb = runbook("RB-DISK-001");
    const measure = contractEnv(rb, {
      params: { ...c.params, target_dir: "/", quota_mb: 0 },
      roots: { disk_targets: ["/"] },
      ...dirs(c),
    });
    const usage = await runScript("scripts/disk_usage.sh", measure, { cwd: c.box.dir });
    expect([usage.code, usage.evidence.usage_mode]).toEqual([0, "filesystem"]);

    const slash = { disk_targets: [c.data], tmp: ["/"], log: ["/"] };
    const named = contractEnv(rb, {
      params: { ...c.params, temp_dir: c.tmp, log_dir: c.logs },
      roots: slash,
      ...dirs(c),
    });
    for (const script of ["scripts/disk_clean_temp.sh", "scripts/disk_rotate_logs.sh"]) {
      const run = await runScript(script, named, { cwd: c.box.dir });
      expect([script, run.code, run.evidence.refused]).toEqual([script, 65, "path_outside_roots"]);
    }
    const all = contractEnv(rb, { params: c.params, roots: slash, ...dirs(c) });
    const clean = await runScript("scripts/disk_clean_temp.sh", all, { cwd: c.box.dir });
    expect(clean.evidence).toMatchObject({ temp_cleanup: "skipped", temp_files_removed: "0" });
    const rotate = await runScript("scripts/disk_rotate_logs.sh", all, { cwd: c.box.dir });
    expect(rotate.evidence).toMatchObject({ log_rotation: "skipped", logs_rotated: "0" });
    expect(readdirSync(c.tmp)).toHaveLength(5);
  });

  it("changes nothing in dry-run mode", async () => {
    const c = clinic();
    const listing = () => execFileSync("find", [c.data, "-printf", "%p %s %T@\\n"], { encoding: "utf8" });
    const before = listing();
    const run = await runRunbook("RB-DISK-001", {
      params: c.params,
      roots: c.roots,
      dryRun: true,
      ...dirs(c),
    });
    for (const s of run.steps) expect([s.name, s.missing]).toEqual([s.name, []]);
    expect(run.evidence).toMatchObject({
      temp_cleanup: "dry_run",
      temp_files_removed: "0",
      log_rotation: "dry_run",
      usage_below_threshold: "no",
    });
    expect(stepNamed(run, "clean_temp").stderr).toContain("would delete 3 files");
    expect(listing()).toBe(before);
  });

  it("refuses temp, log and target directories outside their roots", async () => {
    const c = clinic();
    const rb = runbook("RB-DISK-001");
    const cases: [string, string][] = [
      ["temp_dir", "scripts/disk_clean_temp.sh"],
      ["log_dir", "scripts/disk_rotate_logs.sh"],
      ["target_dir", "scripts/disk_usage.sh"],
    ];
    for (const [param, script] of cases) {
      for (const bad of ["../../etc", "/etc", `${c.tmp}/../records`, `${c.data}/../../../var/log`]) {
        if (param === "target_dir" && bad === `${c.tmp}/../records`) continue; // inside the target root, so allowed
        const env = contractEnv(rb, { params: { ...c.params, [param]: bad }, roots: c.roots, ...dirs(c) });
        const run = await runScript(script, env, { cwd: c.box.dir });
        expect([param, bad, run.code, run.evidence.refused]).toEqual([param, bad, 65, "path_outside_roots"]);
      }
    }
    expect(existsSync(join(c.outside, "chart-2019.pdf"))).toBe(true);
    expect(readdirSync(c.tmp)).toHaveLength(5);
  });

  it("skips cleanup when no tmp or log root is configured", async () => {
    const c = clinic();
    const run = await runRunbook("RB-DISK-001", {
      params: c.params,
      roots: { disk_targets: [c.data] },
      ...dirs(c),
    });
    expect(run.evidence).toMatchObject({
      temp_cleanup: "skipped",
      log_rotation: "skipped",
      usage_below_threshold: "no",
    });
    expect(readdirSync(c.tmp)).toHaveLength(5);
  });
});
