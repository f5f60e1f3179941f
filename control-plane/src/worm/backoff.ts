/**
 * Retry timing for the upload queue. Kept apart from the uploader so the
 * policy can be read and tested on its own.
 */
import { MspError } from "@msp/shared";

/** The retry delay range: attempt n waits between half and all of min(maxMs, initialMs * 2^n). */
export interface UploadBackoff {
  initialMs: number;
  maxMs: number;
}

/** Throws `config_invalid` for a policy that would spin (zero delay) or never grow. */
export function checkBackoff(b: UploadBackoff): void {
  if (
    !Number.isFinite(b.initialMs) ||
    b.initialMs <= 0 ||
    !Number.isFinite(b.maxMs) ||
    b.maxMs < b.initialMs
  ) {
    throw new MspError(
      "config_invalid",
      `upload backoff needs 0 < initialMs <= maxMs, got ${b.initialMs} and ${b.maxMs}`,
    );
  }
}

/**
 * The delay before retry `attempt` (0-based): between half and all of the
 * capped exponential ("equal jitter"). Never zero, so an outage cannot turn
 * the loop into a spin; jittered, so many control planes do not retry in step.
 */
export function retryDelay(attempt: number, b: UploadBackoff, random: () => number): number {
  // Past 2^40 the cap always wins; clamping the exponent keeps the arithmetic finite.
  const ceiling = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 40));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(1, Math.floor(ceiling / 2 + (r * ceiling) / 2));
}
