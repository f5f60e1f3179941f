/**
 * Reconnect delays: exponential backoff with full jitter (a uniform delay
 * between 0 and the capped exponential). Full jitter spreads the reconnects of
 * many agents after a control-plane restart instead of having them arrive in
 * synchronized waves.
 */
import { MspError } from "@msp/shared";

/** The delay range: the first retry waits up to `initialMs`, later ones double up to `maxMs`. */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Throws `config_invalid` for a policy that would spin (zero delay) or never grow. */
export function checkBackoffPolicy(policy: BackoffPolicy): void {
  const { initialMs, maxMs } = policy;
  if (!Number.isFinite(initialMs) || initialMs <= 0 || !Number.isFinite(maxMs) || maxMs < initialMs) {
    throw new MspError(
      "config_invalid",
      `backoff needs 0 < initialMs <= maxMs, got initialMs=${initialMs} maxMs=${maxMs}`,
    );
  }
}

/**
 * The delay before retry number `attempt` (0-based): `random() * min(maxMs,
 * initialMs * 2^attempt)`, rounded down to whole milliseconds.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  // Past 2^40 the cap always wins; clamping the exponent keeps the arithmetic finite.
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 40));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
}

/** Counts consecutive failures; `reset()` after a connection that got as far as `welcome`. */
export class Backoff {
  readonly #policy: BackoffPolicy;
  readonly #random: () => number;
  #attempt = 0;

  constructor(policy: BackoffPolicy, random: () => number) {
    checkBackoffPolicy(policy);
    this.#policy = policy;
    this.#random = random;
  }

  /** The delay before the next reconnect; each call counts one more failure. */
  next(): number {
    const delay = backoffDelay(this.#attempt, this.#policy, this.#random);
    this.#attempt++;
    return delay;
  }

  /** Consecutive failures since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
