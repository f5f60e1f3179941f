import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunbookDefinition } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { validateParams } from "./params.js";
import { runbookDefinition } from "./testkit.js";

const base = mkdtempSync(join(tmpdir(), "msp-params-"));
const backups = join(base, "backups");
const outside = join(base, "outside");
mkdirSync(join(backups, "daily"), { recursive: true });
mkdirSync(outside);
symlinkSync(outside, join(backups, "escape"));
symlinkSync(join(base, "nowhere"), join(backups, "dangling"));
const roots = { backup_targets: [backups] };

const def = RunbookDefinition.parse(
  runbookDefinition("RB-TEST-001", {
    steps: [{ step: 1, name: "s", script: "scripts/s.sh", timeout_seconds: 5 }],
    params: {
      service: { type: "string", pattern: "[a-z][a-z0-9_-]{0,30}", max_length: 31 },
      label: { type: "string", pattern: ".*", required: false },
      keep: { type: "integer", min: 1, max: 30, default: 7 },
      force: { type: "boolean", required: false },
      mode: { type: "enum", values: ["fast", "full"], default: "fast" },
      target: { type: "path", root: "backup_targets" },
    },
  }),
);
const good = { service: "nginx", target: join(backups, "daily") };
const check = (over: Record<string, unknown>) => validateParams(def, { ...good, ...over }, roots);
const problems = (over: Record<string, unknown>) => {
  const r = check(over);
  return r.ok ? [] : r.problems;
};

describe("validateParams", () => {
  it("accepts valid values and applies defaults", () => {
    expect(check({ force: "true", keep: "14" })).toEqual({
      ok: true,
      values: { service: "nginx", keep: 14, force: true, mode: "fast", target: join(backups, "daily") },
    });
  });

  it("accepts a path that does not exist yet inside a root", () => {
    expect(check({ target: join(backups, "daily", "new", "file.tar") }).ok).toBe(true);
  });

  it("rejects undeclared and missing parameters", () => {
    expect(validateParams(def, { service: "nginx", extra: 1 }, roots)).toEqual({
      ok: false,
      problems: ['"extra" is not a declared parameter', "target is required"],
    });
    expect(validateParams(def, null, roots).ok).toBe(false);
    expect(validateParams(def, ["nginx"], roots).ok).toBe(false);
  });

  it.each([
    "nginx; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "nginx\nrm -rf /",
    "nginx && reboot",
    "nginx | sh",
    "../../etc",
    "NGINX",
    "n".repeat(32),
    "",
  ])("rejects service=%j", (service) => {
    expect(problems({ service })).toHaveLength(1);
  });

  it("refuses shell metacharacters even when the pattern allows anything", () => {
    for (const label of ["a; rm -rf /", "$(id)", "`id`", "a\nb", "a\u0000b", "x > /etc/passwd"]) {
      expect(problems({ label })).toEqual([expect.stringMatching(/^label: contains a shell metacharacter/)]);
    }
    expect(check({ label: "plain words, commas and dots." }).ok).toBe(true);
  });

  it("checks integers, booleans and enums", () => {
    expect(problems({ keep: 0 })).toEqual(["keep: 0 is outside 1..30"]);
    expect(problems({ keep: 1.5 })).toEqual(["keep: must be an integer"]);
    expect(problems({ keep: "7; reboot" })).toEqual(["keep: must be an integer"]);
    expect(problems({ force: "yes" })).toEqual(["force: must be true or false"]);
    expect(problems({ mode: "fast;reboot" })).toEqual(["mode: must be one of fast, full"]);
  });

  it.each([
    ["../../etc", /absolute/],
    [`${backups}/../../../etc`, /"\.\." segments/],
    ["/etc/shadow", /outside the "backup_targets" roots/],
    [join(backups, "escape", "x"), /outside/],
    [join(backups, "dangling"), /cannot be resolved/],
    [`${backups}/$(reboot)`, /not allowed in a path/],
    [`${backups}/a;b`, /not allowed in a path/],
    [`${backups}/a\nb`, /not allowed in a path/],
    [`${backups}-sibling/x`, /outside/],
  ])("rejects path %j", (target, why) => {
    expect(problems({ target })).toEqual([expect.stringMatching(why)]);
  });

  it("refuses a path whose root set is not configured", () => {
    expect(validateParams(def, good, {})).toEqual({
      ok: false,
      problems: ['target: path root set "backup_targets" is not configured on this agent'],
    });
  });
});
