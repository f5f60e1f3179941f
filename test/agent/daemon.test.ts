/**
 * The real daemon (in-process, FakeClock time, real SQLite, real runbook
 * scripts, real mTLS) against the stub control plane: drift bundles stream
 * and are acked, a signed command runs a real runbook and its evidence
 * arrives, forged commands are refused with evidence, a replay runs nothing,
 * and while the control plane is down a listed runbook runs offline under its
 * cooldown and everything replays on reconnect without loss or duplicates.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  canonicalBytes,
  type EvidenceBundle,
  FakeClock,
  generateSigningKey,
  type RunbookCommand,
  saveSigningKey,
  signBytes,
  verifyChain,
} from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentParts,
  createDaemon,
  type Daemon,
  type Logger,
  loadAgentConfig,
} from "../../agent/src/index.js";
import { driftDraft } from "../../agent/src/outbox/fixtures.js";
import { type IngestServer, startIngestServer } from "../support/ingest-server.js";
import { createTransportWorld, type TransportWorld, waitFor } from "../transport/harness.js";

const RUNBOOKS = resolve(import.meta.dirname, "..", "..", "runbooks");
const INTERVAL_S = 600;

let world: TransportWorld;
let server: IngestServer;
let daemon: Daemon;
let clock: FakeClock;
let parts: ReturnType<typeof agentParts>;
const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = { log: (level, msg, fields) => void logs.push({ level, msg, fields }) };
let diskDir: string;

const stored = () => server.stored("srv-primary");
const storedKinds = (pred: (b: EvidenceBundle) => boolean) => stored().filter(pred);

beforeAll(async () => {
  world = createTransportWorld();
  server = await startIngestServer(world.serverConfig("cp"));
  const state = join(world.dir, "agent-state");
  diskDir = join(world.dir, "disk");
  mkdirSync(diskDir, { recursive: true });
  // ~200 KB in a 0.1 MB quota: the disk_usage check fails and raises disk_full every cycle.
  writeFileSync(join(diskDir, "scan.dcm"), "x".repeat(200_000));
  await saveSigningKey(join(state, "evidence.key"), world.agent.evidenceKey);
  const baseline = join(world.dir, "baseline.yaml");
  writeFileSync(
    baseline,
    [
      "version: 1",
      "id: test-v1",
      "baseline_version: 1.0.0",
      "description: daemon test baseline",
      "checks:",
      "  - type: disk_usage",
      "    id: phi_quota",
      '    citation: ["164.308(a)(1)(ii)(D)"]',
      "    severity: high",
      `    directory: ${diskDir}`,
      "    quota_mb: 0.1",
      "    max_used_percent: 50",
    ].join("\n"),
  );
  const configFile = join(world.dir, "agent.yaml");
  writeFileSync(
    configFile,
    [
      "version: 1",
      "agent_id: srv-primary",
      "client_id: clinic-001",
      "hostname: srv-primary",
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
      `check_interval_seconds: ${INTERVAL_S}`,
      "offline_autonomy: [RB-DISK-001]",
      "offline_cooldown_seconds: 1800",
      "path_roots:",
      `  disk_targets: [${diskDir}]`,
    ].join("\n"),
  );
  clock = new FakeClock(new Date());
  parts = agentParts(loadAgentConfig(configFile), logger, { clock });
  daemon = createDaemon({
    parts,
    logger,
    clock,
    random: () => 0.5,
    offlineGraceMs: 60_000,
    renewCertificate: async () => {
      throw new Error("the test certificate is valid for two days; no renewal expected");
    },
    // Fake time: each reconnect attempt is a real connect, so keep attempts few per simulated cycle.
    transport: {
      backoff: { initialMs: 1_000, maxMs: 60_000 },
      welcomeTimeoutMs: 5_000,
      pingIntervalMs: 3_600_000,
    },
  });
  await daemon.start();
});

afterAll(async () => {
  await daemon?.stop("test over");
  await server?.stop();
  world?.cleanup();
});

function command(overrides: Partial<RunbookCommand> = {}): RunbookCommand {
  const now = clock.now().getTime();
  return {
    command_id: `CMD-${Math.random().toString(36).slice(2, 14)}`,
    agent_id: "srv-primary",
    client_id: "clinic-001",
    incident_id: null,
    runbook_id: "RB-DISK-001",
    runbook_sha256: "",
    params: { target_dir: diskDir, quota_mb: 1 },
    issued_at: new Date(now).toISOString(),
    expires_at: new Date(now + 600_000).toISOString(),
    dry_run: true,
    planner: { kind: "rules", confidence: 1, fallback_reason: null },
    approval: { decision: "not_required", approver: null, decided_at: null },
    ...overrides,
  };
}

async function pinnedSha(): Promise<string> {
  const rb = (await parts.executor()).get("RB-DISK-001");
  if (rb === undefined) throw new Error("RB-DISK-001 did not load: is runbooks/catalog.json current?");
  return rb.sha256;
}

const statusOf = (id: string) =>
  server.commandStatuses.find((s) => (s as { command_id: string }).command_id === id) as
    | { status: string; reason: string | null }
    | undefined;

describe("msp-agent run against the stub control plane", () => {
  it("streams the first drift cycle, gets it acked and sends the current incident", async () => {
    await waitFor("drift bundle stored", () => stored().some((b) => b.kind === "drift_check"));
    const outbox = await parts.outbox();
    await waitFor("outbox acked", () => outbox.head().acked_seq >= 1);
    await waitFor("incident sent", () => server.incidents.length >= 1);
    expect(server.incidents[0]).toMatchObject({ incident_type: "disk_full", check_id: "phi_quota" });
    expect(logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(["agent starting", "agent started", "drift cycle recorded"]),
    );
  });

  it("sends a bundle another writer appends while the link is idle at once, not at the next cycle", async () => {
    const outbox = await parts.outbox();
    await waitFor(
      "link idle",
      () => daemon.stats().transport === "ready" && outbox.head().acked_seq === outbox.head().last_seq,
    );
    // Not the daemon's drift loop, command handler or offline autonomy: a writer of the same outbox.
    // Fake time stands still, so no cycle, ack or reconnect can be what sends it.
    const bundle = await outbox.append(driftDraft());
    await server.ackSent("srv-primary", bundle.seq, 10_000);
    expect(stored().at(-1)).toEqual(bundle);
  });

  it("runs a signed command with a real runbook and streams its evidence", async () => {
    const cmd = command({ runbook_sha256: await pinnedSha() });
    expect(server.sendCommand("srv-primary", cmd)).toBe(true);
    await waitFor("accepted", () => statusOf(cmd.command_id)?.status === "accepted");
    await waitFor(
      "execution evidence stored",
      () => storedKinds((b) => b.execution?.command_id === cmd.command_id).length === 1,
      30_000,
    );
    const [bundle] = storedKinds((b) => b.execution?.command_id === cmd.command_id);
    expect(bundle).toMatchObject({
      kind: "runbook_execution",
      execution: { outcome: "dry_run", trigger: "control_plane" },
    });
    expect(bundle?.actions_taken.length).toBeGreaterThan(0);

    // The same command again: answered, not run.
    server.sendCommand("srv-primary", cmd);
    await waitFor("replay answered", () => server.commandStatuses.length >= 2);
    await daemon.commands().idle();
    expect(storedKinds((b) => b.execution?.command_id === cmd.command_id)).toHaveLength(1);
  });

  it("refuses forged commands with refusal evidence: bad signature, unknown runbook, bad params", async () => {
    const sha = await pinnedSha();
    const forged = command({ runbook_sha256: sha });
    const rogue = generateSigningKey();
    const badSig = {
      type: "execute_runbook",
      command: forged,
      signature: {
        alg: "ed25519",
        key_id: world.controlPlaneKey.keyId,
        value: signBytes(rogue, canonicalBytes(forged)).toString("base64"),
      },
    };
    expect(server.sendRaw("srv-primary", JSON.stringify(badSig))).toBe(true);
    const unknown = command({ runbook_id: "RB-ROGUE-001", runbook_sha256: sha });
    server.sendCommand("srv-primary", unknown);
    const badParams = command({ runbook_sha256: sha, params: { target_dir: "/etc" } });
    server.sendCommand("srv-primary", badParams);
    const cases: [string, RegExp][] = [
      [forged.command_id, /does not verify/],
      [unknown.command_id, /not in this agent's catalog/],
      [badParams.command_id, /invalid parameters/],
    ];
    for (const [id, reason] of cases) {
      await waitFor(`refusal of ${id}`, () => statusOf(id)?.status === "refused");
      expect(statusOf(id)?.reason).toMatch(reason);
      await waitFor(
        `refusal evidence of ${id}`,
        () => storedKinds((b) => b.execution?.command_id === id).length === 1,
      );
      const [bundle] = storedKinds((b) => b.execution?.command_id === id);
      expect(bundle).toMatchObject({
        kind: "runbook_refusal",
        actions_taken: [],
        execution: { outcome: "refused" },
      });
    }
  });

  it("runs a listed runbook offline under its cooldown and replays everything on reconnect", async () => {
    const outbox = await parts.outbox();
    const port = server.port;
    await server.stop();
    await waitFor("transport down", () => daemon.stats().transport !== "ready");
    const offlineRuns = () =>
      outbox.pending(0, 10_000).filter((b) => b.execution?.trigger === "offline_autonomy");

    // Cycle 2: unreachable for longer than the grace, so the disk_full incident starts RB-DISK-001.
    let next = daemon.nextCycle();
    await clock.advance(INTERVAL_S * 1000);
    await next;
    await waitFor("offline run evidence", () => offlineRuns().length === 1, 30_000);
    expect(offlineRuns()[0]).toMatchObject({
      kind: "runbook_execution",
      incident: { event_type: "disk_full" },
      runbook: { runbook_id: "RB-DISK-001" },
    });

    // Cycle 3, 600 s later: inside the 1800 s cooldown, nothing runs.
    next = daemon.nextCycle();
    await clock.advance(INTERVAL_S * 1000);
    await next;
    await new Promise((r) => setTimeout(r, 300));
    expect(offlineRuns()).toHaveLength(1);
    expect(logs.some((l) => l.msg === "offline runbook in cooldown")).toBe(true);

    // The control plane comes back on the same port; the backlog replays.
    const lastSeq = outbox.head().last_seq;
    server = await startIngestServer(world.serverConfig("cp", { port }));
    await waitFor(
      "reconnected and acked",
      () => {
        void clock.advance(15_000);
        return outbox.head().acked_seq === lastSeq;
      },
      20_000,
      50,
    );
    const all = stored();
    expect(all.map((b) => b.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    expect(verifyChain(all).ok).toBe(true);
    expect(all.filter((b) => b.execution?.trigger === "offline_autonomy")).toHaveLength(1);
    // Only the current incident of the offline period is sent on reconnect, not one per cycle.
    await waitFor("current incident re-sent", () => server.incidents.length === 1);
  });

  it("stops gracefully and logs it", async () => {
    await daemon.stop("test");
    expect(logs.filter((l) => l.msg === "agent stopped")).toMatchObject([
      { fields: { reason: "test", clean: true } },
    ]);
  });
});
