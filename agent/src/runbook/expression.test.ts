import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ExpressionSyntaxError, evaluateExpression, parseExpression } from "./expression.js";

const evidence = new Map(
  Object.entries({
    backup_status: "success",
    free_pct: "12.5",
    files: "9",
    restarted: "true",
    "restart.pid": "42",
    note: "contains $(whoami) and `id`",
  }),
);
const evalStr = (src: string, ev: ReadonlyMap<string, string> = evidence) =>
  evaluateExpression(parseExpression(src), ev);

describe("success criteria evaluator", () => {
  it.each([
    ['backup_status == "success"', true],
    ["backup_status == 'success'", true],
    ['backup_status != "success"', false],
    ["free_pct >= 10", true],
    ["free_pct < 10", false],
    ["files > 10", false],
    ['files > "10"', false], // numeric, not lexical: "9" > "10" would be true lexically
    ["restarted == true", true],
    ["restarted", true],
    ["not restarted", false],
    ['restarted and backup_status == "success"', true],
    ['free_pct < 5 or backup_status == "success"', true],
    ["not (free_pct < 5 or files > 100)", true],
    ["restart.pid == 42", true],
    ["-1 < 0", true],
    ["true and not false", true],
    ['note == "contains $(whoami) and `id`"', true],
  ])("%s => %s", (src, met) => {
    expect(evalStr(src).met).toBe(met);
  });

  it("gives precedence to and over or, and binds not tighter than and", () => {
    expect(evalStr("true or false and false").met).toBe(true);
    expect(evalStr("not false and false").met).toBe(false);
  });

  it("reports an unknown key as not met with a detail, never as an error", () => {
    expect(evalStr('backup_state == "success"')).toEqual({
      met: false,
      detail: "unknown evidence key backup_state",
    });
  });

  it("explains a false criterion with the values it read", () => {
    expect(evalStr("free_pct > 50")).toEqual({
      met: false,
      detail: 'evaluated to false with free_pct="12.5"',
    });
  });

  it("treats non-numbers in numeric comparisons and non-booleans in logic as not met", () => {
    expect(evalStr("backup_status > 3")).toMatchObject({ met: false, detail: '"success" is not a number' });
    expect(evalStr("backup_status")).toMatchObject({ met: false, detail: '"success" is not a boolean' });
    expect(evalStr('backup_status < "z"').met).toBe(false);
  });

  it("looks keys up as own entries only (no prototype tricks)", () => {
    expect(evalStr("constructor == 1").detail).toBe("unknown evidence key constructor");
    expect(() => parseExpression("__proto__.x == 1")).not.toThrow();
    expect(evalStr("__proto__.x == 1").met).toBe(false);
  });

  it.each([
    "",
    "backup_status ==",
    '== "x"',
    "(free_pct > 1",
    "free_pct > 1)",
    "a == b == c",
    "a && b",
    "a || b",
    "!a",
    'process.exit(1) == "x"',
    "require('child_process')",
    "a; rm -rf /",
    "$(touch /tmp/pwned) == 1",
    "`touch /tmp/pwned`",
    "a == 'unterminated",
    "a == 'bad \\n escape'",
    "constructor.constructor('return process')()",
    "A == 1",
    "and",
    "not",
  ])("rejects %j as a syntax error", (src) => {
    expect(() => parseExpression(src)).toThrow(ExpressionSyntaxError);
  });

  it("limits nesting and length so hostile input cannot exhaust the stack", () => {
    expect(() => parseExpression(`${"(".repeat(40)}true${")".repeat(40)}`)).toThrow(/nested/);
    expect(() => parseExpression(`${"not ".repeat(40)}true`)).toThrow(/nested/);
    expect(parseExpression(`${"(".repeat(30)}true${")".repeat(30)}`)).toEqual({
      kind: "literal",
      value: true,
    });
    expect(() => parseExpression(Array.from({ length: 100 }, () => "true").join(" and "))).toThrow(/tokens/);
  });

  it("never executes anything, whatever the evidence says", () => {
    const dir = mkdtempSync(join(tmpdir(), "msp-expr-"));
    const marker = join(dir, "pwned");
    const hostile = new Map([
      ["x", `$(touch ${marker})`],
      ["y", `'; touch ${marker}; '`],
    ]);
    expect(evalStr(`x == "a" or y == "b"`, hostile).met).toBe(false);
    expect(evalStr(`x > 1`, hostile).met).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });
});
