/**
 * `msp-cp packet` against a deployment's config, offline: a clinic without
 * evidence gets a packet that passes nothing and says "not covered"; bad
 * input exits 2 and writes nothing.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ControlPlaneConfig, HIPAA_CONTROLS, loadConfigFile } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { main } from "../../control-plane/src/cli/main.js";
import type { PacketContent, PacketRecord } from "../../control-plane/src/packets/index.js";

const run = async (...argv: string[]) => {
  const lines: string[] = [];
  const code = await main(argv, (s) => lines.push(s));
  return { code, out: lines.join("\n") };
};

describe("msp-cp packet", () => {
  it("documents itself and generates a signed packet that covers nothing without evidence", async () => {
    expect((await run("packet", "--help")).out).toMatch(
      /msp-cp packet --config PATH --clinic CLINIC_ID --month YYYY-MM/,
    );
    const dir = join(mkdtempSync(join(tmpdir(), "mspcp-packet-")), "d");
    await run("init", "--dir", dir, "--port", "0");
    const config = join(dir, "control-plane.yaml");
    expect(
      (await run("clinic", "create", "--config", config, "--id", "clinic-e", "--name", "Empty")).code,
    ).toBe(0);

    const bad = await run("packet", "--config", config, "--clinic", "clinic-e", "--month", "2026-1");
    expect(bad.code).toBe(2);
    const dataDir = loadConfigFile(ControlPlaneConfig, config).data_dir;
    expect(existsSync(join(dataDir, "packets"))).toBe(false);
    expect(
      (await run("packet", "--config", config, "--clinic", "clinic-nope", "--month", "2026-10")).code,
    ).toBe(1);

    const made = await run("packet", "--config", config, "--clinic", "clinic-e", "--month", "2026-10");
    expect(made.code).toBe(0);
    const record = JSON.parse(made.out) as PacketRecord;
    expect(record.generated_by).toBe("cli");
    const files = readdirSync(join(dataDir, "packets", "clinic-e", record.packet_id)).sort();
    expect(files).toEqual(
      expect.arrayContaining(["packet.html", "packet.json", "packet.md", "signature.json"]),
    );
    const content = JSON.parse(
      readFileSync(join(dataDir, "packets", "clinic-e", record.packet_id, "packet.json"), "utf8"),
    ) as PacketContent;
    expect(content.posture.controls).toHaveLength(HIPAA_CONTROLS.length);
    expect(content.posture.controls.every((c) => c.status === "not_covered")).toBe(true);
    expect(content.kpis).toMatchObject({
      compliance_percent: null,
      mttr_seconds: null,
      backup_success_percent: null,
    });
    const md = readFileSync(join(dataDir, "packets", "clinic-e", record.packet_id, "packet.md"), "utf8");
    expect(md).toContain("Not covered: no agent reported a time synchronisation check this month.");
  }, 60_000);
});
