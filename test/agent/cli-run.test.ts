/**
 * `msp-agent run` as a real process (`node --import tsx agent/src/cli/main.ts`)
 * against the stub control plane: it announces itself, streams its first
 * drift bundle, logs JSON lines for its lifecycle, and on SIGTERM stops
 * gracefully with exit code 0.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { saveSigningKey } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type IngestServer, startIngestServer } from "../support/ingest-server.js";
import { createTransportWorld, spawnTs, type TransportWorld, waitFor } from "../transport/harness.js";

const MAIN = resolve(import.meta.dirname, "..", "..", "agent", "src", "cli", "main.ts");
const RUNBOOKS = resolve(import.meta.dirname, "..", "..", "runbooks");

let world: TransportWorld;
let server: IngestServer;
let configFile: string;

beforeAll(async () => {
  world = createTransportWorld();
  server = await startIngestServer(world.serverConfig("cp"));
  const state = join(world.dir, "state");
  const backups = join(world.dir, "backups");
  mkdirSync(backups, { recursive: true });
  await saveSigningKey(join(state, "evidence.key"), world.agent.evidenceKey);
  const baseline = join(world.dir, "baseline.yaml");
  writeFileSync(
    baseline,
    [
      "version: 1",
      "id: test-v1",
      "baseline_version: 1.0.0",
      "description: cli test baseline",
      "checks:",
      "  - type: backup_freshness",
      "    id: backup_fresh",
      '    citation: ["164.308(a)(7)(ii)(A)"]',
      "    severity: high",
      `    directory: ${backups}`,
      "    max_age_hours: 24",
    ].join("\n"),
  );
  configFile = join(world.dir, "agent.yaml");
  writeFileSync(
    configFile,
    [
      "version: 1",
      "agent_id: srv-primary",
      "client_id: clinic-001",
      "control_plane:",
      `  url: ${server.url}`,
      `  ca_file: ${world.pki.ca.certFile}`,
      `  cert_file: ${world.agent.tls.certFile}`,
      `  key_file: ${world.agent.tls.keyFile}`,
      `  public_key: ${world.controlPlaneKey.publicKey.toString("base64")}`,
      `evidence_key_file: ${join(state, "evidence.key")}`,
      `state_dir: ${state}`,
      `baseline_file: ${baseline}`,
      `runbooks_dir: ${RUNBOOKS}`,
    ].join("\n"),
  );
});

afterAll(async () => {
  await server?.stop();
  world?.cleanup();
});

describe("msp-agent run (child process)", () => {
  it("runs, streams a drift bundle and an incident, and stops cleanly on SIGTERM", async () => {
    const agent = await spawnTs(MAIN, ["run", "--config", configFile], 30_000);
    try {
      expect(agent.ready).toMatchObject({ running: true, agent_id: "srv-primary" });
      await waitFor("drift bundle stored", () => server.stored("srv-primary").length >= 1, 20_000);
      await waitFor("incident", () => server.incidents.length >= 1, 20_000);
      expect(server.incidents[0]).toMatchObject({ incident_type: "backup_failure" });
      agent.child.kill("SIGTERM");
      const exit = await agent.exited;
      expect(exit, agent.stderr()).toEqual({ code: 0, signal: null });
      const lines = agent
        .stderr()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { msg: string; level: string; reason?: string });
      const msgs = lines.map((l) => l.msg);
      for (const m of [
        "agent starting",
        "agent started",
        "drift cycle recorded",
        "agent stopping",
        "agent stopped",
      ])
        expect(msgs).toContain(m);
      expect(lines.find((l) => l.msg === "agent stopped")).toMatchObject({ reason: "SIGTERM", clean: true });
    } finally {
      await agent.kill();
    }
  });
});
