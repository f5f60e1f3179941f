/**
 * Every .nix file in the repository parses (`nix-instantiate --parse`), the
 * check CI runs with Debian's nix-bin. Evaluation against nixpkgs needs
 * nixpkgs' lib, which CI does not have offline; nixos/README.md shows how it
 * was done and what it produced.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nixFiles, nixInstantiate, skipReason } from "./nix.js";

const skip = skipReason();
if (skip) console.warn(skip);

describe.skipIf(skip !== null)("nix-instantiate --parse", () => {
  const files = nixFiles();

  it("finds the flake and every module", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "flake.nix",
        "nixos/default.nix",
        "nixos/package.nix",
        "nixos/modules/agent.nix",
        "nixos/modules/baseline-enforcement.nix",
        "nixos/modules/encryption.nix",
        "nixos/modules/ssh-certificates.nix",
      ]),
    );
  });

  it.each(files)("%s parses", (file) => {
    const r = nixInstantiate(["--parse", file]);
    expect(r.stderr.trim(), file).toBe("");
    expect(r.code, file).toBe(0);
  });

  it("reports a syntax error as a failure, naming the line", () => {
    const dir = mkdtempSync(join(tmpdir(), "msp-nix-parse-"));
    const bad = join(dir, "bad.nix");
    writeFileSync(bad, "{ a = 1;\n  b = ;\n}\n");
    const r = nixInstantiate(["--parse", bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/syntax error/);
    expect(r.stderr).toMatch(/bad\.nix:2/);
  });
});
