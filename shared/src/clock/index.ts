/**
 * Injected time. Retries, cooldowns, circuit breakers, certificate expiry and
 * SLA clocks take a `Clock`, so tests drive fake time instead of sleeping.
 */

/** The two things code needs from time. */
export interface Clock {
  /** Current wall-clock time. */
  now(): Date;
  /** Resolves after `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
}

/** Real time. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/**
 * Manually advanced time for tests. `sleep` resolves only when `advance`
 * moves the clock past its deadline, in deadline order.
 */
export class FakeClock implements Clock {
  #now: number;
  #sleepers: { until: number; resolve: () => void }[] = [];

  constructor(start: Date | string | number = "2026-01-01T00:00:00.000Z") {
    this.#now = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#sleepers.push({ until: this.#now + Math.max(0, ms), resolve });
      this.#sleepers.sort((a, b) => a.until - b.until);
    });
  }

  /** Number of pending sleeps, so a test can wait until code under test is parked. */
  get pendingSleeps(): number {
    return this.#sleepers.length;
  }

  /** Moves time forward, waking every sleeper whose deadline passes, one microtask turn apart. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#sleepers[0];
      if (next === undefined || next.until > target) break;
      this.#sleepers.shift();
      this.#now = Math.max(this.#now, next.until);
      next.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.#now = target;
  }
}
