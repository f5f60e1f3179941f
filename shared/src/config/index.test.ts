import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { isMspError } from "../errors/index.js";
import { applyEnvOverrides, loadConfigFile, readSecretFile } from "./index.js";

const Schema = z.strictObject({
  version: z.literal(1),
  server: z.strictObject({ port: z.number().int(), host: z.string() }),
  tags: z.array(z.string()).default([]),
});

async function file(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "msp-cfg-"));
  const path = join(dir, "c.yaml");
  await writeFile(path, text);
  return path;
}

describe("config loading", () => {
  it("loads YAML, then applies PREFIX__A__B environment overrides as JSON when possible", async () => {
    const path = await file("version: 1\nserver:\n  port: 80\n  host: a\n");
    const cfg = loadConfigFile(Schema, path, {
      envPrefix: "MSP_T",
      env: { MSP_T__SERVER__PORT: "8443", MSP_T__TAGS: '["x","y"]', OTHER: "1" },
    });
    expect(cfg).toEqual({ version: 1, server: { port: 8443, host: "a" }, tags: ["x", "y"] });
  });

  it("tells missing from invalid", async () => {
    expect(() => loadConfigFile(Schema, "/nonexistent/c.yaml")).toThrow(
      expect.objectContaining({ code: "config_missing" }),
    );
    const bad = await file("version: 1\nserver: {port: 80, host: a, debug: true}\n");
    expect(() => loadConfigFile(Schema, bad)).toThrow(
      /invalid config file .*: server: unknown field\(s\): debug/,
    );
    const broken = await file("version: 1\nserver: [\n");
    try {
      loadConfigFile(Schema, broken);
      expect.unreachable();
    } catch (e) {
      expect(isMspError(e, "config_invalid")).toBe(true);
      expect((e as Error).message).toMatch(/is not valid YAML/);
    }
  });

  it("reads secrets from files and refuses empty ones", async () => {
    const path = await file("s3cret\n");
    expect(readSecretFile(path, "API key")).toBe("s3cret");
    const empty = await file("");
    expect(() => readSecretFile(empty, "API key")).toThrow(/API key file .* is empty/);
    expect(() => readSecretFile("/nonexistent", "API key")).toThrow(
      expect.objectContaining({ code: "config_missing" }),
    );
  });

  it("does not mutate the base object", () => {
    const base = { a: { b: 1 } };
    applyEnvOverrides(base, { P__A__B: "2" }, "P");
    expect(base.a.b).toBe(1);
  });
});
