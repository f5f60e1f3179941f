/**
 * The real agent against the real control plane, end to end and in-process:
 * the agent's own `enroll()` turns an API-issued token into keys, certificate
 * and config; the daemon built from that config streams drift evidence that
 * the control plane stores and acks; the incident the agent raises is planned,
 * approved through the API, signed, verified and run by the agent with a real
 * runbook; its evidence closes the command and the incident; and `renew()`
 * gets a new certificate from the real `/v1/agents/renew`.
 *
 * Everything the runbook may touch lives in a temp directory: the agent's
 * path roots point only there, so no host file or service is ever acted on.
 */
import { X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type AgentConfig, canonicalBytes, type JsonValue, systemClock, verifyBytes } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentParts,
  createDaemon,
  type Daemon,
  type EnrollResult,
  enroll,
  type Logger,
  loadAgentConfig,
  renew,
} from "../../agent/src/index.js";
import { connectAgent, startTestControlPlane, type TestControlPlane } from "../support/control-plane.js";

const RUNBOOKS = resolve(import.meta.dirname, "..", "..", "runbooks");
const CLINIC = "clinic-e2e";
const AGENT = "srv-e2e";

let t: TestControlPlane;
let work: string;
let diskDir: string;
let enrolled: EnrollResult;
let config: AgentConfig;
let daemon: Daemon | undefined;
const logs: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
const logger: Logger = { log: (level, msg, fields) => void logs.push({ level, msg, fields }) };

/** Polls an async probe until it returns a value (not undefined), or fails naming what it waited for. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      const tail = logs.slice(-15).map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields ?? {})}`);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nagent log:\n${tail.join("\n")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function get<T>(path: string): Promise<T> {
  const res = await t.api<T>("GET", path, t.adminKey);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

interface IncidentView {
  incident_id: string;
  agent_id: string;
  incident_type: string;
  status: string;
  plan_id: string | null;
  command_id: string | null;
  bundle_id: string | null;
}
interface CommandView {
  command_id: string;
  incident_id: string | null;
  runbook_id: string;
  dry_run: boolean;
  params: Record<string, unknown>;
  status: string;
  status_reason: string | null;
  bundle_id: string | null;
  frame: string;
}
interface BundleView {
  bundle_id: string;
  agent_id: string;
  kind: string;
  seq: number;
}

beforeAll(async () => {
  t = await startTestControlPlane();
  work = mkdtempSync(join(tmpdir(), "msp-e2e-"));
  diskDir = join(work, "disk");
  const tmpRoot = join(work, "tmp");
  const logRoot = join(work, "log");
  for (const d of [diskDir, tmpRoot, logRoot]) mkdirSync(d, { recursive: true });
  // ~200 KB against a 0.1 MB quota: the drift check fails and raises disk_full.
  writeFileSync(join(diskDir, "scan.dcm"), "x".repeat(200_000));

  const clinic = await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "Clinic E2E" });
  expect(clinic.status).toBe(201);
  // Site parameters: the planner fills the runbook's target from these, all inside the temp dir.
  const params = await t.api("POST", `/v1/clinics/${CLINIC}/runbook-params`, t.adminKey, {
    runbook_id: "RB-DISK-001",
    params: { target_dir: diskDir, quota_mb: 1, temp_dir: tmpRoot, log_dir: logRoot },
  });
  expect(params.status).toBe(200);
  const token = await t.api<{ token: string }>(
    "POST",
    `/v1/clinics/${CLINIC}/enrollment-tokens`,
    t.adminKey,
    {},
  );
  expect(token.status).toBe(201);

  const baselineFile = join(work, "baseline.yaml");
  enrolled = await enroll({
    url: `https://127.0.0.1:${t.cp.port}`,
    token: token.body.token,
    caPem: readFileSync(join(t.dir, "ca.crt"), "utf8"),
    agentId: AGENT,
    hostname: AGENT,
    clinicId: CLINIC,
    configOut: join(work, "etc", "agent.yaml"),
    stateDir: join(work, "state"),
    baselineFile,
    runbooksDir: RUNBOOKS,
  });
  // JSON is YAML: the test package does not depend on a YAML writer.
  writeFileSync(
    baselineFile,
    JSON.stringify({
      version: 1,
      id: "e2e-v1",
      baseline_version: "1.0.0",
      description: "end-to-end baseline",
      checks: [
        {
          type: "disk_usage",
          id: "phi_quota",
          citation: ["164.308(a)(1)(ii)(D)"],
          severity: "high",
          directory: diskDir,
          quota_mb: 0.1,
          max_used_percent: 50,
        },
      ],
    }),
  );
  // The operator's edit after enrollment: one cycle per hour (only the first runs here), no offline
  // runs, and path roots confined to the temp dir.
  writeFileSync(
    enrolled.config_file,
    JSON.stringify({
      ...loadAgentConfig(enrolled.config_file),
      hostname: AGENT,
      check_interval_seconds: 3600,
      offline_autonomy: [],
      path_roots: { disk_targets: [diskDir], tmp: [tmpRoot], log: [logRoot] },
    }),
  );
  config = loadAgentConfig(enrolled.config_file);
}, 60_000);

afterAll(async () => {
  await daemon?.stop("test over");
  await t?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("the real agent against the real control plane", () => {
  it("enrolls with the agent's own client: config pins the control plane and names its WebSocket", () => {
    expect(enrolled).toMatchObject({ agent_id: AGENT, client_id: CLINIC });
    expect(config.control_plane.url).toBe(`wss://127.0.0.1:${t.cp.port}/v1/agent`);
    expect(config.control_plane.public_key).toBe(t.cp.signingKey.publicKey.toString("base64"));
    const cert = new X509Certificate(readFileSync(enrolled.cert_file));
    expect(cert.subjectAltName).toBe(`URI:urn:msp:clinic:${CLINIC}:agent:${AGENT}`);
  });

  it("streams drift evidence that the control plane stores, acks and chains", async () => {
    const parts = agentParts(config, logger, { clock: systemClock });
    daemon = createDaemon({
      parts,
      logger,
      clock: systemClock,
      renewCertificate: async () => {
        throw new Error("a fresh certificate needs no renewal during the test");
      },
      transport: { backoff: { initialMs: 200, maxMs: 2_000 }, welcomeTimeoutMs: 5_000 },
    });
    await daemon.start();
    const outbox = await parts.outbox();
    await until("the first drift bundle acked", async () =>
      outbox.head().acked_seq >= 1 ? true : undefined,
    );

    const found = await get<{ bundles: BundleView[] }>(
      `/v1/clinics/${CLINIC}/evidence?agent_id=${AGENT}&kind=drift_check`,
    );
    expect(found.bundles.length).toBeGreaterThanOrEqual(1);
    expect(found.bundles[0]).toMatchObject({ agent_id: AGENT, kind: "drift_check" });
    const one = await get<{ verification: { signature: string; body_intact: boolean } }>(
      `/v1/clinics/${CLINIC}/evidence/${found.bundles[0]?.bundle_id}`,
    );
    expect(one.verification).toMatchObject({ signature: "valid", body_intact: true });
    const chains = await get<{ chains: { agent_id: string }[] }>(`/v1/clinics/${CLINIC}/chains`);
    expect(chains.chains).toEqual([expect.objectContaining({ agent_id: AGENT })]);
    const agents = await get<{ agents: { agent_id: string; connection: string }[] }>(
      `/v1/clinics/${CLINIC}/agents`,
    );
    expect(agents.agents).toEqual([expect.objectContaining({ agent_id: AGENT, connection: "online" })]);
  });

  // Regression: drift prose such as "uses <= 50%" once made the guardrails drop every agent incident.
  it("accepts the disk_full incident the agent raised over its WebSocket", async () => {
    await until(
      "the agent's disk_full incident stored",
      async () => {
        const list = await get<{ incidents: IncidentView[] }>(`/v1/clinics/${CLINIC}/incidents`);
        return list.incidents.find((x) => x.agent_id === AGENT && x.incident_type === "disk_full");
      },
      3_000,
    );
  });

  it("turns the agent's own incident into a signed command the agent verifies and runs, closing both", async () => {
    const raised = await until("the agent's disk_full incident stored", async () => {
      const list = await get<{ incidents: IncidentView[] }>(`/v1/clinics/${CLINIC}/incidents`);
      return list.incidents.find((x) => x.agent_id === AGENT && x.incident_type === "disk_full");
    });
    const incidentId = raised.incident_id;
    const incident = await until("the incident planned", async () => {
      const { incident: i } = await get<{ incident: IncidentView }>(
        `/v1/clinics/${CLINIC}/incidents/${incidentId}`,
      );
      return i.status !== "received" && i.plan_id !== null ? i : undefined;
    });
    expect(incident.status).not.toBe("failed");
    if (incident.status === "awaiting_approval") {
      const approved = await t.api(
        "POST",
        `/v1/clinics/${CLINIC}/approvals/${incident.plan_id}/approve`,
        t.adminKey,
        {},
      );
      expect(approved.status).toBe(200);
    }
    const command = await until(
      "the command closed with execution evidence",
      async () => {
        const { commands } = await get<{ commands: CommandView[] }>(`/v1/clinics/${CLINIC}/commands`);
        const c = commands.find((x) => x.incident_id === incident.incident_id);
        return c !== undefined && (c.status === "succeeded" || c.status === "failed") ? c : undefined;
      },
      60_000,
    );
    expect(command).toMatchObject({
      runbook_id: "RB-DISK-001",
      status: "succeeded",
      dry_run: false,
      params: expect.objectContaining({ target_dir: diskDir }),
      bundle_id: expect.stringMatching(/^EB-/),
    });
    const evidence = await get<{
      bundle: { kind: string; execution: { command_id: string; trigger: string; outcome: string } };
      verification: { signature: string };
    }>(`/v1/clinics/${CLINIC}/evidence/${command.bundle_id}`);
    expect(evidence.verification.signature).toBe("valid");
    expect(evidence.bundle).toMatchObject({
      kind: "runbook_execution",
      execution: { command_id: command.command_id, trigger: "control_plane", outcome: "success" },
    });
    // What the agent verified before running: the frame as sent, signed by the key enrollment pinned.
    const frame = JSON.parse(command.frame) as { command: JsonValue; signature: { value: string } };
    expect(
      verifyBytes(
        config.control_plane.public_key,
        canonicalBytes(frame.command),
        Buffer.from(frame.signature.value, "base64"),
      ),
    ).toBe(true);
    const closed = await until("the incident closed", async () => {
      const { incident: now } = await get<{ incident: IncidentView }>(
        `/v1/clinics/${CLINIC}/incidents/${incident.incident_id}`,
      );
      return now.bundle_id !== null ? now : undefined;
    });
    expect(closed).toMatchObject({ command_id: command.command_id, bundle_id: command.bundle_id });
    expect(closed.status).toBe("resolved");
    // The test data is still there: the runbook acted on the temp dir only and deletes no PHI.
    expect(readFileSync(join(diskDir, "scan.dcm"), "utf8")).toHaveLength(200_000);
  });

  it("records an operator's incident for the same host and runbook inside the cooldown as rate_limited", async () => {
    const incidentId = `INC-${new Date().toISOString().slice(0, 10).replaceAll("-", "")}-e2e-disk`;
    const submitted = await t.api<{ status: string; retry_at: string | null; command_id: string | null }>(
      "POST",
      `/v1/clinics/${CLINIC}/incidents`,
      t.adminKey,
      {
        incident_id: incidentId,
        client_id: CLINIC,
        agent_id: AGENT,
        hostname: AGENT,
        incident_type: "disk_full",
        severity: "high",
        detected_at: new Date().toISOString(),
        source: "operator",
        details: { observed: "195 KB of a 0.1 MB quota" },
      },
    );
    expect(submitted.status).toBe(201);
    expect(submitted.body).toMatchObject({ status: "rate_limited", command_id: null });
    expect(submitted.body.retry_at).not.toBeNull();
  });

  it("refuses a second run of the same runbook on the same host inside the cooldown, sending nothing", async () => {
    const before = await get<{ commands: CommandView[] }>(`/v1/clinics/${CLINIC}/commands`);
    const res = await t.api<{ error: { code: string; details: { limit: string } } }>(
      "POST",
      `/v1/clinics/${CLINIC}/executions`,
      t.adminKey,
      {
        agent_id: AGENT,
        runbook_id: "RB-DISK-001",
        params: { target_dir: diskDir, quota_mb: 1 },
        dry_run: true,
        reason: "end-to-end dry run",
      },
    );
    expect(res.status).toBe(429);
    expect(JSON.stringify(res.body)).toMatch(/ran on this host too recently/);
    const after = await get<{ commands: CommandView[] }>(`/v1/clinics/${CLINIC}/commands`);
    expect(after.commands).toHaveLength(before.commands.length);
  });

  it("renews its certificate at the real /v1/agents/renew and connects with the new one", async () => {
    const oldCert = readFileSync(enrolled.cert_file, "utf8");
    const oldKey = readFileSync(enrolled.key_file, "utf8");
    const issued = await renew({ agentId: AGENT, controlPlane: config.control_plane });
    const newCert = readFileSync(enrolled.cert_file, "utf8");
    expect(newCert).toBe(issued.certificate_pem);
    expect(newCert).not.toBe(oldCert);
    expect(readFileSync(enrolled.key_file, "utf8")).not.toBe(oldKey);
    expect(new X509Certificate(newCert).subjectAltName).toBe(`URI:urn:msp:clinic:${CLINIC}:agent:${AGENT}`);
    const socket = await connectAgent(t, {
      certPem: newCert,
      keyPem: readFileSync(enrolled.key_file, "utf8"),
    });
    expect(socket).not.toHaveProperty("refused");
    if (!("refused" in socket)) await socket.close();
  });
});
