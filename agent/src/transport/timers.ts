/**
 * Cancellable sleeps on the injected Clock. `Clock.sleep` cannot be cancelled,
 * so a stopped transport would otherwise keep a real timer (and with it the
 * whole process) alive for up to a ping interval or a backoff delay. With the
 * system clock a real, clearable timer is used; with any other clock (a test's
 * FakeClock) the clock's own sleep is raced against the cancellation.
 */
import { type Clock, systemClock } from "@msp/shared";

/** A pending sleep: `done` resolves with true when the time passed, false when cancelled. */
export interface Sleep {
  done: Promise<boolean>;
  cancel(): void;
}

/** Starts a sleep of `ms` on `clock` that `cancel()` ends early. */
export function cancellableSleep(clock: Clock, ms: number): Sleep {
  let settle: (elapsed: boolean) => void = () => {};
  const done = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  if (clock === systemClock) {
    const timer = setTimeout(() => settle(true), Math.max(0, ms));
    return {
      done,
      cancel: () => {
        clearTimeout(timer);
        settle(false);
      },
    };
  }
  void clock.sleep(ms).then(() => settle(true));
  return { done, cancel: () => settle(false) };
}

/** Keeps the sleeps of one owner so they can all be cancelled together (on close or stop). */
export class SleepSet {
  readonly #clock: Clock;
  readonly #live = new Set<Sleep>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Sleeps `ms`; resolves false if {@link cancelAll} ran first. */
  sleep(ms: number): Promise<boolean> {
    const s = cancellableSleep(this.#clock, ms);
    this.#live.add(s);
    return s.done.finally(() => this.#live.delete(s));
  }

  cancelAll(): void {
    for (const s of this.#live) s.cancel();
    this.#live.clear();
  }
}
