/**
 * Contract tests of the runbook library as a whole: every YAML satisfies the
 * strict schema, the catalog pins exactly what is on disk (scripts and the
 * shared libraries they source), every script is a bash file that sources
 * nothing but pinned libraries through MSP_LIB_DIR and refuses argv, and the
 * YAML and the scripts agree on parameters, defaults, roots and evidence keys.
 */
import { execFile } from "node:child_process";
import { cpSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseYamlText, RunbookDefinition } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import {
  buildCatalog,
  checkCatalog,
  RUNBOOKS_DIR,
  referencedLibraries,
  referencedScripts,
} from "../../runbooks/build-catalog.js";
import { RUNBOOKS, runScript, sandbox, scriptPath } from "./helpers.js";

const execFileP = promisify(execFile);
const REPO_ROOT = join(RUNBOOKS_DIR, "..");
const source = (script: string) => readFileSync(scriptPath(script), "utf8");
/** Keys a script prints: every literal `ev <key>` call. */
const printedKeys = (script: string) =>
  new Set([...source(script).matchAll(/\bev ([a-z][a-z0-9_]*)\b/g)].map((m) => m[1]));
const allScripts = [...new Set([...RUNBOOKS.values()].flatMap(referencedScripts))].sort();
const allLibraries = [...new Set([...RUNBOOKS.values()].flatMap((rb) => referencedLibraries(rb)))].sort();
/** The only way a script may pull in other code: a pinned library from the executor's MSP_LIB_DIR. */
const LIB_SOURCE = /^source "\$MSP_LIB_DIR\/[a-z][a-z0-9_]*\.sh"$/;

const scratch = sandbox();
afterAll(() => scratch.cleanup());

describe("runbook definitions", () => {
  const expected = {
    "RB-BACKUP-001": {
      sla: 14400,
      trigger: "backup_failure",
      controls: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
    },
    "RB-CERT-001": { sla: 3600, trigger: "cert_expiry", controls: ["164.312(e)(1)"] },
    "RB-DISK-001": { sla: 1800, trigger: "disk_full", controls: ["164.308(a)(1)(ii)(D)"] },
    "RB-SERVICE-001": { sla: 900, trigger: "service_crash", controls: ["164.308(a)(1)(ii)(D)"] },
    "RB-CPU-001": { sla: 1800, trigger: "high_cpu", controls: ["164.308(a)(1)(ii)(D)"] },
    "RB-RESTORE-001": {
      sla: 7200,
      trigger: "restore_test_due",
      controls: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
    },
  };

  it("has exactly the six seed runbooks, with the seeds' SLAs, triggers and HIPAA controls", () => {
    expect([...RUNBOOKS.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [id, want] of Object.entries(expected)) {
      const rb = RUNBOOKS.get(id);
      expect(rb?.sla_target_seconds, id).toBe(want.sla);
      expect(
        rb?.triggers.map((t) => t.event_type),
        id,
      ).toEqual([want.trigger]);
      expect(rb?.hipaa_controls, id).toEqual(want.controls);
    }
  });

  it("parses every YAML strictly: an unknown field such as a pasted command is rejected", () => {
    const text = readFileSync(join(RUNBOOKS_DIR, "RB-DISK-001.yaml"), "utf8");
    const raw = parseYamlText(text, "RB-DISK-001.yaml") as { steps: Record<string, unknown>[] };
    expect(RunbookDefinition.safeParse(raw).success).toBe(true);
    const step = raw.steps[0];
    if (step === undefined) throw new Error("no steps");
    step.command = "rm -rf /";
    expect(RunbookDefinition.safeParse(raw).success).toBe(false);
  });

  it("declares anchored string patterns that reject injection attempts", () => {
    const attacks = ["; rm -rf /", "$(id)", "`id`", "../../etc", "a b;c", "x\ny", "-rf"];
    for (const rb of RUNBOOKS.values()) {
      for (const [name, p] of Object.entries(rb.params)) {
        if (p.type !== "string") continue;
        expect(p.pattern.startsWith("^") && p.pattern.endsWith("$"), `${rb.id}.${name}`).toBe(true);
        const re = new RegExp(p.pattern);
        for (const a of attacks)
          expect(re.test(a), `${rb.id}.${name} accepts ${JSON.stringify(a)}`).toBe(false);
      }
    }
  });

  it("writes success criteria in the executor's grammar, over keys the steps print", () => {
    for (const rb of RUNBOOKS.values()) {
      const printed = new Set(rb.steps.flatMap((s) => [...printedKeys(s.script)]));
      for (const expr of rb.success_criteria) {
        for (const key of criteriaKeys(expr))
          expect(printed.has(key), `${rb.id}: ${expr} uses ${key}`).toBe(true);
      }
    }
    expect(() => criteriaKeys('a == "x" and (b >= 3 or c != "y")')).not.toThrow();
    expect(() => criteriaKeys("a == b")).toThrow();
    expect(() => criteriaKeys('a >= "x"')).toThrow();
    expect(() => criteriaKeys("(a == 1")).toThrow();
  });

  it("names evidence keys that the scripts actually print", () => {
    for (const rb of RUNBOOKS.values()) {
      for (const step of rb.steps) {
        const printed = printedKeys(step.script);
        for (const key of step.evidence_required)
          expect(printed.has(key), `${rb.id} ${step.name}: ${key}`).toBe(true);
      }
      const all = new Set(rb.steps.flatMap((s) => [...printedKeys(s.script)]));
      for (const key of [...rb.evidence_artifacts.required, ...rb.evidence_artifacts.optional]) {
        expect(all.has(key), `${rb.id} artifact ${key}`).toBe(true);
      }
    }
  });
});

describe("catalog.json", () => {
  it("is current", () => {
    expect(checkCatalog()).toEqual([]);
  });

  it("pins each runbook's YAML and every script it references", () => {
    const catalog = buildCatalog();
    for (const entry of catalog.runbooks) {
      const rb = RUNBOOKS.get(entry.id);
      if (rb === undefined) throw new Error(`catalog names unknown ${entry.id}`);
      expect(Object.keys(entry.scripts).sort()).toEqual(
        [...referencedScripts(rb), ...referencedLibraries(rb)].sort(),
      );
    }
  });

  it("--check exits 1 naming the stale entry when a script changes", async () => {
    const copy = scratch.mkdir("library");
    cpSync(RUNBOOKS_DIR, copy, {
      recursive: true,
      filter: (src) => !src.endsWith(".ts") && !src.endsWith(".md"),
    });
    const cli = (...args: string[]) =>
      execFileP(
        process.execPath,
        ["--import", "tsx", "runbooks/build-catalog.ts", "--check", "--dir", copy, ...args],
        {
          cwd: REPO_ROOT,
        },
      );
    await expect(cli()).resolves.toMatchObject({ stdout: expect.stringContaining("current") });

    const target = join(copy, "scripts", "disk_clean_temp.sh");
    writeFileSync(target, `${readFileSync(target, "utf8")}\n# changed\n`);
    const err = await cli().then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toContain("RB-DISK-001: scripts/disk_clean_temp.sh changed");
    expect(checkCatalog(copy)).toEqual(["RB-DISK-001: scripts/disk_clean_temp.sh changed (sha256 differs)"]);

    const yaml = join(copy, "RB-CPU-001.yaml");
    writeFileSync(yaml, `${readFileSync(yaml, "utf8")}# edited\n`);
    expect(checkCatalog(copy)).toContain("RB-CPU-001: RB-CPU-001.yaml changed (sha256 differs)");
  });
});

describe("scripts", () => {
  it("are exactly the files in runbooks/scripts and scripts/lib, each used by some runbook", () => {
    const files = (sub: string) =>
      readdirSync(join(RUNBOOKS_DIR, sub), { withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => `${sub}/${e.name}`)
        .sort();
    expect(files("scripts")).toEqual(allScripts);
    expect(files("scripts/lib")).toEqual(allLibraries);
    expect(allLibraries).toEqual([
      "scripts/lib/cert.sh",
      "scripts/lib/common.sh",
      "scripts/lib/disk.sh",
      "scripts/lib/proc.sh",
      "scripts/lib/service.sh",
    ]);
  });

  it("are bash with set -euo pipefail first, a header, no eval or shell strings, and source only pinned libraries", () => {
    for (const script of allScripts) {
      const text = source(script);
      const lines = text.split("\n");
      expect(lines[0], script).toBe("#!/usr/bin/env bash");
      const commands = lines.filter((l) => l.trim() !== "" && !l.startsWith("#"));
      expect(commands[0], script).toBe("set -euo pipefail");
      expect(text, script).toMatch(/^# Reads: /m);
      expect(text, script).toMatch(/^# Prints: /m);
      expect(text, script).not.toMatch(/\beval\b|\b(ba)?sh -c\b/);
      // Every source line is a pinned library, and common.sh (which refuses argv) comes first.
      const sources = lines.filter((l) => /^\s*(source|\.)\s/.test(l));
      for (const l of sources) expect(l, script).toMatch(LIB_SOURCE);
      expect(sources[0], script).toBe('source "$MSP_LIB_DIR/common.sh"');
      expect(commands.slice(0, 4), script).toContain(sources[0]);
    }
    for (const lib of allLibraries) {
      const text = source(lib);
      expect(text.split("\n")[0], lib).toBe("# shellcheck shell=bash");
      expect(text, lib).not.toMatch(/^\s*(source|\.)\s/m);
      expect(text, lib).not.toMatch(/\beval\b|\b(ba)?sh -c\b/);
    }
  });

  it("refuse to run without MSP_LIB_DIR, before doing anything", async () => {
    const cwd = scratch.mkdir("nolib");
    for (const script of allScripts) {
      const run = await runScript(script, { MSP_LIB_DIR: "" }, { cwd });
      expect([script, run.code, run.stdout]).toEqual([script, 64, ""]);
      expect(run.stderr, script).toContain("MSP_LIB_DIR");
    }
  });

  it("list in their header every evidence key they print", () => {
    // dry_run, refused and refused_name are the library-wide keys the README documents once.
    const common = new Set(["dry_run", "refused", "refused_name"]);
    for (const script of allScripts) {
      const header = /^# Prints:[\s\S]*?^# Exit:/m.exec(source(script))?.[0] ?? "";
      for (const key of printedKeys(script)) {
        if (key !== undefined && !common.has(key))
          expect(header, `${script} header lacks ${key}`).toMatch(new RegExp(`\\b${key}\\b`));
      }
    }
  });

  it("pass bash -n", async () => {
    for (const script of [...allScripts, ...allLibraries])
      await execFileP("bash", ["-n", scriptPath(script)]);
  });

  it("refuse any argv before doing anything else", async () => {
    const cwd = scratch.mkdir("argv");
    for (const script of allScripts) {
      const run = await runScript(script, {}, { cwd, argv: ["; rm -rf /"] });
      expect(run.code, script).toBe(64);
      expect(run.evidence.refused, script).toBe("argv");
    }
  });

  it("read only declared parameters, with the YAML's defaults, bounds and roots", () => {
    for (const rb of RUNBOOKS.values()) {
      const used = new Set<string>();
      const roots = new Set(Object.values(rb.params).flatMap((p) => (p.type === "path" ? [p.root] : [])));
      for (const script of referencedScripts(rb)) {
        const text = source(script);
        for (const m of text.matchAll(/MSP_PARAM_([A-Z0-9_]+)/g)) {
          const name = (m[1] ?? "").toLowerCase();
          used.add(name);
          expect(rb.params[name], `${rb.id} ${script} reads undeclared ${name}`).toBeDefined();
        }
        for (const m of text.matchAll(/MSP_ROOTS_([A-Z0-9_]+)/g)) {
          expect(roots.has((m[1] ?? "").toLowerCase()), `${rb.id} ${script} reads roots ${m[1]}`).toBe(true);
        }
        for (const m of text.matchAll(/read_int \w+ MSP_PARAM_(\w+) (\d+) (\d+) (\d+)/g)) {
          const p = rb.params[(m[1] ?? "").toLowerCase()];
          expect(p?.type, `${rb.id} ${script} ${m[1]}`).toBe("integer");
          if (p?.type !== "integer") continue;
          expect([p.default, p.min, p.max], `${rb.id} ${script} ${m[1]}`).toEqual([
            Number(m[2]),
            Number(m[3]),
            Number(m[4]),
          ]);
        }
        for (const m of text.matchAll(/path_in_roots \w+ MSP_PARAM_(\w+) MSP_ROOTS_(\w+)/g)) {
          const p = rb.params[(m[1] ?? "").toLowerCase()];
          expect(
            p?.type === "path" && p.root === (m[2] ?? "").toLowerCase(),
            `${rb.id} ${script} ${m[1]}`,
          ).toBe(true);
        }
        for (const m of text.matchAll(/\$\{MSP_PARAM_(\w+):-([^}]*)\}/g)) {
          const p = rb.params[(m[1] ?? "").toLowerCase()];
          const fallback =
            p !== undefined && "default" in p && p.default !== undefined ? String(p.default) : "";
          expect(m[2], `${rb.id} ${script} default of ${m[1]}`).toBe(fallback);
        }
      }
      for (const name of Object.keys(rb.params))
        expect(used.has(name), `${rb.id} declares unused ${name}`).toBe(true);
    }
  });
});

/**
 * Checks one success criterion against the grammar the executor evaluates
 * (comparisons of an evidence key with a string or number, `and`/`or`,
 * parentheses, `true`/`false`) and returns the keys it names. Throws on
 * anything else, so a criterion the executor could not evaluate fails here.
 */
function criteriaKeys(expr: string): string[] {
  const tokens = expr.match(/"[^"]*"|-?\d+(?:\.\d+)?|==|!=|<=|>=|<|>|\(|\)|[a-z][a-z0-9_]*|\S/g) ?? [];
  const keys: string[] = [];
  let i = 0;
  const peek = () => tokens[i];
  const next = () => {
    const t = tokens[i++];
    if (t === undefined) throw new Error(`unexpected end of ${expr}`);
    return t;
  };
  const term = () => {
    const t = next();
    if (t === "(") {
      disjunction();
      if (next() !== ")") throw new Error(`missing ) in ${expr}`);
      return;
    }
    if (t === "true" || t === "false") return;
    if (!/^[a-z][a-z0-9_]*$/.test(t) || t === "and" || t === "or")
      throw new Error(`expected a key, got ${t}`);
    keys.push(t);
    const op = next();
    const literal = next();
    if (/^"/.test(literal)) {
      if (op !== "==" && op !== "!=") throw new Error(`${op} cannot compare strings in ${expr}`);
    } else if (!/^-?\d/.test(literal) || !["==", "!=", "<", "<=", ">", ">="].includes(op)) {
      throw new Error(`bad comparison ${t} ${op} ${literal} in ${expr}`);
    }
  };
  const disjunction = () => {
    term();
    while (peek() === "and" || peek() === "or") {
      next();
      term();
    }
  };
  disjunction();
  if (i !== tokens.length) throw new Error(`trailing ${tokens.slice(i).join(" ")} in ${expr}`);
  return keys;
}
