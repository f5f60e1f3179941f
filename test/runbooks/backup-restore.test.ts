/**
 * RB-BACKUP-001 and RB-RESTORE-001 against a real data directory: a backup is
 * made and verified, then restored into scratch with every file's checksum
 * compared; corruption of the archive and of a file inside it is detected.
 */

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  contractEnv,
  type RunOptions,
  runbook,
  runRunbook,
  runScript,
  sandbox,
  stepNamed,
} from "./helpers.js";

const box = sandbox();
afterAll(() => box.cleanup());

const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
let runs = 0;
/** Fresh work and state directories per run, as the executor gives each run its own. */
function dirs(): Pick<RunOptions, "workDir" | "stateDir"> {
  runs += 1;
  return { workDir: box.mkdir(`work-${runs}`), stateDir: box.mkdir("state") };
}

let sources: string;
let targets: string;
let data: string;
let repo: string;
const FILES = [
  "visit-notes.txt",
  "scans/ct-0001.bin",
  "scans/ct-0002.bin",
  "name with spaces.txt",
  "ehr.sqlite",
];

beforeAll(() => {
  sources = box.mkdir("sources");
  targets = box.mkdir("targets");
  data = box.mkdir("sources", "clinic");
  repo = join(targets, "clinic");
  box.mkdir("sources", "clinic", "scans");
  writeFileSync(join(data, "visit-notes.txt"), "patient 17: follow-up in two weeks\n");
  writeFileSync(join(data, "scans", "ct-0001.bin"), Buffer.alloc(200_000, 7));
  writeFileSync(join(data, "scans", "ct-0002.bin"), createHash("sha512").update("x").digest());
  writeFileSync(join(data, "name with spaces.txt"), "odd names must survive\n");
  execFileSync("sqlite3", [
    join(data, "ehr.sqlite"),
    "create table visits(id integer, note text); insert into visits values (1, 'ok');",
  ]);
});

const backupParams = () => ({ source_dir: data, repository_dir: repo });
const roots = () => ({ backup_sources: [sources], backup_targets: [targets] });

describe("RB-BACKUP-001", () => {
  it("backs up the data directory with an archive and a manifest that match the files", async () => {
    const run = await runRunbook("RB-BACKUP-001", { params: backupParams(), roots: roots(), ...dirs() });
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect(s.missing, s.name).toEqual([]);
    expect(stepNamed(run, "check_backup_state").evidence).toMatchObject({
      backups_found: "0",
      last_backup_stale: "yes",
    });
    expect(run.evidence).toMatchObject({ space_ok: "yes", backup_status: "success", backup_verified: "yes" });
    expect(run.evidence.files_backed_up).toBe(String(FILES.length));

    const dir = join(repo, run.evidence.backup_id ?? "missing");
    expect(readdirSync(dir).sort()).toEqual(["ARCHIVE.sha256", "MANIFEST.sha256", "data.tar.gz"]);
    expect(run.evidence.archive_sha256).toBe(sha256(join(dir, "data.tar.gz")));
    expect(run.evidence.manifest_sha256).toBe(sha256(join(dir, "MANIFEST.sha256")));
    const manifest = readFileSync(join(dir, "MANIFEST.sha256"), "utf8");
    for (const f of FILES) expect(manifest).toContain(`${sha256(join(data, f))}  ./${f}\n`);
    expect(run.validations.map((v) => [v.name, v.code])).toEqual([["latest_backup_intact", 0]]);
    expect(readFileSync(join(repo, "backup.log"), "utf8")).toContain(run.evidence.backup_id);
  });

  it("refuses source or repository paths outside the configured roots", async () => {
    const rb = runbook("RB-BACKUP-001");
    for (const bad of ["../../etc", "/etc", `${targets}/../../../etc`]) {
      for (const params of [
        { source_dir: bad, repository_dir: repo },
        { source_dir: data, repository_dir: bad },
      ]) {
        const env = contractEnv(rb, { params, roots: roots(), ...dirs() });
        const run = await runScript("scripts/backup_run.sh", env, { cwd: box.dir });
        expect(run.code, JSON.stringify(params)).toBe(65);
        expect(run.evidence.refused).toBe("path_outside_roots");
      }
    }
    expect(existsSync(join(targets, "etc"))).toBe(false);
  });

  it("changes nothing in dry-run mode", async () => {
    const dryRepo = join(targets, "dry");
    const run = await runRunbook("RB-BACKUP-001", {
      params: { source_dir: data, repository_dir: dryRepo },
      roots: roots(),
      dryRun: true,
      ...dirs(),
    });
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);
    expect(stepNamed(run, "run_backup").evidence).toMatchObject({ dry_run: "1", backup_status: "dry_run" });
    expect(stepNamed(run, "verify_backup").evidence.backup_verified).toBe("skipped");
    expect(existsSync(dryRepo)).toBe(false);
  });

  it("quarantines a backup that fails verification so a restore never picks it", async () => {
    const rb = runbook("RB-BACKUP-001");
    const env = contractEnv(rb, { params: backupParams(), roots: roots(), ...dirs() });
    const made = await runScript("scripts/backup_run.sh", env, { cwd: box.dir });
    expect(made.code).toBe(0);
    const id = made.evidence.backup_id ?? "missing";
    writeFileSync(join(repo, id, "data.tar.gz"), "truncated");
    const verify = await runScript("scripts/backup_verify.sh", env, { cwd: box.dir });
    expect(verify.code).toBe(1);
    expect(verify.evidence.backup_verified).toBe("no");
    const rollback = await runScript("scripts/backup_rollback.sh", env, { cwd: box.dir });
    expect(rollback.evidence.rollback_quarantined).toBe(`failed-${id.slice("backup-".length)}`);
    expect(existsSync(join(repo, id))).toBe(false);
  });
});

describe("RB-RESTORE-001", () => {
  const restoreParams = () => ({ repository_dir: repo });

  it("restores the newest backup into scratch and verifies every file's checksum", async () => {
    const made = await runRunbook("RB-BACKUP-001", { params: backupParams(), roots: roots(), ...dirs() });
    expect(made.failedAt).toBeUndefined();
    const d = dirs();
    const run = await runRunbook("RB-RESTORE-001", { params: restoreParams(), roots: roots(), ...d });
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);
    expect(run.evidence).toMatchObject({
      restore_backup_id: made.evidence.backup_id,
      backup_fresh: "yes",
      archive_verified: "yes",
      files_restored: String(FILES.length),
      files_verified: String(FILES.length),
      mismatches: "0",
      missing_files: "0",
      extra_files: "0",
      restore_status: "verified",
      databases_checked: "1",
      database_check: "ok",
      scratch_removed: "yes",
    });
    expect(run.validations.map((v) => [v.name, v.code])).toEqual([["scratch_cleaned", 0]]);
    expect(readdirSync(d.workDir).filter((f) => f.startsWith("restore-scratch"))).toEqual([]);
  });

  it("detects a corrupted archive before extracting it, and cleans up", async () => {
    const made = await runRunbook("RB-BACKUP-001", { params: backupParams(), roots: roots(), ...dirs() });
    const archive = join(repo, made.evidence.backup_id ?? "missing", "data.tar.gz");
    const bytes = readFileSync(archive);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    writeFileSync(archive, bytes);

    const d = dirs();
    const run = await runRunbook("RB-RESTORE-001", { params: restoreParams(), roots: roots(), ...d });
    expect(run.failedAt).toBe("verify_archive");
    expect(run.evidence.archive_verified).toBe("no");
    expect(run.evidence.restore_archive_sha256).not.toBe(run.evidence.expected_archive_sha256);
    expect(run.rollback.map((r) => r.evidence.scratch_removed)).toEqual(["yes"]);
    expect(readdirSync(d.workDir).filter((f) => f.startsWith("restore-scratch"))).toEqual([]);
  });

  it("detects a file whose content differs from the manifest even when the archive hash was forged", async () => {
    const made = await runRunbook("RB-BACKUP-001", { params: backupParams(), roots: roots(), ...dirs() });
    const dir = join(repo, made.evidence.backup_id ?? "missing");
    const unpacked = box.mkdir(`forged-${runs}`);
    execFileSync("tar", ["-xzf", join(dir, "data.tar.gz"), "-C", unpacked]);
    writeFileSync(join(unpacked, "visit-notes.txt"), "patient 17: altered\n");
    execFileSync("tar", ["-C", unpacked, "-czf", join(dir, "data.tar.gz"), "."]);
    writeFileSync(join(dir, "ARCHIVE.sha256"), `${sha256(join(dir, "data.tar.gz"))}  data.tar.gz\n`);

    const run = await runRunbook("RB-RESTORE-001", { params: restoreParams(), roots: roots(), ...dirs() });
    expect(run.evidence.archive_verified).toBe("yes");
    expect(run.failedAt).toBe("verify_checksums");
    expect(run.evidence).toMatchObject({
      mismatches: "1",
      files_verified: String(FILES.length - 1),
      restore_status: "failed",
    });
    expect(stepNamed(run, "verify_checksums").stderr).toContain("./visit-notes.txt: FAILED");
  });

  it("refuses a repository outside the backup roots", async () => {
    const rb = runbook("RB-RESTORE-001");
    for (const bad of ["../../etc", "/etc", `${targets}/../../../etc`]) {
      const env = contractEnv(rb, { params: { repository_dir: bad }, roots: roots(), ...dirs() });
      const run = await runScript("scripts/restore_select.sh", env, { cwd: box.dir });
      expect(run.code).toBe(65);
      expect(run.evidence.refused).toBe("path_outside_roots");
    }
  });

  it("fails the test when there is no backup at all", async () => {
    const empty = box.mkdir("targets", "empty");
    const run = await runRunbook("RB-RESTORE-001", {
      params: { repository_dir: empty },
      roots: roots(),
      ...dirs(),
    });
    expect(run.failedAt).toBe("select_backup");
    expect(run.evidence.backups_available).toBe("0");
  });
});
