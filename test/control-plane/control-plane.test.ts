/**
 * The control plane as a real server: enroll -> connect over mutual TLS ->
 * stream signed bundles -> signed cumulative acks; replayed and forged
 * bundles; an agent incident planned into a signed command; restart loses
 * nothing acknowledged; revoked and foreign certificates refused.
 */
import { canonicalBytes, PROTOCOL_VERSION, verifyBytes } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentSocket,
  agentChain,
  connectAgent,
  type EnrolledAgent,
  enrollTestAgent,
  startTestControlPlane,
  type TestControlPlane,
} from "../support/control-plane.js";
import { createTestPki } from "../support/pki.js";

let t: TestControlPlane;
let agent: EnrolledAgent;

const hello = (a: EnrolledAgent, lastSeq: number) => ({
  type: "hello",
  protocol_version: PROTOCOL_VERSION,
  agent_id: a.agentId,
  client_id: a.clientId,
  hostname: a.agentId,
  agent_version: "test",
  last_seq: lastSeq,
  catalog_sha256: "0".repeat(64),
});

async function open(a: EnrolledAgent): Promise<AgentSocket> {
  const s = await connectAgent(t, { certPem: a.certPem, keyPem: a.tlsKeyPem });
  if ("refused" in s) throw new Error(`refused with ${s.refused}`);
  return s;
}

/** Waits for an ack covering `seq`. */
async function ackUpTo(s: AgentSocket, seq: number) {
  for (;;) {
    const ack = (await s.next("ack")) as { receipt: { up_to_seq: number }; signature: { value: string } };
    if (ack.receipt.up_to_seq >= seq) return ack;
  }
}

beforeAll(async () => {
  t = await startTestControlPlane();
  const made = await t.api("POST", "/v1/clinics", t.adminKey, {
    client_id: "clinic-a",
    name: "Clinic A",
    service_allowlist: [],
    runbook_params: { "RB-BACKUP-001": { source_dir: "/srv/ehr", repository_dir: "/srv/backups" } },
  });
  expect(made.status).toBe(201);
  await t.api("POST", "/v1/clinics", t.adminKey, { client_id: "clinic-b", name: "Clinic B" });
  agent = await enrollTestAgent(t, "clinic-a", "srv-a1");
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

describe("control plane over real mTLS", () => {
  it("enrollment pins the control-plane key and a token works once", async () => {
    expect(agent.response.control_plane_public_key).toBe(t.cp.signingKey.publicKey.toString("base64"));
    expect(agent.response.ws_url).toBe(`wss://127.0.0.1:${t.cp.port}/v1/agent`);
    const listed = await t.api<{ agents: { agent_id: string; connection: string }[] }>(
      "GET",
      "/v1/clinics/clinic-a/agents",
      t.adminKey,
    );
    expect(listed.body.agents).toEqual([
      expect.objectContaining({ agent_id: "srv-a1", connection: "offline" }),
    ]);
    const again = await enrollTestAgent(t, "clinic-a", "srv-a1").catch((e: Error) => e.message);
    expect(again).toMatch(/enroll: 409/);
  });

  it("streams bundles and answers with signed cumulative acks; replay is a duplicate, forgery is refused", async () => {
    const s = await open(agent);
    s.send(hello(agent, 0));
    const welcome = (await s.next("welcome")) as { acked_seq: number };
    expect(welcome.acked_seq).toBe(0);
    const chain = agentChain(agent, 20);
    for (const b of chain) s.send({ type: "bundle", bundle: b });
    const ack = (await ackUpTo(s, 20)) as { receipt: Record<string, unknown>; signature: { value: string } };
    expect(
      verifyBytes(
        t.cp.signingKey.publicKey.toString("base64"),
        canonicalBytes(ack.receipt),
        Buffer.from(ack.signature.value, "base64"),
      ),
    ).toBe(true);

    s.send({ type: "bundle", bundle: chain[4] });
    expect(((await s.next("ack")) as { receipt: { up_to_seq: number } }).receipt.up_to_seq).toBe(20);
    const forged = { ...agentChain(agent, 1, 21, "f".repeat(64))[0], hostname: "tampered" };
    s.send({ type: "bundle", bundle: forged });
    const err = (await s.next("error")) as { code: string; seq: number };
    expect(err).toMatchObject({ code: "signature_invalid", seq: 21 });
    await s.close();

    const found = await t.api<{ bundles: unknown[] }>(
      "GET",
      "/v1/clinics/clinic-a/evidence?limit=100",
      t.adminKey,
    );
    expect(found.body.bundles).toHaveLength(20);
    const one = await t.api<{ verification: { signature: string; body_intact: boolean } }>(
      "GET",
      `/v1/clinics/clinic-a/evidence/${chain[0]?.bundle_id}`,
      t.adminKey,
    );
    expect(one.body.verification).toMatchObject({ signature: "valid", body_intact: true });
  });

  it("plans an agent's incident into a command signed by the control plane", async () => {
    const s = await open(agent);
    s.send(hello(agent, 20));
    await s.next("welcome");
    s.send({
      type: "incident",
      incident: {
        incident_id: "INC-20261121-0001",
        client_id: "clinic-a",
        agent_id: "srv-a1",
        hostname: "srv-a1",
        incident_type: "backup_failure",
        severity: "high",
        detected_at: new Date().toISOString(),
        source: "drift_check",
        check_id: "backup_freshness",
        details: { age_hours: 30 },
      },
    });
    let incident: { status: string; plan_id: string | null } = { status: "received", plan_id: null };
    for (let i = 0; i < 50 && (incident.status === "received" || incident.plan_id === null); i++) {
      await new Promise((r) => setTimeout(r, 50));
      const res = await t.api<{ incident: typeof incident }>(
        "GET",
        "/v1/clinics/clinic-a/incidents/INC-20261121-0001",
        t.adminKey,
      );
      if (res.status === 200) incident = res.body.incident;
    }
    if (incident.status === "awaiting_approval") {
      const approved = await t.api(
        "POST",
        `/v1/clinics/clinic-a/approvals/${incident.plan_id}/approve`,
        t.adminKey,
        {},
      );
      expect(approved.status).toBe(200);
    }
    const now = await t.api("GET", "/v1/clinics/clinic-a/incidents/INC-20261121-0001", t.adminKey);
    expect(now.body).toMatchObject({ incident: { status: "dispatched" } });
    const frame = (await s.next("execute_runbook")) as {
      command: Record<string, unknown>;
      signature: { value: string };
    };
    expect(frame.command).toMatchObject({
      runbook_id: "RB-BACKUP-001",
      agent_id: "srv-a1",
      incident_id: "INC-20261121-0001",
      params: { source_dir: "/srv/ehr", repository_dir: "/srv/backups" },
    });
    expect(
      verifyBytes(
        t.cp.signingKey.publicKey.toString("base64"),
        canonicalBytes(frame.command),
        Buffer.from(frame.signature.value, "base64"),
      ),
    ).toBe(true);
    const after = await t.api<{ incident: { status: string } }>(
      "GET",
      "/v1/clinics/clinic-a/incidents/INC-20261121-0001",
      t.adminKey,
    );
    expect(after.body.incident.status).toBe("dispatched");
    await s.close();
  });

  it("uploads every stored bundle to WORM and reports it in /metrics", async () => {
    let text = "";
    for (let i = 0; i < 100 && !text.includes('msp_worm_objects{state="uploaded"} 20'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = String((await t.api("GET", "/metrics", t.adminKey)).body);
    }
    expect(text).toContain('msp_worm_objects{state="uploaded"} 20');
    expect(text).toContain('msp_worm_objects{state="failed"} 0');
  });

  it("loses nothing acknowledged across a restart", async () => {
    await t.restart();
    const s = await open(agent);
    s.send(hello(agent, 20));
    expect(((await s.next("welcome")) as { acked_seq: number }).acked_seq).toBe(20);
    await s.close();
  });

  it("refuses a revoked agent, a foreign certificate and no certificate", async () => {
    const other = await enrollTestAgent(t, "clinic-a", "srv-a2");
    const revoke = await t.api("POST", "/v1/clinics/clinic-a/agents/srv-a2/revoke", t.adminKey);
    expect(revoke.status).toBe(200);
    expect(await connectAgent(t, { certPem: other.certPem, keyPem: other.tlsKeyPem })).toEqual({
      refused: 401,
    });
    const pki = createTestPki();
    try {
      // Well-formed identity of an enrolled agent, but issued by a CA this deployment never trusted.
      for (const cert of [
        pki.foreignClient({ client_id: "clinic-a", agent_id: "srv-a1" }),
        pki.selfSignedClient({ client_id: "clinic-a", agent_id: "srv-a1" }),
      ]) {
        expect(await connectAgent(t, { certPem: cert.cert, keyPem: cert.key })).toEqual({ refused: 401 });
      }
    } finally {
      pki.cleanup();
    }
    expect(await connectAgent(t, null)).toEqual({ refused: 401 });
  });
});
