/**
 * The agent's contract for producing evidence. Drift checks and the runbook
 * executor build a `BundleDraft` (what happened); an `EvidenceSink` (the
 * outbox) seals it into the agent's chain: it assigns seq, prev_hash,
 * bundle_id and created_at, signs it, and stores it durably before returning.
 * Only then is the evidence considered produced.
 */
import type { EvidenceBundle, UnsignedBundle } from "@msp/shared";

/** The part of a bundle its producer decides; the sink fills in identity, order and signature. */
export type BundleDraft = Pick<
  UnsignedBundle,
  "kind" | "incident" | "runbook" | "actions_taken" | "drift" | "hipaa_controls" | "execution" | "outputs"
>;

/** Where produced evidence goes. Owned by the producers; implemented by the outbox. */
export interface EvidenceSink {
  /** Seals, signs and durably stores a draft; resolves with the signed bundle once it is fsync'd. */
  append(draft: BundleDraft): Promise<EvidenceBundle>;
}
