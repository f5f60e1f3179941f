/**
 * Exports one clinic's evidence for a range of days into a self-describing
 * directory an auditor can verify offline with `msp-verify` (issue 7): the
 * canonical bundle bodies exactly as stored, the signed daily checkpoints of
 * those days, and a manifest naming the keys, bundles and WORM locations.
 *
 * The range is over receipt days (the days whose signed checkpoints cover the
 * bundles), not over `created_at`, because only then can every exported day be
 * proven complete. Nothing here signs anything: the export adds no trust, it
 * only gathers what the control plane and the agents already signed.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ClinicId, decodePublicKey, keyIdOf, MspError, parseWith, sha256Hex } from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";
import type { ObjectStore } from "../worm/index.js";
import {
  bundleFile,
  checkpointFile,
  type EvidenceManifest,
  EXPORT_FORMAT,
  ExportDay,
  type ManifestBundle,
  type ManifestCheckpoint,
} from "./manifest.js";

export {
  bundleFile,
  checkpointFile,
  EvidenceManifest,
  EXPORT_FORMAT,
  ExportDay,
  ManifestBundle,
  ManifestCheckpoint,
  WormLocation,
} from "./manifest.js";

/** Options of {@link exportEvidence}. */
export interface ExportOptions {
  db: Db;
  clinicId: string;
  /** First receipt day, `YYYY-MM-DD` (inclusive). */
  from: string;
  /** Last receipt day, `YYYY-MM-DD` (inclusive). */
  to: string;
  /** A directory that does not exist yet or is empty; evidence of two exports never mixes. */
  outDir: string;
  /** The control plane's base64 ed25519 public key, recorded so the auditor can compare it with the pinned one. */
  controlPlanePublicKey: string;
  /**
   * Where uploaded checkpoints are read from: the upload queue drops an
   * object's body once WORM holds it. Without a store such checkpoints are
   * listed with `file: null` and the verifier reports them unavailable.
   */
  objectStore?: Pick<ObjectStore, "get">;
  /** For the export time in the manifest. */
  now?: () => Date;
}

/** What an export wrote. */
export interface ExportResult {
  dir: string;
  manifest: EvidenceManifest;
}

const Range = z
  .strictObject({ clinicId: ClinicId, from: ExportDay, to: ExportDay })
  .refine((r) => r.from <= r.to, "from must not be after to");

interface BundleJoin {
  agent_id: string;
  seq: number;
  bundle_id: string;
  sha256: string;
  created_at: string;
  body: string;
  received_day: string;
  object_key: string | null;
  version_id: string | null;
}

interface CheckpointJoin {
  day: string;
  object_key: string;
  version_id: string | null;
  body: Buffer | null;
}

/**
 * Writes the export. Throws `invalid_input` for a bad clinic id, range or key,
 * or an output directory that is not empty; `integrity_mismatch` when a stored
 * body no longer hashes to its recorded sha256 (the export refuses to pass on
 * evidence it already knows is damaged).
 */
export async function exportEvidence(options: ExportOptions): Promise<ExportResult> {
  const range = parseWith(
    Range,
    { clinicId: options.clinicId, from: options.from, to: options.to },
    "export range",
  );
  const cpKey = decodePublicKey(options.controlPlanePublicKey);
  await prepareOutDir(options.outDir);
  const { db } = options;

  // Bundles not yet in the WORM queue are filed by the day the evidence store received them.
  const bundles = db
    .prepare<[string, string, string], BundleJoin>(
      `SELECT e.agent_id, e.seq, e.bundle_id, e.sha256, e.created_at, e.body,
              coalesce(w.received_day, substr(e.received_at, 1, 10)) AS received_day,
              o.object_key, o.version_id
       FROM evidence_bundles e
       LEFT JOIN worm_bundles w ON w.client_id = e.client_id AND w.agent_id = e.agent_id AND w.seq = e.seq
       LEFT JOIN worm_objects o ON o.id = w.object_id
       WHERE e.client_id = ? AND coalesce(w.received_day, substr(e.received_at, 1, 10)) BETWEEN ? AND ?
       ORDER BY e.agent_id, e.seq`,
    )
    .all(range.clinicId, range.from, range.to);

  const manifestBundles: ManifestBundle[] = [];
  for (const b of bundles) {
    const body = Buffer.from(b.body, "utf8");
    if (sha256Hex(body) !== b.sha256) {
      throw new MspError(
        "integrity_mismatch",
        `stored bundle ${b.agent_id}#${b.seq} (${b.bundle_id}) no longer hashes to its sha256`,
        { details: { agent_id: b.agent_id, seq: b.seq } },
      );
    }
    const file = bundleFile(b.agent_id, b.seq);
    await mkdir(join(options.outDir, "bundles", b.agent_id), { recursive: true });
    await writeFile(join(options.outDir, file), body, { flag: "wx" });
    manifestBundles.push({
      agent_id: b.agent_id,
      seq: b.seq,
      bundle_id: b.bundle_id,
      sha256: b.sha256,
      created_at: b.created_at,
      received_day: b.received_day,
      file,
      worm: b.object_key === null ? null : { key: b.object_key, version_id: b.version_id },
    });
  }

  const checkpoints = await exportCheckpoints(db, range.clinicId, range.from, range.to, options);

  const agents = db
    .prepare<[string], { agent_id: string; evidence_public_key: string }>(
      "SELECT agent_id, evidence_public_key FROM agents WHERE client_id = ? ORDER BY agent_id",
    )
    .all(range.clinicId)
    .map((a) => ({
      agent_id: a.agent_id,
      evidence_public_key: a.evidence_public_key,
      key_id: keyIdOf(decodePublicKey(a.evidence_public_key)),
    }));

  const manifest: EvidenceManifest = {
    format: EXPORT_FORMAT,
    client_id: range.clinicId,
    range: { from: range.from, to: range.to },
    exported_at: (options.now ?? (() => new Date()))().toISOString(),
    control_plane: { public_key: options.controlPlanePublicKey, key_id: keyIdOf(cpKey) },
    agents,
    bundles: manifestBundles,
    checkpoints,
  };
  await writeFile(join(options.outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`, {
    flag: "wx",
  });
  return { dir: options.outDir, manifest };
}

async function exportCheckpoints(
  db: Db,
  clinicId: string,
  from: string,
  to: string,
  options: ExportOptions,
): Promise<ManifestCheckpoint[]> {
  const rows = db
    .prepare<[string, string, string], CheckpointJoin>(
      `SELECT c.day, o.object_key, o.version_id, o.body
       FROM worm_checkpoints c JOIN worm_objects o ON o.id = c.object_id
       WHERE c.client_id = ? AND c.day BETWEEN ? AND ? ORDER BY c.day`,
    )
    .all(clinicId, from, to);
  await mkdir(join(options.outDir, "checkpoints"), { recursive: true });
  const out: ManifestCheckpoint[] = [];
  for (const row of rows) {
    let body = row.body;
    if (body === null && options.objectStore !== undefined && row.version_id !== null) {
      body = await options.objectStore.get(row.object_key, row.version_id);
    }
    const worm = { key: row.object_key, version_id: row.version_id };
    if (body === null) {
      out.push({ day: row.day, file: null, sha256: null, worm });
      continue;
    }
    const file = checkpointFile(row.day);
    await writeFile(join(options.outDir, file), body, { flag: "wx" });
    out.push({ day: row.day, file, sha256: sha256Hex(body), worm });
  }
  return out;
}

async function prepareOutDir(dir: string): Promise<void> {
  if (typeof dir !== "string" || dir.length === 0) {
    throw new MspError("invalid_input", "outDir must be a directory path");
  }
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) {
    throw new MspError("invalid_input", `export directory ${dir} is not empty`);
  }
}
