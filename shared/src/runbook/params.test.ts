import { describe, expect, it } from "vitest";
import { RunbookParam } from "../protocol/runbook.js";
import {
  checkDeclaredParams,
  describeParamFinding,
  forbiddenCharProblems,
  type ParamRules,
  pathShapeProblems,
} from "./params.js";

const declared = {
  service: RunbookParam.parse({ type: "string", pattern: "[a-z][a-z0-9-]{0,15}", max_length: 16 }),
  note: RunbookParam.parse({ type: "string", pattern: ".*", required: false }),
  keep: RunbookParam.parse({ type: "integer", min: 1, max: 30, default: 7 }),
  force: RunbookParam.parse({ type: "boolean", required: false }),
  mode: RunbookParam.parse({ type: "enum", values: ["fast", "full"], default: "fast" }),
  target: RunbookParam.parse({ type: "path", root: "data" }),
};

const rules: ParamRules<"forbidden_character" | "bad_path"> = {
  acceptText: true,
  defaults: "apply",
  screenString: forbiddenCharProblems,
  checkPath: (raw) => {
    const shape = pathShapeProblems(raw);
    return shape.length === 0 ? { value: raw } : shape;
  },
};
const good = { service: "nginx", target: "/srv/data" };
const findings = (given: unknown, over: Partial<typeof rules> = {}) => {
  const r = checkDeclaredParams(declared, given, { ...rules, ...over });
  return r.ok ? [] : r.findings;
};
const one = (over: Record<string, unknown>) => findings({ ...good, ...over });

describe("checkDeclaredParams", () => {
  it("accepts valid values and applies defaults", () => {
    expect(checkDeclaredParams(declared, { ...good, force: "true", keep: "14" }, rules)).toEqual({
      ok: true,
      values: { service: "nginx", keep: 14, force: true, mode: "fast", target: "/srv/data" },
    });
  });

  it("refuses a parameter set that is not an object", () => {
    for (const given of [null, ["nginx"], "nginx", 3]) {
      expect(findings(given)).toEqual([
        {
          param: null,
          code: "not_an_object",
          reason: "parameters must be an object of name -> value",
          fromDefault: false,
        },
      ]);
    }
  });

  it("names unknown and missing parameters, unknown first", () => {
    expect(findings({ extra: 1 })).toEqual([
      {
        param: "extra",
        code: "unknown_param",
        reason: '"extra" is not a declared parameter',
        fromDefault: false,
      },
      { param: "service", code: "missing_param", reason: "service is required", fromDefault: false },
      { param: "target", code: "missing_param", reason: "target is required", fromDefault: false },
    ]);
  });

  it.each([
    ["service", 5, "wrong_type", "must be a string"],
    ["service", "a".repeat(17), "too_long", "longer than 16 characters"],
    ["service", "Nginx", "pattern_mismatch", '"Nginx" does not match [a-z][a-z0-9-]{0,15}'],
    ["service", "nginx-x1", null, null],
    ["note", "a; rm -rf /", "forbidden_character", "contains a shell metacharacter or control character"],
    ["note", "a\u0000b", "forbidden_character", "contains a shell metacharacter or control character"],
    ["keep", 31, "out_of_range", "31 is outside 1..30"],
    ["keep", 1.5, "wrong_type", "must be an integer"],
    ["keep", "7; reboot", "wrong_type", "must be an integer"],
    ["force", "yes", "wrong_type", "must be true or false"],
    ["mode", 1, "wrong_type", "must be one of fast, full"],
    ["mode", "slow", "not_allowed", "must be one of fast, full"],
    ["target", "", "wrong_type", "must be a non-empty path"],
    ["target", "srv/data", "bad_path", "must be an absolute path"],
    ["target", "/srv/../etc", "bad_path", 'must not contain ".." segments'],
    ["target", "/srv/$(id)", "bad_path", "contains a character not allowed in a path parameter"],
    ["target", `/${"a".repeat(4096)}`, "too_long", "longer than 4096 characters"],
  ])("checks %s = %j: %s", (param, value, code, reason) => {
    const found = one({ [param]: value });
    expect(found).toEqual(code === null ? [] : [{ param, code, reason, fromDefault: false }]);
  });

  it("anchors the pattern and reports one that does not compile", () => {
    const d = { v: RunbookParam.parse({ type: "string", pattern: "[a-z]+" }) };
    expect(checkDeclaredParams(d, { v: "abc-DEF" }, rules).ok).toBe(false);
    const broken = { v: RunbookParam.parse({ type: "string", pattern: "(" }) };
    expect(checkDeclaredParams(broken, { v: "x" }, rules)).toEqual({
      ok: false,
      findings: [
        {
          param: "v",
          code: "bad_pattern",
          reason: "the runbook's pattern does not compile",
          fromDefault: false,
        },
      ],
    });
  });

  it("marks a failing default as such", () => {
    const d = { keep: RunbookParam.parse({ type: "integer", min: 1, max: 5, default: 9 }) };
    const r = checkDeclaredParams(d, {}, rules);
    expect(r).toEqual({
      ok: false,
      findings: [{ param: "keep", code: "out_of_range", reason: "9 is outside 1..5", fromDefault: true }],
    });
    if (!r.ok) expect(r.findings.map(describeParamFinding)).toEqual(["keep (default): 9 is outside 1..5"]);
  });

  it("refuses text forms when acceptText is off", () => {
    expect(one({ keep: "14", force: "true" }).length).toBe(0);
    const strict = findings({ ...good, keep: "14", force: "false" }, { acceptText: false });
    expect(strict.map((f) => [f.param, f.code])).toEqual([
      ["keep", "wrong_type"],
      ["force", "wrong_type"],
    ]);
  });

  it("in given mode checks only what is given, in the order given, and adds no defaults", () => {
    expect(checkDeclaredParams(declared, { service: "nginx" }, { ...rules, defaults: "given" })).toEqual({
      ok: true,
      values: { service: "nginx" },
    });
    const r = findings({ keep: 99, command: "ls" }, { defaults: "given" });
    expect(r.map((f) => [f.param, f.code])).toEqual([
      ["keep", "out_of_range"],
      ["command", "unknown_param"],
    ]);
  });

  it("runs the caller's accept rule on values that passed, and keeps refused ones out", () => {
    const r = findings(good, {
      accept: (name, value) =>
        name === "service" && value !== "sshd" ? [{ code: "not_allowed", reason: "no" }] : [],
    });
    expect(r).toEqual([{ param: "service", code: "not_allowed", reason: "no", fromDefault: false }]);
  });

  it("reports every problem, one line each naming the parameter", () => {
    const r = checkDeclaredParams(declared, { service: "X", keep: 0, extra: true }, rules);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.findings.map(describeParamFinding)).toEqual([
        '"extra" is not a declared parameter',
        'service: "X" does not match [a-z][a-z0-9-]{0,15}',
        "keep: 0 is outside 1..30",
        "target is required",
      ]);
    }
  });
});
