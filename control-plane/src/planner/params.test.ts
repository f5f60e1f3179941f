import { RunbookDefinition } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { checkParam, checkParams, missingRequired } from "./params.js";

const rb = RunbookDefinition.parse({
  id: "RB-TEST-001",
  name: "Test",
  version: "1.0",
  description: "test runbook",
  triggers: [{ event_type: "service_crash" }],
  severity: ["high"],
  applicable_to: ["linux_server"],
  hipaa_controls: ["164.308(a)(1)(ii)(D)"],
  sla_target_seconds: 60,
  params: {
    service_name: { type: "string", pattern: "^[a-z][a-z0-9-]{0,15}$", max_length: 16 },
    lines: { type: "integer", min: 1, max: 200, default: 20 },
    force: { type: "boolean", default: false },
    method: { type: "enum", values: ["a", "b"], default: "a" },
    dir: { type: "path", root: "data" },
    note: { type: "string", pattern: ".*", required: false },
  },
  steps: [{ step: 1, name: "s", script: "scripts/s.sh", timeout_seconds: 5 }],
});
const p = rb.params;
const decl = (name: string) => {
  const d = p[name];
  if (d === undefined) throw new Error(name);
  return d;
};

describe("checkParam", () => {
  it("accepts values that follow their declaration", () => {
    expect(checkParam(decl("service_name"), "sshd")).toEqual({ value: "sshd" });
    expect(checkParam(decl("lines"), 200)).toEqual({ value: 200 });
    expect(checkParam(decl("force"), true)).toEqual({ value: true });
    expect(checkParam(decl("method"), "b")).toEqual({ value: "b" });
    expect(checkParam(decl("dir"), "/srv/data/x")).toEqual({ value: "/srv/data/x" });
  });

  it.each([
    ["service_name", "sshd; rm -rf /", "shell metacharacter"],
    ["service_name", "Sshd", "does not match"],
    ["service_name", "a".repeat(17), "longer than 16"],
    ["service_name", 5, "must be a string"],
    ["note", "ok\nsecond line", "control character"],
    ["note", "$(reboot)", "shell metacharacter"],
    ["lines", 0, "outside 1..200"],
    ["lines", 1.5, "must be an integer"],
    ["lines", "20", "must be an integer"],
    ["force", "true", "true or false"],
    ["method", "c", "one of a, b"],
    ["dir", "relative/path", "absolute"],
    ["dir", "/srv/../etc", '".."'],
    ["dir", "/srv/da ta;x", "not allowed"],
    ["dir", "", "non-empty"],
  ])("refuses %s = %j (%s)", (name, value, why) => {
    const r = checkParam(decl(name), value);
    expect(typeof r).toBe("string");
    expect(r).toContain(why);
  });

  it("anchors a pattern the YAML left unanchored", () => {
    const d = { type: "string", pattern: "[a-z]+", max_length: 64, required: true } as const;
    expect(checkParam(d, "abc")).toEqual({ value: "abc" });
    expect(typeof checkParam(d, "abc-DEF")).toBe("string");
  });
});

describe("checkParams", () => {
  it("refuses undeclared names and reports every problem", () => {
    const r = checkParams(rb, { service_name: "sshd", command: "rm -rf /", lines: 999 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.problems).toHaveLength(2);
      expect(r.problems.join(" ")).toContain('"command" is not a declared parameter');
      expect(r.problems.join(" ")).toContain("lines: 999 is outside");
    }
  });

  it("refuses a non-object", () => {
    expect(checkParams(rb, ["sshd"]).ok).toBe(false);
    expect(checkParams(rb, "sshd").ok).toBe(false);
    expect(checkParams(rb, null).ok).toBe(false);
  });

  it("accepts a valid set without adding defaults", () => {
    expect(checkParams(rb, { service_name: "nginx" })).toEqual({
      ok: true,
      values: { service_name: "nginx" },
    });
  });
});

describe("missingRequired", () => {
  it("names required parameters without a value or default", () => {
    expect(missingRequired(rb, {})).toEqual(["service_name", "dir"]);
    expect(missingRequired(rb, { service_name: "x", dir: "/d" })).toEqual([]);
  });
});
