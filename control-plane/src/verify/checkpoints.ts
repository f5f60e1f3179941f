/**
 * Checks the signed daily checkpoints of an export and reconciles each with
 * the exported bundles of its day: the count, the RFC 6962 root recomputed in
 * the checkpoint's leaf order (agent_id, seq), and the per-agent seq ranges.
 * A day that does not reconcile names the bundles it is missing, which is how
 * a withheld bundle at the end of a chain (invisible as a chain gap) is found.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  checkpointRoot,
  checkpointSigningBytes,
  DailyCheckpoint,
  decodePublicKey,
  keyIdOf,
} from "@msp/shared";
import { naclVerify } from "@msp/shared/nacl";
import type { EvidenceManifest, ManifestBundle, ManifestCheckpoint } from "../export/manifest.js";
import { type Check, type CheckpointReport, fail, pass, skip, type WithheldBundle } from "./report.js";

/** A checkpoint after its own checks, with what per-bundle inclusion needs. */
export interface DayVerdict {
  report: CheckpointReport;
  checkpoint: DailyCheckpoint | null;
  /** True when the signature verifies and the day's exported leaves give the signed root and count. */
  reconciled: boolean;
  /** agent_id -> [first_seq, last_seq] as the checkpoint signed them. */
  ranges: Map<string, [number, number]>;
}

/** Leaf order of `msp-daily-checkpoint/1`: agent_id, then seq (byte order, as SQLite sorts). */
export function leafOrder(a: ManifestBundle, b: ManifestBundle): number {
  if (a.agent_id !== b.agent_id) return a.agent_id < b.agent_id ? -1 : 1;
  return a.seq - b.seq;
}

/** Verifies one exported checkpoint against the control-plane key and the day's exported bundles. */
export async function verifyDay(
  dir: string,
  entry: ManifestCheckpoint,
  manifest: EvidenceManifest,
  controlPlaneKey: string,
  withheld: WithheldBundle[],
): Promise<DayVerdict> {
  const report: CheckpointReport = {
    day: entry.day,
    file: entry.file,
    ok: false,
    checks: {
      signature: skip("not checked"),
      reconcile: skip("not checked"),
      worm: skip("no object store given"),
    },
  };
  const ranges = new Map<string, [number, number]>();
  const done = (checkpoint: DailyCheckpoint | null, reconciled: boolean): DayVerdict => {
    report.ok = report.checks.signature.status === "pass" && report.checks.reconcile.status === "pass";
    return { report, checkpoint, reconciled, ranges };
  };
  if (entry.file === null) {
    report.checks.signature = fail("the checkpoint body is not in the export");
    return done(null, false);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, entry.file));
  } catch {
    report.checks.signature = fail(`file ${entry.file} is missing`);
    return done(null, false);
  }
  const signature = checkSignature(bytes, entry, manifest, controlPlaneKey);
  report.checks.signature = signature.check;
  const cp = signature.checkpoint;
  if (cp === null || signature.check.status !== "pass") return done(cp, false);
  for (const a of cp.agents) ranges.set(a.agent_id, [a.first_seq, a.last_seq]);

  const day = manifest.bundles.filter((b) => b.received_day === entry.day).sort(leafOrder);
  const root = checkpointRoot(day.map((b) => b.sha256));
  if (day.length === cp.bundle_count && root === cp.root) {
    report.checks.reconcile = pass(
      `${cp.bundle_count} bundles reproduce the signed root ${cp.root.slice(0, 16)}…`,
    );
    return done(cp, true);
  }
  const missing = missingFromDay(cp, day, manifest);
  for (const m of missing) withheld.push({ ...m, day: entry.day, found_by: "checkpoint" });
  const extra = day.filter((b) => {
    const r = ranges.get(b.agent_id);
    return r === undefined || b.seq < r[0] || b.seq > r[1];
  });
  const parts = [
    `checkpoint signs ${cp.bundle_count} bundles, the export holds ${day.length} for this day`,
    root === cp.root ? null : "the recomputed root differs from the signed root",
    missing.length > 0 ? `missing ${missing.map((m) => `${m.agent_id}#${m.seq}`).join(", ")}` : null,
    extra.length > 0 ? `not covered: ${extra.map((b) => `${b.agent_id}#${b.seq}`).join(", ")}` : null,
  ];
  report.checks.reconcile = fail(parts.filter((p) => p !== null).join("; "));
  return done(cp, false);
}

function checkSignature(
  bytes: Buffer,
  entry: ManifestCheckpoint,
  manifest: EvidenceManifest,
  controlPlaneKey: string,
): { check: Check; checkpoint: DailyCheckpoint | null } {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    return { check: fail("the file is not valid JSON"), checkpoint: null };
  }
  const parsed = DailyCheckpoint.safeParse(value);
  if (!parsed.success) return { check: fail("the file is not an msp-daily-checkpoint/1"), checkpoint: null };
  const cp = parsed.data;
  if (cp.client_id !== manifest.client_id || cp.day !== entry.day) {
    return { check: fail(`it is the checkpoint of ${cp.client_id} ${cp.day}`), checkpoint: cp };
  }
  const publicKey = decodePublicKey(controlPlaneKey);
  if (cp.signature.key_id !== keyIdOf(publicKey)) {
    return {
      check: fail(`signed by key ${cp.signature.key_id}, not the control-plane key ${keyIdOf(publicKey)}`),
      checkpoint: cp,
    };
  }
  const sig = Buffer.from(cp.signature.value, "base64");
  if (!naclVerify(publicKey, checkpointSigningBytes(cp), sig)) {
    return { check: fail("the signature does not verify"), checkpoint: cp };
  }
  return { check: pass(`signed by ${cp.signature.key_id}`), checkpoint: cp };
}

/**
 * Seqs the checkpoint's per-agent ranges cover that are in no exported day.
 * When an agent's range is dense (count = last - first + 1) every seq of it
 * belonged to this day; otherwise some may have been filed on another day, so
 * only seqs absent from the whole export are named.
 */
function missingFromDay(
  cp: DailyCheckpoint,
  day: readonly ManifestBundle[],
  manifest: EvidenceManifest,
): { agent_id: string; seq: number }[] {
  const out: { agent_id: string; seq: number }[] = [];
  for (const a of cp.agents) {
    const here = new Set(day.filter((b) => b.agent_id === a.agent_id).map((b) => b.seq));
    const anywhere = new Set(manifest.bundles.filter((b) => b.agent_id === a.agent_id).map((b) => b.seq));
    const dense = a.count === a.last_seq - a.first_seq + 1;
    for (let seq = a.first_seq; seq <= a.last_seq; seq++) {
      if (dense ? !here.has(seq) : !anywhere.has(seq)) out.push({ agent_id: a.agent_id, seq });
    }
  }
  return out;
}
