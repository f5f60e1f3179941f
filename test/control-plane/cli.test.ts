/** `msp-cp` in-process: init, offline admin commands, usage errors that change nothing. */
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../../control-plane/src/cli/main.js";

const run = async (...argv: string[]) => {
  const lines: string[] = [];
  const code = await main(argv, (s) => lines.push(s));
  return { code, out: lines.join("\n") };
};

describe("msp-cp", () => {
  it("init makes a deployment once, with private keys at 0600 and the admin key shown once", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "mspcp-")), "d");
    const first = await run("init", "--dir", dir, "--port", "0");
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/admin key {4}msp_key_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/);
    for (const f of ["signing.key", "tls/server.key", "data/ca/ca.key", "control-plane.yaml"]) {
      expect(statSync(join(dir, f)).mode & 0o077, f).toBe(0);
    }
    expect(readFileSync(join(dir, "control-plane.yaml"), "utf8")).not.toContain("msp_key_");
    const again = await run("init", "--dir", dir);
    expect(again.code).toBe(1);
  });

  it("creates clinics, keys and tokens offline, and refuses bad usage with exit 2", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "mspcp-")), "d");
    await run("init", "--dir", dir, "--port", "0");
    const config = join(dir, "control-plane.yaml");
    expect((await run("clinic", "create", "--config", config, "--id", "clinic-x", "--name", "X")).code).toBe(
      0,
    );
    const key = await run(
      "api-key",
      "create",
      "--config",
      config,
      "--name",
      "ops",
      "--role",
      "operator",
      "--clinic",
      "clinic-x",
    );
    expect(key.code).toBe(0);
    expect(key.out).toMatch(/^msp_key_/);
    const token = await run("token", "create", "--config", config, "--clinic", "clinic-x", "--ttl", "600");
    expect(token.out).toMatch(/^msp_enr_[A-Za-z0-9_-]{43}\n/);
    expect((await run("token", "create", "--config", config, "--clinic", "nope")).code).toBe(1);
    expect((await run("api-key", "create", "--config", config, "--name", "x", "--role", "root")).code).toBe(
      2,
    );
    expect((await run("clinic", "create", "--config", config, "--id", "Bad Id!", "--name", "x")).code).toBe(
      2,
    );
    expect((await run("serve", "--bogus")).code).toBe(2);
    expect((await run("frobnicate")).code).toBe(2);
    expect(
      (await run("token", "create", "--ttl", "5", "--config", config, "--clinic", "clinic-x")).code,
    ).toBe(2);
    expect((await run("serve", "--help")).out).toContain("Usage: msp-cp serve");
    expect(existsSync(join(dir, "data", "control-plane.db"))).toBe(true);
  });
});
