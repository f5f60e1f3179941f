import { describe, expect, it } from "vitest";
import {
  addYears,
  bundleObjectKey,
  checkpointObjectKey,
  checkRetentionYears,
  nextDay,
  utcDay,
} from "./keys.js";
import { checkObjectKey } from "./store.js";

describe("WORM keys and retention", () => {
  it("derives keys from clinic, agent, day and zero-padded seq, and they pass the key check", () => {
    const key = bundleObjectKey({
      client_id: "clinic-a",
      agent_id: "srv-1",
      seq: 42,
      bundle_id: "EB-20261121-0042",
      day: "2026-11-21",
    });
    expect(key).toBe("evidence/clinic-a/srv-1/2026-11-21/000000000042_EB-20261121-0042.json");
    expect(() => checkObjectKey(key)).not.toThrow();
    expect(checkpointObjectKey("clinic-a", "2026-11-21")).toBe("checkpoints/clinic-a/2026-11-21.json");
  });

  it("adds calendar years in UTC; Feb 29 rolls forward, never back", () => {
    expect(addYears(new Date("2026-11-21T10:00:00.000Z"), 6).toISOString()).toBe("2032-11-21T10:00:00.000Z");
    expect(addYears(new Date("2028-02-29T12:00:00.000Z"), 1).toISOString()).toBe("2029-03-01T12:00:00.000Z");
  });

  it("steps days across month and year ends in UTC", () => {
    expect(nextDay("2026-12-31")).toBe("2027-01-01");
    expect(nextDay("2028-02-28")).toBe("2028-02-29");
    expect(utcDay(new Date("2026-03-10T23:59:59.999Z"))).toBe("2026-03-10");
  });

  it("accepts 1 to 100 whole years of retention and nothing else", () => {
    for (const ok of [1, 6, 100]) expect(() => checkRetentionYears(ok)).not.toThrow();
    for (const bad of [0, -6, 6.5, 101, Number.NaN]) {
      expect(() => checkRetentionYears(bad)).toThrow(expect.objectContaining({ code: "config_invalid" }));
    }
  });
});
