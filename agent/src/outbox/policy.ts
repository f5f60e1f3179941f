/**
 * What the outbox does when it is full.
 *
 * The bound (`maxBytes`) counts the canonical JSON bytes of stored bundles,
 * not the SQLite file size (pages, WAL and indexes add overhead on top).
 * When an append would take the stored bytes past the bound:
 *
 * - `drift_check` bundles are refused with `MspError("unavailable")`,
 *   retryable: they are low priority and the next check cycle produces a
 *   fresh one, so losing one while offline costs a sample, not a record.
 * - Runbook evidence (`runbook_execution`, `restore_test`, `runbook_refusal`,
 *   `runbook_interrupted`) is never refused for size. It records something
 *   that was done (or refused) to a clinic's systems and cannot be produced
 *   again, so it is stored past the bound and the alert says by how much.
 * - `local_alert` bundles may use a small reserved headroom above the bound
 *   ({@link ALERT_HEADROOM_BYTES}) and are refused beyond it.
 *
 * The first refusal or over-bound store starts a "full episode": the local
 * alert callback fires on every refusal, and the outbox itself appends one
 * `local_alert` bundle per episode if it fits in the headroom, so the control
 * plane learns (once it reconnects) that drift samples were dropped. The
 * episode ends when acks bring the stored bytes under {@link LOW_WATER_RATIO}
 * of the bound; the gap keeps a flapping outbox from emitting an alert per ack.
 */
import type { BundleKind } from "@msp/shared";
import type { BundleDraft } from "../evidence/index.js";

/** Bytes above `maxBytes` reserved for the outbox's own local_alert bundles (one is ~1 KB). */
export const ALERT_HEADROOM_BYTES = 16 * 1024;

/** A full episode ends once stored bytes drop below this fraction of `maxBytes`. */
export const LOW_WATER_RATIO = 0.9;

/** Outcome of asking whether a bundle of a given kind and size may be stored. */
export type Admission = "store" | "store_over_limit" | "refuse";

/**
 * Decides whether a bundle may be stored. Pure, so the policy is tested on
 * its own and read in one place.
 */
export function admit(
  kind: BundleKind,
  storedBytes: number,
  bundleBytes: number,
  maxBytes: number,
): Admission {
  const after = storedBytes + bundleBytes;
  if (after <= maxBytes) return "store";
  switch (kind) {
    case "drift_check":
      return "refuse";
    case "runbook_execution":
    case "restore_test":
    case "runbook_refusal":
    case "runbook_interrupted":
      return "store_over_limit";
    case "local_alert":
      return after <= maxBytes + ALERT_HEADROOM_BYTES ? "store_over_limit" : "refuse";
    default: {
      const unknownKind: never = kind;
      throw new Error(`unhandled bundle kind ${String(unknownKind)}`);
    }
  }
}

/** True once an episode's stored bytes are low enough for the next refusal to count as a new episode. */
export function belowLowWater(storedBytes: number, maxBytes: number): boolean {
  return storedBytes < maxBytes * LOW_WATER_RATIO;
}

/**
 * A local alert: something an operator on the box (or the agent's log) must
 * see now, without waiting for the control plane.
 */
export type OutboxAlert =
  | {
      kind: "outbox_full";
      message: string;
      refused_kind: BundleKind;
      stored_bytes: number;
      max_bytes: number;
      /** Seq of the local_alert bundle emitted for this episode, when one was emitted by this append. */
      alert_bundle_seq: number | null;
    }
  | {
      kind: "outbox_over_limit";
      message: string;
      seq: number;
      bundle_kind: BundleKind;
      stored_bytes: number;
      max_bytes: number;
    }
  | { kind: "outbox_recovered"; message: string; stored_bytes: number; max_bytes: number }
  | { kind: "ack_refused"; message: string; refusal: string };

/** The draft of the outbox's own once-per-episode local_alert bundle. */
export function fullAlertDraft(
  refusedKind: BundleKind,
  storedBytes: number,
  maxBytes: number,
  since: string,
): BundleDraft {
  return {
    kind: "local_alert",
    incident: null,
    runbook: null,
    actions_taken: [],
    drift: null,
    hipaa_controls: ["164.312(b)"],
    execution: null,
    outputs: {
      alert: "outbox_full",
      reason: `the outbox reached its bound of ${maxBytes} bytes; new ${refusedKind} bundles are refused until acks free space (runbook evidence is still kept)`,
      refused_kind: refusedKind,
      stored_bytes: String(storedBytes),
      max_bytes: String(maxBytes),
      full_since: since,
    },
  };
}
