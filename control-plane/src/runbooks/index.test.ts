import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMspError } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { defaultRunbooksDir, loadRunbookCatalog } from "./index.js";

describe("runbook catalog", () => {
  it("loads the shipped library with its pins and trigger index", () => {
    const lib = loadRunbookCatalog();
    expect(lib.list().map((r) => r.id)).toEqual([
      "RB-BACKUP-001",
      "RB-CERT-001",
      "RB-CPU-001",
      "RB-DISK-001",
      "RB-RESTORE-001",
      "RB-SERVICE-001",
    ]);
    expect(lib.catalogSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(lib.applicableTo("backup_failure").map((r) => r.id)).toContain("RB-BACKUP-001");
    expect(lib.applicableTo("not_an_event")).toEqual([]);
  });

  it("refuses a library whose YAML no longer matches its pin", () => {
    const dir = mkdtempSync(join(tmpdir(), "rb-"));
    cpSync(defaultRunbooksDir(), dir, { recursive: true });
    writeFileSync(join(dir, "RB-CPU-001.yaml"), "id: RB-CPU-001\n# edited\n");
    let caught: unknown;
    try {
      loadRunbookCatalog(dir);
    } catch (e) {
      caught = e;
    }
    expect(isMspError(caught, "integrity_mismatch")).toBe(true);
    expect(String((caught as Error).message)).toContain("RB-CPU-001.yaml");
  });
});
