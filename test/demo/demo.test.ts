/**
 * `pnpm demo` end to end, as a child process exactly as the README runs it
 * (build, then `node --import tsx demo/run.ts`), twice on the same directory
 * to prove a second run works. Checked by what it left behind, not by its
 * wording: the result file, the files it names, the evidence export (verified
 * again here, in-process, with the pinned key) and the WORM objects.
 *
 * Containment: the demo runs with HOME and TMPDIR pointing at probe
 * directories beside (not inside) the demo directory, the agent's path roots
 * and every path the runbook acted on must lie inside the demo directory, no
 * service or process may be allow-listed, and the clinic's data and old
 * backup must be byte-for-byte unchanged.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { canonicalBytes, verifyBytes } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyEvidenceSet } from "../../control-plane/src/verify/index.js";
import type { DemoResult } from "../../demo/result.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const RUN = join(ROOT, "demo", "run.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the demo with `args`, HOME and TMPDIR set to the probe directories. */
function demo(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", RUN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString("utf8");
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const sha256 = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const inside = (root: string, p: string) => {
  const rel = relative(root, p);
  return p !== "" && !isAbsolute(rel) && rel !== ".." && !rel.startsWith("../");
};
/** Every file under `dir`, relative, sorted. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

let box: string;
let dir: string;
let env: Record<string, string>;
let first: Run;
let firstResult: DemoResult;
let second: Run;
let result: DemoResult;

beforeAll(async () => {
  // What `pnpm demo` does first: the demo runs the built commands.
  const build = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-b"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`tsc -b failed:\n${build.stdout}${build.stderr}`);
  box = mkdtempSync(join(tmpdir(), "msp-demo-test-"));
  dir = join(box, "demo");
  env = { HOME: join(box, "probe-home"), TMPDIR: join(box, "probe-tmp") };
  mkdirSync(env.HOME as string);
  mkdirSync(env.TMPDIR as string);
  first = await demo(["--dir", dir], env);
  if (first.code !== 0) throw new Error(`first run exited ${first.code}:\n${first.stdout}\n${first.stderr}`);
  firstResult = JSON.parse(readFileSync(join(dir, "demo-result.json"), "utf8")) as DemoResult;
  second = await demo(["--dir", dir], env);
  if (second.code !== 0)
    throw new Error(`second run exited ${second.code}:\n${second.stdout}\n${second.stderr}`);
  result = JSON.parse(readFileSync(join(dir, "demo-result.json"), "utf8")) as DemoResult;
}, 300_000);

afterAll(() => {
  if (box !== undefined) rmSync(box, { recursive: true, force: true });
});

describe("pnpm demo", () => {
  it("runs twice on the same directory; the second run recreates it from scratch", () => {
    expect(second.stdout).toContain("previous demo removed, recreated");
    expect(result.incident.incident_id).not.toBe(firstResult.incident.incident_id);
    expect(result.control_plane.public_key).not.toBe(firstResult.control_plane.public_key);
    // The first run's new backup is gone with its directory; the second made its own.
    expect(existsSync(firstResult.execution.backup_dir)).toBe(false);
    expect(existsSync(result.execution.backup_dir)).toBe(true);
    // No daemon outlives a run: PID files are removed when each daemon exits.
    expect(readdirSync(join(dir, "run"))).toEqual([]);
  });

  it("turns the stale backup into a backup_failure incident the rule-based planner fixes with RB-BACKUP-001", () => {
    expect(result.incident).toMatchObject({
      incident_type: "backup_failure",
      severity: "high",
      status: "resolved",
    });
    expect(result.plan).toEqual({
      planner: "rules",
      runbook_id: "RB-BACKUP-001",
      confidence: 0.9,
      requires_approval: false,
    });
    expect(result.command).toMatchObject({ status: "succeeded", signature_valid: true });
    expect(result.execution.outcome).toBe("success");
    const backup = result.execution.backup_dir;
    for (const f of ["data.tar.gz", "MANIFEST.sha256", "ARCHIVE.sha256"])
      expect(existsSync(join(backup, f))).toBe(true);
    expect(readFileSync(join(backup, "ARCHIVE.sha256"), "utf8").split(" ")[0]).toBe(
      sha256(join(backup, "data.tar.gz")),
    );
  });

  it("acts only inside the demo directory and on no host service", () => {
    const agent = JSON.parse(readFileSync(result.agent.config, "utf8")) as {
      path_roots: Record<string, string[]>;
      state_dir: string;
      service_allowlist: string[];
      process_allowlist: string[];
      offline_autonomy: string[];
    };
    const roots = Object.values(agent.path_roots).flat();
    expect(roots.length).toBeGreaterThan(0);
    for (const p of [...roots, agent.state_dir]) expect(inside(dir, p), p).toBe(true);
    expect(agent.service_allowlist).toEqual([]);
    expect(agent.process_allowlist).toEqual([]);
    expect(agent.offline_autonomy).toEqual([]);
    for (const v of Object.values(result.command.params)) {
      if (typeof v === "string" && v.startsWith("/")) expect(inside(dir, v), v).toBe(true);
    }
    expect(inside(dir, result.execution.backup_dir)).toBe(true);
    // The backup repository holds the old backup, the new one and the log: no staging or quarantined leftovers.
    const backups = join(dir, "clinic", "backups");
    const entries = readdirSync(backups).sort();
    expect(entries).toHaveLength(3);
    expect(entries).toContain("backup.log");
    expect(entries).toContain(result.execution.backup_id);
    const old = entries.find((e) => e.startsWith("backup-") && e !== result.execution.backup_id) as string;
    expect(old).toBeDefined();
    // The old backup is untouched: still 72 h old and still matching its own checksum.
    const oldDir = join(backups, old);
    expect(Date.now() - statSync(join(oldDir, "ARCHIVE.sha256")).mtimeMs).toBeGreaterThan(70 * 3_600_000);
    expect(readFileSync(join(oldDir, "ARCHIVE.sha256"), "utf8").split(" ")[0]).toBe(
      sha256(join(oldDir, "data.tar.gz")),
    );
    // The clinic data is unchanged: the manifests made before and by the runbook list the same files and
    // hashes, and the files on disk still have them.
    const manifestOf = (d: string) => readFileSync(join(d, "MANIFEST.sha256"), "utf8");
    expect(manifestOf(result.execution.backup_dir)).toBe(manifestOf(oldDir));
    for (const line of manifestOf(oldDir).trim().split("\n")) {
      const [hash, name] = line.split(/ {2}/) as [string, string];
      expect(sha256(join(dir, "clinic", "ehr-export", name)), name).toBe(hash);
    }
    expect(files(join(dir, "clinic", "ehr-export"))).toHaveLength(
      manifestOf(oldDir).trim().split("\n").length,
    );
    // Nothing was written to HOME; the temp dir holds at most tsx's compile cache.
    expect(files(env.HOME as string)).toEqual([]);
    expect(readdirSync(env.TMPDIR as string).filter((n) => !n.startsWith("tsx-"))).toEqual([]);
  });

  it("stores, acks and uploads the signed evidence, and checkpoints the day", () => {
    // The failing drift cycle, the runbook execution and the passing re-check, all acked.
    expect(result.evidence).toEqual({ bundles_stored: 3, acked_seq: 3, last_seq: 3 });
    expect(inside(dir, result.worm.dir)).toBe(true);
    const object = JSON.parse(readFileSync(result.worm.runbook_object, "utf8")) as { bundle_id: string };
    expect(object.bundle_id).toBe(result.execution.bundle_id);
    expect(existsSync(join(result.worm.dir, "LOCAL-WORM-NOT-TAMPER-PROOF.json"))).toBe(true);
    const checkpoint = JSON.parse(readFileSync(result.worm.checkpoint_object, "utf8")) as {
      day: string;
      bundle_count: number;
      root: string;
    };
    expect(checkpoint).toMatchObject({
      day: result.checkpoint.day,
      bundle_count: 3,
      root: result.checkpoint.root,
    });
  });

  it("makes this month's compliance packet, signed by the control plane and archived in WORM", () => {
    const p = result.packet;
    for (const f of [p.markdown, p.html, p.signature]) expect(inside(dir, f), f).toBe(true);
    expect(readFileSync(p.markdown, "utf8")).toContain(result.clinic_id);
    expect(readFileSync(p.html, "utf8")).toMatch(/^<!doctype html>/i);
    // A PDF exactly when Debian's Chromium is installed; otherwise the result says why not.
    if (existsSync("/usr/bin/chromium")) {
      expect(p.pdf).not.toBeNull();
      expect(
        readFileSync(p.pdf as string)
          .subarray(0, 5)
          .toString("latin1"),
      ).toBe("%PDF-");
    } else {
      expect(p.pdf).toBeNull();
      expect(p.pdf_skipped_reason).toMatch(/chromium/);
    }
    // The signed manifest covers every file, byte for byte, under the control plane's key.
    const signed = JSON.parse(readFileSync(p.signature, "utf8")) as {
      files: { name: string; sha256: string }[];
      signature: { value: string };
    };
    const { signature, ...unsigned } = signed;
    expect(
      verifyBytes(
        result.control_plane.public_key,
        canonicalBytes(unsigned),
        Buffer.from(signature.value, "base64"),
      ),
    ).toBe(true);
    for (const f of signed.files) expect(sha256(join(p.dir, f.name)), f.name).toBe(f.sha256);
    expect(signed.files.map((f) => f.name)).toEqual(expect.arrayContaining(["packet.md", "packet.html"]));
    // Every packet file, signature included, has its WORM copy.
    expect(p.worm).toHaveLength(signed.files.length + 1);
    for (const w of p.worm) expect(inside(result.worm.dir, w) && existsSync(w), w).toBe(true);
  });

  it("exports an evidence set that verifies offline with the pinned key", async () => {
    expect(result.verify).toEqual({
      ok: true,
      bundles: 3,
      bundles_failed: 0,
      withheld: 0,
      checkpoints: 1,
      checkpoints_failed: 0,
    });
    const manifest = JSON.parse(readFileSync(join(result.export.dir, "manifest.json"), "utf8")) as {
      bundles: unknown[];
    };
    expect(manifest.bundles).toHaveLength(3);
    // Independently of the demo's own run of msp-verify.
    const report = await verifyEvidenceSet(result.export.dir, {
      controlPlanePublicKey: result.control_plane.public_key,
    });
    expect(report.ok).toBe(true);
    expect(report.summary).toMatchObject({ bundles: 3, checkpoints: 1, withheld: 0 });
  });

  it("names where everything is, and every such path exists inside the demo directory", () => {
    const named = [
      result.control_plane.config,
      result.control_plane.admin_key_file,
      result.control_plane.ca_file,
      result.control_plane.log,
      result.agent.config,
      result.agent.baseline,
      result.agent.log,
      result.worm.runbook_object,
      result.worm.checkpoint_object,
      result.export.dir,
    ];
    named.push(result.packet.markdown, result.packet.html, result.packet.signature);
    if (result.packet.pdf !== null) named.push(result.packet.pdf);
    for (const p of named) {
      expect(inside(dir, p), p).toBe(true);
      expect(existsSync(p), p).toBe(true);
      expect(second.stdout).toContain(p);
    }
  });

  it("refuses a non-empty directory it did not make, and leaves it untouched", async () => {
    const foreign = join(box, "foreign");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "keep.txt"), "not the demo's\n");
    const run = await demo(["--dir", foreign], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/not made by the demo/);
    expect(files(foreign)).toEqual(["keep.txt"]);
  }, 60_000);
});
