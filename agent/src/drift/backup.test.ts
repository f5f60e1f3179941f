import { utimes } from "node:fs/promises";
import { FakeClock } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { checkBackupFreshness } from "./backup.js";
import type { CheckOf } from "./context.js";
import { contextFor, put, removeTempRoots, replayExec, tempRoot } from "./testkit.js";

afterAll(removeTempRoots);

const check: CheckOf<"backup_freshness"> = {
  type: "backup_freshness",
  id: "backup",
  citation: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
  severity: "critical",
  event_type: "backup_failure",
  directory: "/var/backups/clinic",
  pattern: "*.tar.zst",
  recursive: true,
  max_age_hours: 26,
  min_size_bytes: 1024,
};
const now = new Date("2026-03-10T06:00:00.000Z");
const clock = new FakeClock(now);
const exec = replayExec({});

/** Writes a backup file whose mtime is `ageHours` before the fake now. */
async function backup(root: string, path: string, bytes: number, ageHours: number): Promise<void> {
  const full = await put(root, path, Buffer.alloc(bytes, 7));
  const t = new Date(now.getTime() - ageHours * 3_600_000);
  await utimes(full, t, t);
}

describe("backup freshness check", () => {
  it("passes when the newest non-empty archive (searched recursively) is within the window", async () => {
    const root = await tempRoot();
    await backup(root, "/var/backups/clinic/2026-03-08/ehr.tar.zst", 4096, 50);
    await backup(root, "/var/backups/clinic/2026-03-09/ehr.tar.zst", 4096, 22);
    await backup(root, "/var/backups/clinic/2026-03-10/ehr.tar.zst", 10, 1); // truncated: not a backup
    await backup(root, "/var/backups/clinic/notes.txt", 4096, 0);
    const out = await checkBackupFreshness(check, contextFor(root, exec, clock));
    expect(out.status).toBe("pass");
    expect(out.observed).toMatch(/^newest 2026-03-09\/ehr\.tar\.zst: 22\.0 h old, 4096 bytes/);
  });

  it("fails when the newest backup is too old", async () => {
    const root = await tempRoot();
    await backup(root, "/var/backups/clinic/ehr-0307.tar.zst", 4096, 71.5);
    const out = await checkBackupFreshness(check, contextFor(root, exec, clock));
    expect(out).toMatchObject({ status: "fail", reason: "newest backup is 71.5 h old (limit 26 h)" });
  });

  it("fails when there is no usable backup or no directory at all", async () => {
    const root = await tempRoot();
    await backup(root, "/var/backups/clinic/ehr.tar.zst", 0, 1);
    const empty = await checkBackupFreshness(check, contextFor(root, exec, clock));
    expect(empty).toMatchObject({ status: "fail", observed: "1 backup files, all smaller than 1024 bytes" });
    const none = await checkBackupFreshness(check, contextFor(await tempRoot(), exec, clock));
    expect(none).toMatchObject({ status: "fail", reason: "/var/backups/clinic is missing" });
  });

  it("does not descend into subdirectories unless recursive", async () => {
    const root = await tempRoot();
    await backup(root, "/var/backups/clinic/daily/ehr.tar.zst", 4096, 1);
    const out = await checkBackupFreshness({ ...check, recursive: false }, contextFor(root, exec, clock));
    expect(out).toMatchObject({ status: "fail", observed: "no backup files" });
  });
});
