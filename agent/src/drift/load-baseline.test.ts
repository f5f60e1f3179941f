import { Baseline, isMspError } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { loadBaseline } from "./load-baseline.js";
import { put, removeTempRoots, tempRoot } from "./testkit.js";

afterAll(removeTempRoots);

const shipped = new URL("../../baselines/hipaa-v1.yaml", import.meta.url).pathname;

const minimal = {
  version: 1,
  id: "hipaa-v1",
  baseline_version: "1.0.0",
  description: "minimal",
  checks: [
    {
      type: "disk_usage",
      id: "disk",
      citation: ["164.312(b)"],
      severity: "high",
      mount: "/",
      max_used_percent: 85,
    },
  ],
};

async function fileWith(text: string, name = "b.yaml"): Promise<string> {
  return put(await tempRoot(), `/${name}`, text);
}

describe("baseline loading", () => {
  it("loads the shipped hipaa-v1 baseline with every check type", async () => {
    const b = await loadBaseline(shipped);
    expect(b.id).toBe("hipaa-v1");
    expect(new Set(b.checks.map((c) => c.type))).toEqual(
      new Set([
        "firewall",
        "ssh_config",
        "time_sync",
        "auditd",
        "disk_encryption",
        "services",
        "backup_freshness",
        "cert_expiry",
        "disk_usage",
        "cpu_load",
      ]),
    );
    for (const c of b.checks) expect(c.citation.length).toBeGreaterThan(0);
  });

  it("loads JSON and fills the event type a check type raises by default", async () => {
    const b = await loadBaseline(await fileWith(JSON.stringify(minimal), "b.json"));
    expect(b.checks[0]).toMatchObject({ event_type: "disk_full" });
    expect(b.allowed_drift).toEqual([]);
  });

  it("tells a missing file from an invalid one, naming the field", async () => {
    await expect(loadBaseline("/nonexistent/hipaa.yaml")).rejects.toSatisfy((e) =>
      isMspError(e, "config_missing"),
    );
    await expect(loadBaseline(await fileWith("version: 1\nchecks: [\n"))).rejects.toThrow(
      /is not valid YAML/,
    );
    await expect(loadBaseline(await fileWith("- 1\n"))).rejects.toThrow(/mapping at the top level/);
    const typo = { ...minimal, checks: [{ ...minimal.checks[0], max_used_pct: 80 }] };
    await expect(loadBaseline(await fileWith(JSON.stringify(typo)))).rejects.toThrow(
      /checks\.0: unknown field\(s\): max_used_pct/,
    );
  });
});

describe("baseline schema", () => {
  const parse = (v: unknown) => Baseline.safeParse(v);
  const exception = {
    id: "EXC-1",
    check_id: "disk",
    reason: "r",
    risk: "low",
    owner: "o",
    expires: "2026-02-30",
  };

  it("rejects unknown check types, bad citations and unknown fields", () => {
    expect(parse({ ...minimal, checks: [{ ...minimal.checks[0], type: "antivirus" }] }).success).toBe(false);
    expect(parse({ ...minimal, checks: [{ ...minimal.checks[0], citation: ["164.999"] }] }).success).toBe(
      false,
    );
    expect(parse({ ...minimal, owner: "x" }).success).toBe(false);
    expect(parse({ ...minimal, version: 2 }).success).toBe(false);
  });

  it("checks cross-references: unique ids, items naming real checks, real dates", () => {
    expect(parse({ ...minimal, checks: [minimal.checks[0], minimal.checks[0]] }).success).toBe(false);
    expect(parse({ ...minimal, exceptions: [{ ...exception, expires: "2026-03-31" }] }).success).toBe(true);
    expect(parse({ ...minimal, exceptions: [exception] }).success).toBe(false);
    expect(
      parse({ ...minimal, exceptions: [{ ...exception, expires: "2026-03-31", check_id: "nope" }] }).success,
    ).toBe(false);
    const ad = { id: "EXC-1", check_id: "disk", reason: "r", approved_by: "a" };
    expect(
      parse({ ...minimal, allowed_drift: [ad], exceptions: [{ ...exception, expires: "2026-03-31" }] })
        .success,
    ).toBe(false);
  });

  it("needs exactly one disk target and a quota for directories", () => {
    const disk = minimal.checks[0];
    expect(parse({ ...minimal, checks: [{ ...disk, directory: "/var/log", quota_mb: 10 }] }).success).toBe(
      false,
    );
    expect(
      parse({ ...minimal, checks: [{ ...disk, mount: undefined, directory: "/var/log" }] }).success,
    ).toBe(false);
    expect(
      parse({ ...minimal, checks: [{ ...disk, mount: undefined, directory: "/var/log", quota_mb: 10 }] })
        .success,
    ).toBe(true);
  });
});
