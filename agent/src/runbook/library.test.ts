import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMspError, sha256Hex } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { loadRunbookLibrary } from "./library.js";
import { runbookDefinition, writeLibrary } from "./testkit.js";

const step = (n: number, name: string) => ({
  step: n,
  name,
  script: `scripts/${name}.sh`,
  timeout_seconds: 5,
});
const fixture = (id: string, over: Record<string, unknown> = {}) => ({
  definition: runbookDefinition(id, { steps: [step(1, "check")], ...over }),
  scripts: { "scripts/check.sh": "echo status=ok\n" },
});
const lib = (...rbs: ReturnType<typeof fixture>[]) =>
  writeLibrary(mkdtempSync(join(tmpdir(), "msp-lib-")), rbs);

describe("loadRunbookLibrary", () => {
  it("loads pinned runbooks with defaults applied and criteria parsed", () => {
    const dir = lib(fixture("RB-DISK-001", { success_criteria: ['status == "ok"'] }));
    const l = loadRunbookLibrary(dir);
    expect(l.refused.size).toBe(0);
    const rb = l.runbooks.get("RB-DISK-001");
    expect(rb?.definition.steps[0]?.critical).toBe(true);
    expect(rb?.scripts.get("scripts/check.sh")).toBe(sha256Hex("echo status=ok\n"));
    expect(rb?.criteria[0]?.tree.kind).toBe("compare");
    expect(l.catalogSha256).toBe(sha256Hex(readFileSync(join(dir, "catalog.json"))));
  });

  it("refuses a runbook whose YAML changed after cataloguing, naming both hashes", () => {
    const dir = lib(fixture("RB-DISK-001"));
    const pinned = sha256Hex(readFileSync(join(dir, "RB-DISK-001.yaml")));
    appendFileSync(join(dir, "RB-DISK-001.yaml"), "# edited\n");
    const actual = sha256Hex(readFileSync(join(dir, "RB-DISK-001.yaml")));
    const l = loadRunbookLibrary(dir);
    expect(l.runbooks.size).toBe(0);
    expect(l.refused.get("RB-DISK-001")?.reason).toBe(
      `RB-DISK-001.yaml does not match its pin: catalog sha256 ${pinned}, file has sha256 ${actual}`,
    );
  });

  it("refuses a runbook whose script changed or is missing its pin", () => {
    const dir = lib(fixture("RB-DISK-001"), {
      definition: runbookDefinition("RB-CPU-001", { steps: [step(1, "check"), step(2, "other")] }),
      scripts: { "scripts/check.sh": "echo status=ok\n" },
    });
    writeFileSync(join(dir, "scripts/check.sh"), "echo status=ok; rm -rf /\n");
    const l = loadRunbookLibrary(dir);
    expect(l.refused.get("RB-DISK-001")?.reason).toMatch(/^scripts\/check\.sh does not match its pin/);
    // RB-CPU-001 fails on the first problem found, in script order.
    expect(l.refused.get("RB-CPU-001")?.reason).toMatch(/^scripts\/check\.sh does not match/);
    const dir2 = lib({
      definition: runbookDefinition("RB-CPU-001", { steps: [step(1, "check"), step(2, "other")] }),
      scripts: { "scripts/check.sh": "echo ok\n" },
    });
    expect(loadRunbookLibrary(dir2).refused.get("RB-CPU-001")?.reason).toBe(
      "scripts/other.sh (used by RB-CPU-001) is not pinned in catalog.json",
    );
  });

  it("refuses schema errors, bad criteria, bad patterns and uncatalogued files with clear reasons", () => {
    const dir = lib(
      fixture("RB-DISK-001", { steps: [{ ...step(1, "check"), timeout_seconds: 0 }] }),
      fixture("RB-CPU-001", { success_criteria: ["status == "] }),
      fixture("RB-CERT-001", { params: { name: { type: "string", pattern: "([a-z" } } }),
    );
    writeFileSync(join(dir, "RB-EXTRA-001.yaml"), "id: RB-EXTRA-001\n");
    const l = loadRunbookLibrary(dir);
    expect(l.runbooks.size).toBe(0);
    expect(l.refused.get("RB-DISK-001")?.reason).toMatch(
      /invalid runbook RB-DISK-001\.yaml: steps\.0\.timeout_seconds/,
    );
    expect(l.refused.get("RB-CPU-001")?.reason).toMatch(/success criterion "status == ": expected a value/);
    expect(l.refused.get("RB-CERT-001")?.reason).toMatch(/parameter name: pattern does not compile/);
    expect(l.refused.get("RB-EXTRA-001")?.reason).toBe("RB-EXTRA-001.yaml is not pinned in catalog.json");
  });

  it("fails loudly when the catalog is missing or invalid", () => {
    const empty = mkdtempSync(join(tmpdir(), "msp-lib-"));
    expect(() => loadRunbookLibrary(empty)).toThrow(expect.objectContaining({ code: "config_missing" }));
    writeFileSync(join(empty, "catalog.json"), JSON.stringify({ version: 2, runbooks: [] }));
    try {
      loadRunbookLibrary(empty);
      expect.unreachable();
    } catch (e) {
      expect(isMspError(e, "config_invalid")).toBe(true);
      expect((e as Error).message).toMatch(/^invalid runbook catalog: version/);
    }
  });
});
