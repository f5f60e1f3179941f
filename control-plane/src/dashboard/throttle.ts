/**
 * A throttle on failed sign-ins (a wrong, malformed or revoked API key), per
 * remote address and over all addresses. Each address gets a fixed window
 * that opens at its first failure; once it holds `perAddress` failures, every
 * further attempt from that address is refused until the window closes,
 * without the key being checked, so guessing runs at most `perAddress` keys
 * per window. The global window does the same for failures from any address,
 * which bounds guessing spread over many addresses (at the price that, while
 * it is full, every sign-in is refused).
 *
 * Successes reset nothing: a caller holding one valid key must not be able to
 * clear its own count (or anyone's) between guesses. State lives in memory and
 * is lost on restart; the address map is bounded and evicts the address whose
 * window opened first, so a flood of addresses costs a bounded amount of
 * memory (an evicted address starts again from zero; the global window still
 * counts its failures).
 */
import { type Clock, MspError } from "@msp/shared";

/** The throttle's limits. */
export interface ThrottleLimits {
  /** Length of a window in seconds. */
  windowSeconds: number;
  /** Failures one address may make in its window before it is refused. */
  perAddress: number;
  /** Failures all addresses together may make in the global window. */
  global: number;
  /** Addresses remembered at once; the oldest is evicted beyond this. */
  maxAddresses: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = {
  windowSeconds: 600,
  perAddress: 10,
  global: 100,
  maxAddresses: 10_000,
};

/** The throttle as its callers use it (the dashboard's sign-in, the API's key check). */
export interface AuthThrottle {
  /** Seconds until `address` may try a key again, or 0 when it may try now. */
  retryAfter(address: string): number;
  /** Counts a failed attempt from `address`. */
  fail(address: string): void;
}

interface Window {
  start: number;
  count: number;
}

/** Builds an in-memory throttle; fails fast on limits that cannot work. */
export function createAuthThrottle(options: { clock: Clock; limits?: ThrottleLimits }): AuthThrottle {
  const { clock } = options;
  const limits = options.limits ?? DEFAULT_THROTTLE_LIMITS;
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isInteger(value) && value > 0))
      throw new MspError("config_invalid", `throttle ${name} must be a positive integer, got ${value}`);
  }
  const windowMs = limits.windowSeconds * 1000;
  // Map iteration order is insertion order: the first key is the window that opened first.
  const byAddress = new Map<string, Window>();
  let global: Window = { start: 0, count: 0 };

  const open = (w: Window | undefined, now: number): w is Window =>
    w !== undefined && now < w.start + windowMs;
  const wait = (w: Window, now: number) => Math.max(1, Math.ceil((w.start + windowMs - now) / 1000));

  return {
    retryAfter(address) {
      const now = clock.now().getTime();
      const own = byAddress.get(address);
      let seconds = 0;
      if (open(own, now) && own.count >= limits.perAddress) seconds = wait(own, now);
      if (open(global, now) && global.count >= limits.global) seconds = Math.max(seconds, wait(global, now));
      return seconds;
    },
    fail(address) {
      const now = clock.now().getTime();
      if (open(global, now)) global.count += 1;
      else global = { start: now, count: 1 };
      const own = byAddress.get(address);
      if (open(own, now)) {
        own.count += 1;
        return;
      }
      byAddress.delete(address);
      byAddress.set(address, { start: now, count: 1 });
      while (byAddress.size > limits.maxAddresses) {
        const oldest = byAddress.keys().next().value as string;
        byAddress.delete(oldest);
      }
    },
  };
}
