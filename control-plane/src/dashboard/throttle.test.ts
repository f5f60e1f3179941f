import { FakeClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { createAuthThrottle, DEFAULT_THROTTLE_LIMITS, type ThrottleLimits } from "./throttle.js";

const limits = (over: Partial<ThrottleLimits> = {}): ThrottleLimits => ({
  windowSeconds: 600,
  perAddress: 3,
  global: 100,
  maxAddresses: 100,
  ...over,
});

const failTimes = (t: ReturnType<typeof createAuthThrottle>, address: string, n: number) => {
  for (let i = 0; i < n; i++) t.fail(address);
};

describe("failed sign-in throttle", () => {
  it("refuses an address after its limit for the rest of its window, then lets it try again", async () => {
    const clock = new FakeClock("2026-11-21T10:00:00Z");
    const t = createAuthThrottle({ clock, limits: limits() });
    failTimes(t, "10.0.0.1", 2);
    expect(t.retryAfter("10.0.0.1")).toBe(0);
    await clock.advance(60_000);
    t.fail("10.0.0.1");
    // The window opened at the first failure, so 540 s of it are left.
    expect(t.retryAfter("10.0.0.1")).toBe(540);
    await clock.advance(539_500);
    expect(t.retryAfter("10.0.0.1")).toBe(1);
    await clock.advance(500);
    expect(t.retryAfter("10.0.0.1")).toBe(0);
    // A new window starts from zero.
    failTimes(t, "10.0.0.1", 2);
    expect(t.retryAfter("10.0.0.1")).toBe(0);
  });

  it("keeps addresses apart; nothing resets a count", () => {
    const clock = new FakeClock("2026-11-21T10:00:00Z");
    const t = createAuthThrottle({ clock, limits: limits() });
    failTimes(t, "10.0.0.1", 3);
    failTimes(t, "10.0.0.2", 2);
    expect(t.retryAfter("10.0.0.1")).toBe(600);
    expect(t.retryAfter("10.0.0.2")).toBe(0);
    expect(t.retryAfter("10.0.0.3")).toBe(0);
    t.fail("10.0.0.2");
    expect(t.retryAfter("10.0.0.2")).toBe(600);
  });

  it("refuses every address once the global limit is reached", async () => {
    const clock = new FakeClock("2026-11-21T10:00:00Z");
    const t = createAuthThrottle({ clock, limits: limits({ global: 5 }) });
    for (let i = 0; i < 5; i++) t.fail(`10.0.1.${i}`);
    expect(t.retryAfter("10.0.9.9")).toBe(600);
    await clock.advance(600_000);
    expect(t.retryAfter("10.0.9.9")).toBe(0);
  });

  it("remembers at most maxAddresses, evicting the address whose window opened first", () => {
    const clock = new FakeClock("2026-11-21T10:00:00Z");
    const t = createAuthThrottle({ clock, limits: limits({ maxAddresses: 2 }) });
    failTimes(t, "a", 3);
    failTimes(t, "b", 3);
    expect(t.retryAfter("a")).toBe(600);
    // More failures from "a" do not make it younger: "c" evicts "a", not "b".
    t.fail("a");
    failTimes(t, "c", 3);
    expect(t.retryAfter("a")).toBe(0);
    expect(t.retryAfter("b")).toBe(600);
    expect(t.retryAfter("c")).toBe(600);
  });

  it("rejects limits that cannot work", () => {
    const clock = new FakeClock();
    expect(() =>
      createAuthThrottle({ clock, limits: { ...DEFAULT_THROTTLE_LIMITS, perAddress: 0 } }),
    ).toThrow(/perAddress must be a positive integer/);
    expect(() =>
      createAuthThrottle({ clock, limits: { ...DEFAULT_THROTTLE_LIMITS, windowSeconds: 0.5 } }),
    ).toThrow(/windowSeconds/);
  });
});
