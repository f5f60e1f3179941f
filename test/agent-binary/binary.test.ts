/**
 * The agent as one executable (Node SEA), copied into an empty directory with
 * no node_modules and run from there, as a clinic server would.
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { generateSigningKey } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureAgentBinary } from "./build.js";

const work = mkdtempSync(join(tmpdir(), "msp-agent-bin-"));
let built = "";
const exe = join(work, "bin", "msp-agent");
const empty = join(work, "empty");

function agent(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(exe, args, {
    cwd: empty,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  mkdirSync(empty, { recursive: true });
  mkdirSync(join(work, "bin"), { recursive: true });
  built = ensureAgentBinary();
  copyFileSync(built, exe);
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("the msp-agent executable", () => {
  it("contains no AWS SDK, no openai client and no hono", () => {
    const meta = JSON.parse(readFileSync(join(dirname(built), "bundle-meta.json"), "utf8")) as {
      inputs: string[];
    };
    expect(meta.inputs.length).toBeGreaterThan(20);
    expect(meta.inputs.some((i) => i.includes("better-sqlite3"))).toBe(true);
    for (const forbidden of ["@aws-sdk", "openai", "hono"]) {
      expect(
        meta.inputs.filter((i) => i.includes(`node_modules/${forbidden}`)),
        forbidden,
      ).toEqual([]);
    }
  });

  it("prints its version and help without any config", () => {
    const v = agent(["version", "--json"]);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ agent_version: expect.any(String), protocol_version: 1 });
    const help = agent(["--help"]);
    expect(help.code).toBe(0);
    for (const command of ["run", "enroll", "renew", "check", "status", "verify-outbox", "version"])
      expect(help.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    expect(agent(["enroll", "--url", "https://127.0.0.1:1"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/exactly one of --token-file and --token/),
    });
  });

  it("refuses bad usage and bad config with a clear message and exit 2", () => {
    expect(agent(["frobnicate"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown command "frobnicate"/),
    });
    expect(agent(["status", "--colour"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown option --colour/),
    });
    expect(agent(["status", "--config", join(work, "absent.yaml")])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/cannot be read/),
    });
    const bad = join(work, "bad.yaml");
    writeFileSync(bad, "version: 1\nagent_id: Bad Id\n");
    expect(agent(["status", "--config", bad])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/invalid config file .*agent_id/),
    });
  });

  it("bundles systeminformation although the agent loads it only when a headroom check runs", () => {
    const meta = JSON.parse(readFileSync(join(dirname(built), "bundle-meta.json"), "utf8")) as {
      inputs: string[];
    };
    expect(meta.inputs.some((i) => i.includes("node_modules/systeminformation/"))).toBe(true);
    const bundle = readFileSync(join(dirname(built), "bundle.cjs"), "utf8");
    // A dynamic import left as `import("systeminformation")` would fail in an empty directory.
    expect(bundle).not.toMatch(/import\(\s*["']systeminformation["']\s*\)/);
  });

  it("generates a key, runs a drift cycle with SQLite from the embedded addon, and verifies its outbox", () => {
    const state = join(work, "state");
    const backups = join(work, "backups");
    mkdirSync(backups, { recursive: true });
    const baseline = join(work, "baseline.yaml");
    writeFileSync(
      baseline,
      [
        "version: 1",
        "id: test-v1",
        "baseline_version: 1.0.0",
        "description: binary test baseline",
        "checks:",
        "  - type: backup_freshness",
        "    id: backup_fresh",
        '    citation: ["164.308(a)(7)(ii)(A)"]',
        "    severity: high",
        `    directory: ${backups}`,
        "    max_age_hours: 24",
        // The headroom checks read the host through systeminformation, loaded on first use.
        "  - type: disk_usage",
        "    id: root_disk",
        '    citation: ["164.308(a)(7)(ii)(B)"]',
        "    severity: medium",
        "    mount: /",
        "    max_used_percent: 100",
        "  - type: cpu_load",
        "    id: cpu_headroom",
        '    citation: ["164.308(a)(7)(ii)(B)"]',
        "    severity: low",
        "    max_percent: 100",
        "    sample_ms: 100",
      ].join("\n"),
    );
    const config = join(work, "agent.yaml");
    writeFileSync(
      config,
      [
        "version: 1",
        "agent_id: srv-binary",
        "client_id: clinic-bin",
        "control_plane:",
        "  url: wss://127.0.0.1:1/v1/agent",
        `  ca_file: ${join(work, "ca.pem")}`,
        `  cert_file: ${join(work, "agent.crt")}`,
        `  key_file: ${join(work, "agent.key")}`,
        `  public_key: ${generateSigningKey().publicKey.toString("base64")}`,
        `evidence_key_file: ${join(state, "evidence.key")}`,
        `state_dir: ${state}`,
        `baseline_file: ${baseline}`,
      ].join("\n"),
    );
    const c = ["--config", config];
    expect(agent(["check", ...c])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/run `msp-agent keygen` first/),
    });
    const key = agent(["keygen", "--json", ...c]);
    expect(key.code).toBe(0);
    expect(JSON.parse(key.stdout)).toMatchObject({ fingerprint: expect.stringMatching(/^SHA256:/) });

    // No backup yet: the check fails and raises a backup_failure incident.
    const first = agent(["check", "--json", ...c]);
    expect(first.code, first.stderr).toBe(0);
    const cycle1 = JSON.parse(first.stdout);
    expect(cycle1).toMatchObject({
      seq: 1,
      results: [
        { check_id: "backup_fresh", status: "fail" },
        { check_id: "root_disk", status: "pass", observed: expect.stringMatching(/ at \/: [\d.]+% used/) },
        {
          check_id: "cpu_headroom",
          status: "pass",
          observed: expect.stringMatching(/^[\d.]+% over 100 ms$/),
        },
      ],
      incidents: [{ type: "backup_failure" }],
    });

    // A fresh backup: the next cycle passes and continues the chain.
    const archive = join(backups, "backup-1.tar.gz");
    writeFileSync(archive, "x".repeat(100));
    utimesSync(archive, new Date(), new Date());
    const second = JSON.parse(agent(["check", "--json", ...c]).stdout);
    expect(second).toMatchObject({
      seq: 2,
      results: [{ status: "pass" }, { status: "pass" }, { status: "pass" }],
      incidents: [],
    });

    expect(JSON.parse(agent(["status", "--json", ...c]).stdout)).toMatchObject({
      head: { last_seq: 2, acked_seq: 0 },
      outbox: { rows: 2 },
    });
    const verified = agent(["verify-outbox", ...c]);
    expect(verified).toMatchObject({ code: 0, stdout: expect.stringMatching(/ok: 2 bundle\(s\) verified/) });
  });
});
