/**
 * Smoke test of the benchmark harness: the suites run and produce well-formed
 * rows, and partial runs keep other sections. Speed is never asserted here;
 * figures only have to be positive, because CI machines vary too much.
 */
import { describe, expect, it } from "vitest";
import {
  measureOps,
  percentile,
  type Row,
  type Suite,
  sampleLatency,
  suiteOptions,
  verdictOf,
} from "../../bench/lib.js";
import {
  assemble,
  extractSections,
  type RunInfo,
  renderFailure,
  renderHeader,
  renderSection,
} from "../../bench/report.js";
import { cryptoSuite } from "../../bench/suites/crypto.js";
import { SUITES } from "../../bench/suites/index.js";

const RUN: RunInfo = {
  date: new Date("2026-11-21T12:00:00Z"),
  command: "pnpm bench",
  machine: { cpu: "Test CPU", cores: 2, memoryGiB: 4, node: "v20.0.0", os: "Linux test" },
  quick: true,
};

describe("bench registry", () => {
  it("has unique slug names that can serve as --only arguments and markers", () => {
    const names = SUITES.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^[a-z0-9-]+$/);
  });
});

describe("crypto suite", () => {
  it("produces well-formed, positive rows with --quick budgets", async () => {
    const rows = await cryptoSuite.run(suiteOptions(true));
    expect(rows.length).toBeGreaterThan(10);
    const figures = rows.map((r) => r.figure);
    expect(new Set(figures).size).toBe(figures.length);
    for (const row of rows) {
      expect(row.figure).not.toBe("");
      expect(row.unit).not.toBe("");
      expect(Number.isFinite(row.value)).toBe(true);
      expect(row.value).toBeGreaterThan(0);
      expect(verdictOf(row)).toMatch(/^(meets|n\/a|misses by [\d.]+%)$/);
    }
    // Every ratio line must name rows the suite produces, or it silently disappears from the report.
    for (const c of cryptoSuite.comparisons ?? []) {
      expect(figures).toContain(c.a);
      expect(figures).toContain(c.b);
    }
    const section = renderSection({ suite: cryptoSuite, rows }, RUN);
    expect(section.startsWith("<!-- suite:crypto -->")).toBe(true);
    expect(section.endsWith("<!-- /suite:crypto -->")).toBe(true);
    expect(section).toContain("node:crypto is ");
  });
});

describe("bench lib", () => {
  it("measures sync and async functions", async () => {
    const opts = { minMs: 5, warmupMs: 1 };
    expect(await measureOps(() => Math.sqrt(2), opts)).toBeGreaterThan(0);
    expect(await measureOps(async () => 1, { ...opts, rounds: 3 })).toBeGreaterThan(0);
    // The thread clock falls back to wall time where schedstat is missing, so this holds everywhere.
    expect(await measureOps(() => Math.sqrt(2), { ...opts, clock: "thread" })).toBeGreaterThan(0);
    const lat = await sampleLatency(() => Math.sqrt(2), { samples: 50, dropPreempted: true });
    expect(lat.p99Us).toBeGreaterThanOrEqual(lat.p50Us);
    expect(lat.samples + lat.preempted).toBeGreaterThanOrEqual(50);
  });

  it("takes nearest-rank percentiles", () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
  });

  it("judges rows against their targets", () => {
    const row = (value: number, target?: Row["target"]): Row => ({
      figure: "f",
      value,
      unit: "ops/s",
      target,
    });
    expect(verdictOf(row(10))).toBe("n/a");
    expect(verdictOf(row(10, { kind: "ref", value: 20 }))).toBe("n/a");
    expect(verdictOf(row(5000, { kind: "atLeast", value: 5000 }))).toBe("meets");
    expect(verdictOf(row(3500, { kind: "atLeast", value: 5000 }))).toBe("misses by 30%");
    expect(verdictOf(row(52, { kind: "atMost", value: 50 }))).toBe("misses by 4.0%");
    expect(verdictOf(row(2000, { kind: "within", min: 1900, max: 2200 }))).toBe("meets");
  });
});

describe("bench report", () => {
  const fake = (name: string): Suite => ({ name, title: name, run: async () => [] });
  const section = (name: string, value: number) =>
    renderSection({ suite: fake(name), rows: [{ figure: "x", value, unit: "ops/s" }] }, RUN);

  it("keeps the sections of suites a partial run skipped, in registry order", () => {
    const old = assemble(
      ["a", "b"],
      new Map([
        ["a", section("a", 1)],
        ["b", section("b", 2)],
      ]),
      new Map(),
      renderHeader(RUN),
    );
    const merged = assemble(
      ["a", "b"],
      new Map([["b", section("b", 3)]]),
      extractSections(old),
      renderHeader(RUN),
    );
    const sections = extractSections(merged);
    expect([...sections.keys()]).toEqual(["a", "b"]);
    expect(sections.get("a")).toBe(section("a", 1));
    expect(sections.get("b")).toBe(section("b", 3));
    expect(merged.match(/<!-- bench:header -->/g)).toHaveLength(1);
  });

  it("summarises every judged figure, kept sections included, and nothing else", () => {
    const judged = (name: string, value: number) =>
      renderSection(
        {
          suite: fake(name),
          rows: [
            { figure: "rate", value, unit: "ops/s", target: { kind: "atLeast", value: 100 }, bound: "CPU" },
            { figure: "ref only", value: 1, unit: "ops/s", target: { kind: "ref", value: 2 } },
            { figure: "untargeted", value: 1, unit: "ms" },
          ],
        },
        RUN,
      );
    const old = assemble(["a", "b"], new Map([["a", judged("a", 50)]]), new Map(), renderHeader(RUN));
    const merged = assemble(
      ["a", "b"],
      new Map([["b", judged("b", 150)]]),
      extractSections(old),
      renderHeader(RUN),
    );
    const summary = merged.slice(
      merged.indexOf("<!-- bench:summary -->"),
      merged.indexOf("<!-- /bench:summary -->"),
    );
    const rows = summary.split("\n").filter((l) => l.startsWith("| a ") || l.startsWith("| b "));
    expect(rows).toEqual([
      "| a | rate | 50 | ops/s | ≥ 100 | misses by 50% |",
      "| b | rate | 150 | ops/s | ≥ 100 | meets |",
    ]);
    expect(merged.match(/<!-- bench:summary -->/g)).toHaveLength(1);
  });

  it("reports a suite that threw as failed, with no figures, and keeps the markers", () => {
    const failed = renderFailure(fake("a"), RUN, new Error("migration id x\nis used twice"));
    expect(
      extractSections(assemble(["a"], new Map([["a", failed]]), new Map(), renderHeader(RUN))).get("a"),
    ).toBe(failed);
    expect(failed).toContain("**Failed**");
    expect(failed).toContain("migration id x is used twice");
    expect(failed).not.toContain("| figure |");
  });

  it("drops sections of suites that are no longer registered", () => {
    const old = assemble(["gone"], new Map([["gone", section("gone", 1)]]), new Map(), renderHeader(RUN));
    expect(assemble(["a"], new Map(), extractSections(old), renderHeader(RUN))).not.toContain("suite:gone");
  });
});
