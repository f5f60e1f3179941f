/**
 * RB-BACKUP-001 and RB-RESTORE-001 through the executor, against a real data
 * directory: the backup's archive is unpacked here and every file compared
 * with the original by sha256; the restore test verifies it, and a corrupted
 * archive is caught and rolled back with the real cleanup script. Each run's
 * signed bundle is checked field by field.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  actionTable,
  expectPinned,
  expectSealed,
  incident,
  type LibraryExecutor,
  libraryExecutor,
  outputsOf,
  stepEvidence,
} from "./executor-harness.js";
import { sandbox } from "./helpers.js";

const box = sandbox("msp-rbx-backup-");
const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const FILES = ["visit-notes.txt", "scans/ct-0001.bin", "name with spaces.txt", "ehr.sqlite"];

let h: LibraryExecutor;
let data: string;
let repo: string;

beforeAll(() => {
  const sources = box.mkdir("sources");
  const targets = box.mkdir("targets");
  data = box.mkdir("sources", "clinic");
  repo = join(targets, "clinic");
  box.mkdir("sources", "clinic", "scans");
  writeFileSync(join(data, "visit-notes.txt"), "patient 17: follow-up in two weeks\n");
  writeFileSync(join(data, "scans", "ct-0001.bin"), Buffer.alloc(150_000, 9));
  writeFileSync(join(data, "name with spaces.txt"), "odd names must survive\n");
  execFileSync("sqlite3", [
    join(data, "ehr.sqlite"),
    "create table visits(id integer, note text); insert into visits values (1, 'ok');",
  ]);
  h = libraryExecutor({ path_roots: { backup_sources: [sources], backup_targets: [targets] } });
});
afterAll(() => {
  h?.close();
  box.cleanup();
});

const backupOk: [string, string, string, number | null][] = [
  ["step", "check_backup_state", "ok", 0],
  ["step", "verify_backup_space", "ok", 0],
  ["step", "run_backup", "ok", 0],
  ["step", "verify_backup", "ok", 0],
  ["validation", "latest_backup_intact", "ok", 0],
];

async function backup(): Promise<string> {
  const b = await h.run({
    runbookId: "RB-BACKUP-001",
    params: { source_dir: data, repository_dir: repo },
    incident: incident("backup_failure", 30, "critical"),
  });
  expect(b.execution?.outcome, b.execution?.reason ?? "").toBe("success");
  return outputsOf(b, "run_backup").backup_id ?? "missing";
}

describe("RB-BACKUP-001 through the executor", () => {
  it("makes a backup whose archive holds every file byte for byte, with a signed bundle proving it", async () => {
    const b = await h.run({
      runbookId: "RB-BACKUP-001",
      params: { source_dir: data, repository_dir: repo },
      incident: incident("backup_failure", 30, "critical"),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-BACKUP-001", 1800);
    expect(b.kind).toBe("runbook_execution");
    expect(b.execution).toMatchObject({ outcome: "success", reason: null, sla_met: true });
    expect(b.execution?.success_criteria.map((c) => [c.expression, c.met])).toEqual([
      ['backup_status == "success"', true],
      ['backup_verified == "yes"', true],
      ["files_backed_up >= 1", true],
    ]);
    expect(actionTable(b)).toEqual(backupOk);
    expect(b.runbook?.steps_executed).toBe(4);
    const ev = stepEvidence(b);
    expect(ev).toMatchObject({
      backups_found: "0",
      space_ok: "yes",
      backup_status: "success",
      backup_verified: "yes",
      files_backed_up: String(FILES.length),
    });

    // The effect: the archive named in the bundle exists with that sha256 and holds every file intact.
    const dir = join(repo, ev.backup_id ?? "missing");
    expect(sha256(join(dir, "data.tar.gz"))).toBe(ev.archive_sha256);
    expect(ev.verified_archive_sha256).toBe(ev.archive_sha256);
    expect(sha256(join(dir, "MANIFEST.sha256"))).toBe(ev.manifest_sha256);
    const unpacked = box.mkdir("unpacked-1");
    execFileSync("tar", ["-xzf", join(dir, "data.tar.gz"), "-C", unpacked]);
    for (const f of FILES) expect(sha256(join(unpacked, f)), f).toBe(sha256(join(data, f)));
  });

  it("rolls back with the real discard script when the repository lacks room, leaving no backup", async () => {
    const before = readdirSync(repo).sort();
    const b = await h.run({
      runbookId: "RB-BACKUP-001",
      params: { source_dir: data, repository_dir: repo, min_free_mb: 1_048_576 },
      incident: incident("backup_failure", 10),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-BACKUP-001", 600);
    expect(actionTable(b)).toEqual([
      ["step", "check_backup_state", "ok", 0],
      ["step", "verify_backup_space", "failed", 1],
      ["step", "run_backup", "skipped", null],
      ["step", "verify_backup", "skipped", null],
      ["rollback", "discard_failed_backup", "ok", 0],
      ["rollback", "alert_administrator", "ok", null],
    ]);
    expect(b.execution).toMatchObject({
      outcome: "rolled_back",
      reason: "step 2 (verify_backup_space) exited 1, expected 0; rollback completed",
    });
    expect(outputsOf(b, "verify_backup_space").space_ok).toBe("no");
    expect(outputsOf(b, "discard_failed_backup", "rollback")).toMatchObject({
      rollback_staging_removed: "no",
      rollback_quarantined: "none",
    });
    expect(b.execution?.success_criteria.every((c) => !c.met)).toBe(true);
    expect(readdirSync(repo).sort()).toEqual(before);
  });
});

describe("RB-RESTORE-001 through the executor", () => {
  it("restores the newest backup into scratch, verifies every checksum and leaves no patient data behind", async () => {
    const id = await backup();
    const b = await h.run({
      runbookId: "RB-RESTORE-001",
      params: { repository_dir: repo },
      trigger: "offline_autonomy",
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-RESTORE-001", 0);
    expect(b.kind).toBe("restore_test");
    expect(b.execution).toMatchObject({ outcome: "success", trigger: "offline_autonomy", reason: null });
    expect(b.execution?.success_criteria.every((c) => c.met)).toBe(true);
    expect(actionTable(b)).toEqual([
      ["step", "select_backup", "ok", 0],
      ["step", "verify_archive", "ok", 0],
      ["step", "restore_to_scratch", "ok", 0],
      ["step", "verify_checksums", "ok", 0],
      ["step", "check_databases", "ok", 0],
      ["step", "cleanup_scratch", "ok", 0],
      ["validation", "scratch_cleaned", "ok", 0],
    ]);
    expect(stepEvidence(b)).toMatchObject({
      restore_backup_id: id,
      archive_verified: "yes",
      restore_archive_sha256: sha256(join(repo, id, "data.tar.gz")),
      files_restored: String(FILES.length),
      files_verified: String(FILES.length),
      mismatches: "0",
      missing_files: "0",
      restore_status: "verified",
      database_check: "ok",
      scratch_removed: "yes",
    });
    // The executor's private run directory (where scratch lived) is gone with the run.
    expect(readdirSync(join(h.stateDir, "runbooks", "runs"))).toEqual([]);
  });

  it("catches a corrupted archive before extracting it and rolls back with the real cleanup script", async () => {
    const id = await backup();
    const archive = join(repo, id, "data.tar.gz");
    const bytes = readFileSync(archive);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
    writeFileSync(archive, bytes);

    const b = await h.run({ runbookId: "RB-RESTORE-001", params: { repository_dir: repo } });
    expectSealed(h, b);
    expectPinned(h, b, "RB-RESTORE-001", 0);
    expect(b.kind).toBe("restore_test");
    expect(actionTable(b)).toEqual([
      ["step", "select_backup", "ok", 0],
      ["step", "verify_archive", "failed", 1],
      ["step", "restore_to_scratch", "skipped", null],
      ["step", "verify_checksums", "skipped", null],
      ["step", "check_databases", "skipped", null],
      ["step", "cleanup_scratch", "skipped", null],
      ["rollback", "cleanup_scratch", "ok", 0],
      ["rollback", "alert_administrator", "ok", null],
    ]);
    expect(b.execution).toMatchObject({
      outcome: "rolled_back",
      reason: "step 2 (verify_archive) exited 1, expected 0; rollback completed",
    });
    const ev = outputsOf(b, "verify_archive");
    expect(ev.archive_verified).toBe("no");
    expect(ev.restore_archive_sha256).toBe(sha256(archive));
    expect(ev.restore_archive_sha256).not.toBe(ev.expected_archive_sha256);
    expect(outputsOf(b, "cleanup_scratch", "rollback").scratch_removed).toBe("yes");
    expect(outputsOf(b, "alert_administrator", "rollback").message).toMatch(/restore test failed/);
    expect(existsSync(archive)).toBe(true);
  });
});
