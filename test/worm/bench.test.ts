/**
 * Smoke test of the WORM benchmark suite (bench/suites/worm.ts): it runs with
 * --quick budgets against its own radosgw and yields well-formed, positive
 * rows. Speed is never asserted.
 */
import { describe, expect, it } from "vitest";
import { suiteOptions } from "../../bench/lib.js";
import { F, wormSuite } from "../../bench/suites/worm.js";

describe("worm bench suite", () => {
  it("produces one positive figure per row name with --quick budgets", async () => {
    const rows = await wormSuite.run(suiteOptions(true));
    expect(rows.map((r) => r.figure).sort()).toEqual(Object.values(F).sort());
    for (const row of rows) {
      expect(Number.isFinite(row.value)).toBe(true);
      expect(row.value).toBeGreaterThan(0);
      expect(row.unit).not.toBe("");
    }
  }, 240_000);
});
