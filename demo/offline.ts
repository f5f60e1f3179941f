/**
 * The auditor's half of the demo, run after the control plane has stopped
 * (the local WORM directory has one owner at a time): today's signed daily
 * checkpoint, the compliance packet, the evidence export and the offline
 * verifier on it.
 */
import { join } from "node:path";
import { type Db, migrate, openDatabase } from "../control-plane/dist/db/index.js";
import { ALL_MIGRATIONS } from "../control-plane/dist/server/migrations.js";
import { objectStoreOf } from "../control-plane/dist/server/worm.js";
import { formatReport, type VerifyReport } from "../control-plane/dist/verify/index.js";
import {
  checkpointObjectKey,
  createWormUploader,
  queueCheckpoint,
  utcDay,
  WormQueue,
  type WormUploader,
} from "../control-plane/dist/worm/index.js";
import {
  type ControlPlaneConfig,
  loadSigningKey,
  type SigningKey,
  silentLogger,
  systemClock,
} from "../shared/dist/index.js";
import { runNode, runNodeOk } from "./children.js";
import { DemoError } from "./errors.js";
import { COMMANDS } from "./result.js";
import type { DemoLayout } from "./site.js";
import { CLINIC } from "./site.js";
import type { Steps } from "./steps.js";

/** Today's checkpoint as stored. */
export interface CheckpointOutcome {
  day: string;
  bundle_count: number;
  root: string;
  /** The file of its WORM version. */
  object: string;
  /** The clinic's first receipt day (the export starts there). */
  from: string;
}

/** What the auditor's steps produced. */
export interface AuditOutcome {
  exportDir: string;
  exported: number;
  report: VerifyReport;
}

/** An uploader over the stopped control plane's database and WORM directory, closed after `fn`. */
async function withUploader<T>(
  config: ControlPlaneConfig,
  fn: (u: { db: Db; key: SigningKey; uploader: WormUploader; queue: WormQueue }) => Promise<T>,
): Promise<T> {
  const db = openDatabase(join(config.data_dir, "control-plane.db"));
  try {
    migrate(db, ALL_MIGRATIONS);
    const key = await loadSigningKey(config.signing_key_file);
    const store = await objectStoreOf(config, systemClock, silentLogger);
    const uploader = createWormUploader({
      db,
      store,
      clock: systemClock,
      signingKey: key,
      retentionYears: config.retention_years,
    });
    return await fn({ db, key, uploader, queue: new WormQueue(db) });
  } finally {
    db.close();
  }
}

/** Uploads every queued object; `DemoError` naming each one that failed. */
async function pumpAll(db: Db, uploader: WormUploader): Promise<void> {
  await uploader.pump();
  const counts = uploader.counts();
  if (counts.pending > 0 || counts.failed > 0) {
    const failed = db
      .prepare<[], { object_key: string; last_error: string | null }>(
        "SELECT object_key, last_error FROM worm_objects WHERE state != 'uploaded' ORDER BY id",
      )
      .all()
      .map((r) => `${r.object_key}: ${r.last_error ?? "pending"}`);
    throw new DemoError(`WORM upload incomplete (${JSON.stringify(counts)}):\n${failed.join("\n")}`);
  }
}

/**
 * Uploads whatever is queued (e.g. the files `msp-cp packet` queued) and
 * returns the WORM file of each of `keys`.
 */
export function uploadQueued(
  config: ControlPlaneConfig,
  keys: readonly string[],
): Promise<Map<string, string>> {
  return withUploader(config, async ({ db, uploader }) => {
    await pumpAll(db, uploader);
    const files = new Map<string, string>();
    for (const k of keys) {
      const version = uploader.versionOf(k);
      if (version === null) throw new DemoError(`${k} is not in WORM`);
      files.set(k, wormFile(config, k, version));
    }
    return files;
  });
}

/** The file of an uploaded object's WORM version in the local directory. */
export function wormFile(config: ControlPlaneConfig, key: string, version: string): string {
  return join(config.worm.kind === "local" ? config.worm.dir : "", "objects", key, version);
}

/**
 * Today's checkpoint, built now instead of after midnight UTC: the uploader
 * checkpoints only finished days, and the demo cannot wait for one. Bundles
 * that arrive later today are filed under tomorrow, as for any late bundle,
 * so this checkpoint is never contradicted. Then every queued object is uploaded.
 */
function checkpointToday(config: ControlPlaneConfig, now: Date): Promise<CheckpointOutcome> {
  return withUploader(config, async ({ db, key, uploader, queue }) => {
    // Finished days first (a run that crossed midnight UTC), exactly as the server's loop does.
    uploader.checkpoint();
    const day = utcDay(now);
    const from = queue.firstBundleDay(CLINIC) ?? day;
    if (queue.checkpoint(CLINIC, day) === undefined) {
      db.transaction(() => queueCheckpoint(queue, key, CLINIC, day, now, config.retention_years))();
    }
    await pumpAll(db, uploader);
    const row = queue.checkpoint(CLINIC, day);
    const objectKey = checkpointObjectKey(CLINIC, day);
    const version = uploader.versionOf(objectKey);
    if (row === undefined || version === null) throw new DemoError(`checkpoint of ${day} was not stored`);
    return {
      day,
      bundle_count: row.bundle_count,
      root: row.root,
      object: wormFile(config, objectKey, version),
      from,
    };
  });
}

/** The checkpoint step. */
export function runCheckpoint(steps: Steps, config: ControlPlaneConfig): Promise<CheckpointOutcome> {
  return steps.run("Daily checkpoint: signed Merkle root of today's evidence", async () => {
    const c = await checkpointToday(config, new Date());
    return {
      value: c,
      lines: [
        `day ${c.day}: ${c.bundle_count} bundles, RFC 6962 root ${c.root}`,
        `signed by the control-plane key; object ${c.object}`,
        "(built now rather than after midnight UTC, so the demo need not wait for the day to end)",
      ],
    };
  });
}

/** The auditor's steps: export, then verify offline against the pinned key. */
export async function runAudit(
  l: DemoLayout,
  steps: Steps,
  o: { configFile: string; cpPublicKey: string; from: string; to: string },
): Promise<AuditOutcome> {
  const exportDir = join(l.exports, `${CLINIC}-${o.from}_${o.to}`);
  const exported = await steps.run("msp-cp export: evidence set for the auditor", async () => {
    const out = await runNodeOk({
      script: COMMANDS.cp,
      args: [
        "export",
        "--config",
        o.configFile,
        "--clinic",
        CLINIC,
        "--from",
        o.from,
        "--to",
        o.to,
        "--out",
        exportDir,
      ],
      what: "msp-cp export",
      home: l.home,
    });
    const n = Number(/^(\d+) bundles exported/m.exec(out)?.[1] ?? Number.NaN);
    if (!Number.isInteger(n)) throw new DemoError(`msp-cp export printed: ${out.trim()}`);
    return { value: n, lines: [`${n} bundles, their checkpoints and keys in ${exportDir}`] };
  });

  const report = await steps.run("msp-verify: offline verification with the pinned key", async () => {
    const r = await runNode({
      script: COMMANDS.verify,
      args: [exportDir, "--control-plane-key", o.cpPublicKey, "--json"],
      what: "msp-verify",
      home: l.home,
    });
    if (r.code === 2) throw new DemoError(`msp-verify usage error: ${r.stderr.trim()}`);
    const rep = JSON.parse(r.stdout) as VerifyReport;
    const lines = formatReport(rep).trimEnd().split("\n");
    if (r.code !== 0 || !rep.ok) throw new DemoError(`msp-verify failed:\n${lines.join("\n")}`);
    return { value: rep, lines };
  });

  return { exportDir, exported, report };
}
