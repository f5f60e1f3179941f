/**
 * Invariant 4 for agents: the agent WebSocket admits only a client
 * certificate issued by this control plane's CA at enrollment, unexpired,
 * unrevoked, and used by the agent and clinic it names; and nothing below
 * TLS 1.2. Each refusal is checked against a real control plane on
 * 127.0.0.1 with real certificates (openssl for the foreign ones, the
 * control plane's own CA for the expired one), next to a positive control
 * (the enrolled certificate connects), and stores nothing.
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { type RenewalRequest, systemClock } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { createRegistry } from "../../control-plane/src/registry/index.js";
import {
  type AgentSocket,
  agentChain,
  connectAgent,
  type EnrolledAgent,
  enrollTestAgent,
  startTestControlPlane,
} from "../support/control-plane.js";
import { createTestPki } from "../support/pki.js";
import { digest, metric, send } from "./harness.js";

const t = await startTestControlPlane();
const pki = createTestPki();
afterAll(async () => {
  await t.stop();
  pki.cleanup();
});
for (const id of ["clinic-a", "clinic-b"]) {
  if ((await t.api("POST", "/v1/clinics", t.adminKey, { client_id: id, name: id })).status !== 201)
    throw new Error(`clinic ${id}`);
}
const a = await enrollTestAgent(t, "clinic-a", "srv-a");
const b = await enrollTestAgent(t, "clinic-b", "srv-b");
const credsOf = (x: EnrolledAgent) => ({ certPem: x.certPem, keyPem: x.tlsKeyPem });

function helloOf(x: { agentId: string; clientId: string }) {
  return {
    type: "hello",
    protocol_version: 1,
    agent_id: x.agentId,
    client_id: x.clientId,
    hostname: x.agentId,
    agent_version: "mtls-test",
    last_seq: 0,
    catalog_sha256: "0".repeat(64),
  };
}

/** Connects with `creds` and expects the upgrade refused with one of `statuses`, storing nothing. */
async function expectRefused(creds: { certPem: string; keyPem: string } | null, statuses: number[]) {
  const before = digest(t.cp.db);
  const res = await connectAgent(t, creds);
  if ("ws" in res) await res.close();
  expect(res).toHaveProperty("refused");
  expect(statuses).toContain((res as { refused: number }).refused);
  expect(digest(t.cp.db)).toEqual(before);
}

const refusedHandshakes = async () =>
  metric((await send(t, "GET", "/metrics", { key: t.adminKey })).text, "msp_tls_handshakes_refused_total");

describe("mTLS on the agent WebSocket", () => {
  it("admits the enrolled certificate (the positive control)", async () => {
    const s = (await connectAgent(t, credsOf(a))) as AgentSocket;
    s.send(helloOf(a));
    expect(await s.next("welcome")).toMatchObject({ type: "welcome", acked_seq: 0 });
    await s.close();
  });

  it("refuses a connection without a client certificate (401)", async () => {
    await expectRefused(null, [401]);
  });

  it("refuses a self-signed certificate carrying the agent's identity (401)", async () => {
    const cert = pki.selfSignedClient({ agent_id: "srv-a", client_id: "clinic-a" });
    await expectRefused({ certPem: cert.cert, keyPem: cert.key }, [401]);
  });

  it("refuses a certificate from another CA carrying the agent's identity (401)", async () => {
    const cert = pki.foreignClient({ agent_id: "srv-a", client_id: "clinic-a" });
    await expectRefused({ certPem: cert.cert, keyPem: cert.key }, [401]);
  });

  it("refuses an expired certificate that this CA issued to the agent and the registry knows (401)", async () => {
    // The agent's earlier certificate, as a renewal three days ago valid for one day would have left it.
    const issuedAt = new Date(Date.now() - 3 * 86_400_000);
    const registry = createRegistry(t.cp.db, systemClock);
    const tlsPublicKey = createPublicKey(a.tlsKeyPem).export({ type: "spki", format: "pem" }).toString();
    const old = registry.renew("srv-a", { tls_public_key: tlsPublicKey } as RenewalRequest, (r) =>
      t.cp.ca.issueClientCertificate({
        clinicId: r.clientId,
        agentId: r.agentId,
        publicKeyPem: r.publicKeyPem,
        days: 1,
        now: issuedAt,
      }),
    );
    const x509 = new X509Certificate(old.certificate_pem);
    expect(x509.verify(new X509Certificate(t.caPem).publicKey)).toBe(true);
    expect(new Date(x509.validTo).getTime()).toBeLessThan(Date.now());
    expect(registry.certificateStatus({ serial: old.serial, agentId: "srv-a", clientId: "clinic-a" })).toBe(
      "ok",
    );
    await expectRefused({ certPem: old.certificate_pem, keyPem: a.tlsKeyPem }, [401]);
  });

  it("refuses a revoked agent's certificate, which connected before the revocation", async () => {
    const r = await enrollTestAgent(t, "clinic-a", "srv-revoked");
    const s = (await connectAgent(t, credsOf(r))) as AgentSocket;
    s.send(helloOf(r));
    await s.next("welcome");
    await s.close();
    expect(
      (await t.api("POST", "/v1/clinics/clinic-a/agents/srv-revoked/revoke", t.adminKey, {})).status,
    ).toBe(200);
    // agent-ws documents 403 for a revoked agent; the server's identify() already maps a revoked
    // certificate to "no identity", so the refusal arrives as 401. Either is a refusal before any socket.
    await expectRefused(credsOf(r), [401, 403]);
  });

  it("refuses another clinic's certificate speaking for this clinic's agent, storing nothing", async () => {
    const before = digest(t.cp.db);
    // Hello as clinic-a's agent over clinic-b's certificate: forbidden, then closed (1008).
    const s = (await connectAgent(t, credsOf(b))) as AgentSocket;
    const closed = new Promise<number>((r) => s.ws.once("close", (code) => r(code)));
    s.send(helloOf(a));
    expect(await s.next("error")).toMatchObject({ code: "forbidden" });
    expect(await closed).toBe(1008);
    expect(digest(t.cp.db)).toEqual(before);

    // Clinic-a's bundle over clinic-b's own session: refused as foreign and recorded as an anomaly.
    const s2 = (await connectAgent(t, credsOf(b))) as AgentSocket;
    s2.send(helloOf(b));
    await s2.next("welcome");
    s2.send({ type: "bundle", bundle: agentChain(a, 1)[0] });
    expect(await s2.next("error")).toMatchObject({ code: "forbidden" });
    await s2.close();
    const rows = t.cp.db.prepare("SELECT count(*) AS n FROM evidence_bundles").get() as { n: number };
    expect(rows.n).toBe(0);
    const anomalies = await t.api<{ anomalies: { kind: string; agent_id: string }[] }>(
      "GET",
      "/v1/clinics/clinic-b/anomalies",
      t.adminKey,
    );
    expect(anomalies.body.anomalies).toMatchObject([{ kind: "foreign", agent_id: "srv-b" }]);
  });

  it("refuses TLS 1.1 on the server side, even from a client willing to speak it", async () => {
    const before = await refusedHandshakes();
    const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const socket = connect({
        host: "127.0.0.1",
        port: t.cp.port,
        ca: t.caPem,
        cert: a.certPem,
        key: a.tlsKeyPem,
        minVersion: "TLSv1",
        maxVersion: "TLSv1.1",
        // Node's OpenSSL refuses TLS 1.0/1.1 itself at the default security level; level 0 lets
        // this client offer them, so the refusal below can only come from the server.
        ciphers: "DEFAULT@SECLEVEL=0",
      });
      socket.once("secureConnect", () => {
        socket.destroy();
        reject(new Error(`handshake succeeded with ${socket.getProtocol()}`));
      });
      socket.once("error", resolve);
    });
    // The server's "protocol version" alert: the client offered TLS 1.1 and the server said no.
    expect(error.code).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    await expect.poll(refusedHandshakes).toBeGreaterThan(before);
  });

  it("accepts TLS 1.2 with the enrolled certificate (the protocol floor is 1.2, not higher)", async () => {
    const protocol = await new Promise<string | null>((resolve, reject) => {
      const socket = connect({
        host: "127.0.0.1",
        port: t.cp.port,
        ca: t.caPem,
        cert: a.certPem,
        key: a.tlsKeyPem,
        maxVersion: "TLSv1.2",
      });
      socket.once("secureConnect", () => {
        const p = socket.getProtocol();
        socket.destroy();
        resolve(p);
      });
      socket.once("error", reject);
    });
    expect(protocol).toBe("TLSv1.2");
  });
});
