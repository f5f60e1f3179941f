/**
 * The demo directory and the simulated clinic server inside it. Everything
 * the demo makes or changes lives under one directory; the agent's path roots
 * name only the clinic data and backup directories in it, so the runbook
 * scripts refuse any other path, and no service or process is on an
 * allow-list, so none can be restarted or stopped.
 *
 * A second run recreates the directory from scratch: it stops daemons the
 * previous run left behind (by their recorded PIDs), removes the directory
 * and starts again. A directory the demo did not make (no marker file) is
 * never removed.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { stopLeftovers } from "./children.js";
import { DemoError } from "./errors.js";

/** The demo's clinic and its one agent. */
export const CLINIC = "demo-clinic";
export const AGENT = "demo-server-01";

/** The file that marks a directory as the demo's own (and so safe to recreate). */
export const DEMO_MARKER = ".msp-demo";

/** Where everything lives inside the demo directory. */
export interface DemoLayout {
  root: string;
  /** `msp-cp init` output: config, signing key, CA, TLS, database, WORM directory. */
  controlPlane: string;
  /** The enrolled agent: config, baseline, keys, outbox and runbook journal. */
  agent: string;
  agentConfig: string;
  agentState: string;
  baseline: string;
  /** The simulated clinic server's EHR export (synthetic records) and its backup repository. */
  clinicData: string;
  backups: string;
  logs: string;
  pids: string;
  /** HOME (and XDG directories) of every child process. */
  home: string;
  exports: string;
  result: string;
}

/** The layout under `root`. */
export function layoutOf(root: string): DemoLayout {
  const agent = join(root, "agent");
  return {
    root,
    controlPlane: join(root, "control-plane"),
    agent,
    agentConfig: join(agent, "agent.yaml"),
    agentState: join(agent, "state"),
    baseline: join(agent, "baseline.yaml"),
    clinicData: join(root, "clinic", "ehr-export"),
    backups: join(root, "clinic", "backups"),
    logs: join(root, "logs"),
    pids: join(root, "run"),
    home: join(root, "home"),
    exports: join(root, "export"),
    result: join(root, "demo-result.json"),
  };
}

/**
 * Makes an empty demo directory at `root`, replacing an earlier demo's.
 * Returns whether an earlier one was replaced and which leftover daemons were stopped.
 */
export async function prepareDemoDir(root: string): Promise<{ replaced: boolean; stopped: string[] }> {
  let replaced = false;
  let stopped: string[] = [];
  if (existsSync(root)) {
    if (!statSync(root).isDirectory()) throw new DemoError(`${root} exists and is not a directory`, true);
    const entries = readdirSync(root);
    if (entries.length > 0) {
      if (!entries.includes(DEMO_MARKER)) {
        throw new DemoError(
          `${root} is not empty and was not made by the demo (no ${DEMO_MARKER}); give another --dir`,
          true,
        );
      }
      stopped = await stopLeftovers(layoutOf(root).pids);
      rmSync(root, { recursive: true, force: true });
      replaced = true;
    }
  }
  mkdirSync(root, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(root, DEMO_MARKER),
    `${JSON.stringify({ made_by: "pnpm demo", note: "recreated by every run of the demo" })}\n`,
  );
  const l = layoutOf(root);
  for (const d of [l.agent, l.clinicData, l.backups, l.logs, l.pids, l.home, l.exports]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }
  return { replaced, stopped };
}

const RECORDS: Record<string, string> = {
  "README.txt": "Synthetic records made by the MSP demo. No real patient data.\n",
  "visits/2026-demo-0001.json": `${JSON.stringify({ patient: "DEMO-0001", visit: "routine check-up", synthetic: true })}\n`,
  "visits/2026-demo-0002.json": `${JSON.stringify({ patient: "DEMO-0002", visit: "follow-up", synthetic: true })}\n`,
  "scans/demo-scan-0001.bin": "x".repeat(64 * 1024),
};

const sha256File = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/** Backup id as `backup_run.sh` names them (`backup-YYYYMMDDTHHMMSS.NNNNNNNNNZ`). */
function backupId(at: Date): string {
  const iso = at.toISOString(); // 2026-11-18T19:04:05.123Z
  return `backup-${iso.slice(0, 10).replaceAll("-", "")}T${iso.slice(11, 19).replaceAll(":", "")}.${iso.slice(20, 23)}000000Z`;
}

/**
 * Writes the clinic's synthetic EHR export and one backup of it in the format
 * RB-BACKUP-001 makes (tar.gz, file manifest, archive checksum, a line in
 * backup.log), dated `staleHours` ago: the nightly job that made it has
 * "stopped", so the backup freshness drift check fails. Returns the old backup's id.
 */
export function writeClinicServer(l: DemoLayout, now: Date, staleHours: number): string {
  for (const [name, body] of Object.entries(RECORDS)) {
    const file = join(l.clinicData, name);
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(file, body);
  }
  const made = new Date(now.getTime() - staleHours * 3_600_000);
  const id = backupId(made);
  const dir = join(l.backups, id);
  mkdirSync(dir);
  execFileSync("tar", ["-C", l.clinicData, "--numeric-owner", "-czf", join(dir, "data.tar.gz"), "."]);
  const files = Object.keys(RECORDS)
    .map((n) => `./${n}`)
    .sort();
  writeFileSync(
    join(dir, "MANIFEST.sha256"),
    files.map((f) => `${sha256File(join(l.clinicData, f))}  ${f}\n`).join(""),
  );
  writeFileSync(join(dir, "ARCHIVE.sha256"), `${sha256File(join(dir, "data.tar.gz"))}  data.tar.gz\n`);
  writeFileSync(
    join(l.backups, "backup.log"),
    `${made.toISOString().slice(0, 19)}Z ${id} files=${files.length} (nightly job; the demo simulates that it stopped after this run)\n`,
  );
  for (const f of ["data.tar.gz", "MANIFEST.sha256", "ARCHIVE.sha256"]) utimesSync(join(dir, f), made, made);
  utimesSync(dir, made, made);
  return id;
}

/** The drift baseline: one check, backup freshness of the clinic's repository (JSON is YAML). */
export function baselineOf(l: DemoLayout): Record<string, unknown> {
  return {
    version: 1,
    id: "demo-backup-v1",
    baseline_version: "1.0.0",
    description: "Demo baseline: the clinic's nightly backup must be fresh (HIPAA data backup plan).",
    checks: [
      {
        type: "backup_freshness",
        id: "ehr_backup_fresh",
        description: "The newest EHR backup archive is under 26 hours old.",
        citation: ["164.308(a)(7)(ii)(A)"],
        severity: "high",
        directory: l.backups,
        pattern: "data.tar.gz",
        recursive: true,
        max_age_hours: 26,
        min_size_bytes: 1,
      },
    ],
  };
}

/**
 * The operator's edit of the enrolled agent's config: path roots confined to
 * the demo's clinic directories, no allow-listed services or processes, no
 * offline runs, one drift cycle at start (the next would be an hour later).
 */
export function confineAgentConfig(
  enrolled: Record<string, unknown>,
  l: DemoLayout,
): Record<string, unknown> {
  return {
    ...enrolled,
    hostname: "demo-clinic-server",
    check_interval_seconds: 3600,
    offline_autonomy: [],
    service_allowlist: [],
    process_allowlist: [],
    path_roots: { backup_sources: [l.clinicData], backup_targets: [l.backups] },
    log_level: "info",
  };
}

/** Every path in `paths` that is not inside `root` (empty when all are). */
export function outside(root: string, paths: readonly string[]): string[] {
  return paths.filter((p) => {
    const rel = relative(root, p);
    return p === "" || isAbsolute(rel) || rel === ".." || rel.startsWith("../");
  });
}
