/**
 * The manifest of an exported evidence set: the one file that describes the
 * directory, written by `exportEvidence` and read by the auditor's offline
 * verifier. It is a claim by whoever produced the export, not a trust root:
 * the verifier re-derives every hash from the files and proves completeness
 * against the control plane's signed daily checkpoints, so a manifest edited
 * to hide a bundle is caught.
 *
 * Directory layout (all paths relative to the directory):
 *   manifest.json
 *   bundles/<agent_id>/<seq>.json   canonical body exactly as stored
 *   checkpoints/<YYYY-MM-DD>.json   signed daily checkpoint, canonical
 */
import { AgentId, BundleId, ClinicId, Sha256, Timestamp } from "@msp/shared";
import { z } from "zod";

/** The format tag; a new layout gets a new tag rather than a silent change. */
export const EXPORT_FORMAT = "msp-evidence-export/1";

/** A UTC calendar day, `YYYY-MM-DD`. */
export const ExportDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a YYYY-MM-DD day");

const Base64Key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, "must be a base64 ed25519 public key");
const KeyId = z.string().regex(/^[0-9a-f]{32}$/, "must be a 32-hex key id");

/** Where an object sits in WORM storage, when the control plane knows. */
export const WormLocation = z.strictObject({
  key: z.string().min(1).max(512),
  /** Null while the object still waits in the upload queue. */
  version_id: z.string().min(1).max(1024).nullable(),
});
export type WormLocation = z.infer<typeof WormLocation>;

/** One exported bundle. */
export const ManifestBundle = z.strictObject({
  agent_id: AgentId,
  seq: z.number().int().min(1),
  bundle_id: BundleId,
  sha256: Sha256,
  created_at: Timestamp,
  /** The UTC day whose checkpoint covers the bundle (the day the control plane filed it). */
  received_day: ExportDay,
  file: z.string().regex(/^bundles\/[A-Za-z0-9._-]+\/\d+\.json$/),
  worm: WormLocation.nullable(),
});
export type ManifestBundle = z.infer<typeof ManifestBundle>;

/** One exported daily checkpoint; `file` is null when its body could not be obtained. */
export const ManifestCheckpoint = z.strictObject({
  day: ExportDay,
  file: z
    .string()
    .regex(/^checkpoints\/\d{4}-\d{2}-\d{2}\.json$/)
    .nullable(),
  sha256: Sha256.nullable(),
  worm: WormLocation,
});
export type ManifestCheckpoint = z.infer<typeof ManifestCheckpoint>;

/** The manifest file. */
export const EvidenceManifest = z.strictObject({
  format: z.literal(EXPORT_FORMAT),
  client_id: ClinicId,
  /** Inclusive range of receipt days (the checkpoint days) the export covers. */
  range: z.strictObject({ from: ExportDay, to: ExportDay }),
  exported_at: Timestamp,
  control_plane: z.strictObject({ public_key: Base64Key, key_id: KeyId }),
  agents: z.array(z.strictObject({ agent_id: AgentId, evidence_public_key: Base64Key, key_id: KeyId })),
  bundles: z.array(ManifestBundle),
  checkpoints: z.array(ManifestCheckpoint),
});
export type EvidenceManifest = z.infer<typeof EvidenceManifest>;

/** Relative path of a bundle file. */
export function bundleFile(agentId: string, seq: number): string {
  return `bundles/${agentId}/${seq}.json`;
}

/** Relative path of a checkpoint file. */
export function checkpointFile(day: string): string {
  return `checkpoints/${day}.json`;
}
