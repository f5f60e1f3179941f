/**
 * The WORM part of the auditor's check: with read access to the bucket, each
 * bundle's and checkpoint's object version must exist, hold the exported
 * bytes, and be locked in COMPLIANCE mode at least until the required date
 * (bundle: created_at + retention years; checkpoint: end of its day + the
 * same, as the uploader sets them). Storage errors become failed checks
 * naming the object, never an exception, so one unreachable object does not
 * hide the rest of the report.
 */

import type { EvidenceBundle } from "@msp/shared";
import { sha256Hex } from "@msp/shared";
import type { ManifestBundle, ManifestCheckpoint } from "../export/manifest.js";
import type { ObjectStore } from "../worm/index.js";
import { addYears, nextDay } from "../worm/keys.js";
import { type BundleReport, type Check, type CheckpointReport, fail, pass } from "./report.js";

type ReadStore = Pick<ObjectStore, "get" | "head" | "retention">;

/** How many objects are read at once; S3 round trips dominate, so a few in flight help without flooding. */
const PARALLEL_READS = 8;

/** Fills the `worm` check of every bundle and checkpoint report. */
export async function checkWorm(
  store: ReadStore,
  bundles: readonly { entry: ManifestBundle; report: BundleReport; bundle: EvidenceBundle | null }[],
  checkpoints: readonly { entry: ManifestCheckpoint; report: CheckpointReport }[],
  years: number,
): Promise<void> {
  const jobs: (() => Promise<void>)[] = [];
  for (const b of bundles) {
    jobs.push(async () => {
      const worm = b.entry.worm;
      if (worm === null) {
        b.report.checks.worm = fail("the bundle has no WORM object (not archived)");
        return;
      }
      const required = addYears(new Date(b.entry.created_at), years);
      b.report.checks.worm = await checkObject(store, worm.key, worm.version_id, b.entry.sha256, required);
    });
  }
  for (const c of checkpoints) {
    jobs.push(async () => {
      if (c.entry.sha256 === null) {
        c.report.checks.worm = fail("no checkpoint body to compare with WORM");
        return;
      }
      const required = addYears(new Date(`${nextDay(c.entry.day)}T00:00:00.000Z`), years);
      const { key, version_id } = c.entry.worm;
      c.report.checks.worm = await checkObject(store, key, version_id, c.entry.sha256, required);
    });
  }
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await (jobs[next++] as () => Promise<void>)();
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, jobs.length) }, worker));
}

async function checkObject(
  store: ReadStore,
  key: string,
  versionId: string | null,
  sha256: string,
  required: Date,
): Promise<Check> {
  try {
    let version = versionId;
    if (version === null) {
      const head = await store.head(key);
      if (head === null) return fail(`no object at ${key}`);
      version = head.versionId;
    }
    const retention = await store.retention(key, version);
    if (retention === null) return fail(`${key} version ${version} does not exist or is not locked`);
    if (retention.mode !== "COMPLIANCE")
      return fail(`${key} is locked in ${retention.mode} mode, not COMPLIANCE`);
    if (retention.retainUntil.getTime() < required.getTime()) {
      return fail(
        `${key} is retained until ${retention.retainUntil.toISOString()}, before the required ${required.toISOString()}`,
      );
    }
    const body = await store.get(key, version);
    if (body === null) return fail(`${key} version ${version} cannot be read`);
    if (sha256Hex(body) !== sha256) return fail(`${key} version ${version} holds different bytes`);
    return pass(
      `${key} version ${version}: COMPLIANCE until ${retention.retainUntil.toISOString()}${versionId === null ? " (version not recorded; newest checked)" : ""}`,
    );
  } catch (e) {
    return fail(`${key}: ${(e as Error).message}`);
  }
}
