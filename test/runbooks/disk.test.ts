/**
 * RB-DISK-001 against a real quota directory filled past its threshold: old
 * temp files are deleted and big logs compressed, only inside the configured
 * roots, until usage is back under the threshold.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { contractEnv, runbook, runRunbook, runScript, type Sandbox, sandbox, stepNamed } from "./helpers.js";
import { fillQuotaDir, LOG_LINE, type QuotaDir } from "./quota.js";

interface Clinic extends QuotaDir {
  box: Sandbox;
}

let current: Sandbox | undefined;
afterEach(() => current?.cleanup());

/** A fresh quota directory filled past its threshold (see ./quota.ts), cleaned up after the test. */
function clinic(): Clinic {
  const box = sandbox();
  current = box;
  return { box, ...fillQuotaDir(box) };
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
