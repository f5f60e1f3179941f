/**
 * A small enrollment endpoint for the agent's enrollment client tests, until
 * the control plane's own exists: HTTPS on 127.0.0.1 with the test PKI's
 * server certificate, `POST /v1/enroll` validated with the shared schema and
 * both proofs of possession verified, and `POST /v1/agents/renew` over mTLS.
 * Certificates are issued by the `openssl` CLI for the submitted public key
 * (`x509 -new -force_pubkey`), bound to clinic and agent by the SAN URI.
 */
import { execFileSync } from "node:child_process";
import { verify } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { canonicalBytes, EnrollmentRequest, RenewalRequest, type SigningKey, verifyBytes } from "@msp/shared";
import type { TestPki } from "../support/pki.js";

/** What the stub was asked and answered, for assertions. */
export interface EnrollServer {
  url: string;
  requests: unknown[];
  /** Valid tokens and the clinic each enrolls into; a token works once. */
  tokens: Map<string, string>;
  stop(): Promise<void>;
}

let serial = 0;

/** Issues a client certificate for `publicKeyPem`, valid for `days`, from the test CA. */
export function issueFor(
  pki: TestPki,
  publicKeyPem: string,
  clinic: string,
  agent: string,
  days = 2,
): string {
  const n = ++serial;
  const pub = join(pki.dir, `enroll-${n}.pub`);
  const ext = join(pki.dir, `enroll-${n}.ext`);
  const out = join(pki.dir, `enroll-${n}.crt`);
  writeFileSync(pub, publicKeyPem);
  writeFileSync(
    ext,
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:urn:msp:clinic:${clinic}:agent:${agent}\n`,
  );
  execFileSync(
    "openssl",
    [
      "x509",
      "-new",
      "-force_pubkey",
      pub,
      "-subj",
      `/O=${clinic}/CN=${agent}`,
      "-CA",
      pki.ca.certFile,
      "-CAkey",
      pki.ca.keyFile,
      "-days",
      String(days),
      "-extfile",
      ext,
      "-out",
      out,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return readFileSync(out, "utf8");
}

function answerOf(pki: TestPki, certificatePem: string) {
  const info = execFileSync("openssl", ["x509", "-noout", "-serial", "-startdate", "-enddate"], {
    input: certificatePem,
    encoding: "utf8",
  });
  const field = (name: string) => new RegExp(`${name}=(.*)`).exec(info)?.[1]?.trim() ?? "";
  return {
    certificate_pem: certificatePem,
    ca_pem: pki.ca.cert,
    serial: field("serial").toLowerCase().slice(0, 40),
    not_before: new Date(field("notBefore")).toISOString(),
    not_after: new Date(field("notAfter")).toISOString(),
  };
}

/** Starts the stub; `cpKey` is the control-plane key it pins in its answers. */
export async function startEnrollServer(
  pki: TestPki,
  cpKey: SigningKey,
  wsUrl: string,
): Promise<EnrollServer> {
  const requests: unknown[] = [];
  const tokens = new Map<string, string>();
  const server: Server = createServer({
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca.cert,
    requestCert: true,
    rejectUnauthorized: false,
  });
  server.on("request", (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const reply = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return reply(400, { error: { code: "invalid_input", message: "not JSON" } });
      }
      requests.push(json);
      if (req.method === "POST" && req.url === "/v1/enroll") {
        const parsed = EnrollmentRequest.safeParse(json);
        if (!parsed.success) return reply(400, { error: { code: "invalid_input", message: "schema" } });
        const r = parsed.data;
        const clinic = tokens.get(r.token);
        if (clinic === undefined)
          return reply(401, { error: { code: "unauthenticated", message: "unknown or used token" } });
        const body = canonicalBytes({
          purpose: "msp-enroll-v1",
          token: r.token,
          agent_id: r.agent_id,
          evidence_public_key: r.evidence_public_key,
          tls_public_key: r.tls_public_key,
        });
        const evidenceOk = verifyBytes(r.evidence_public_key, body, Buffer.from(r.evidence_proof, "base64"));
        const tlsOk = verify("sha256", body, r.tls_public_key, Buffer.from(r.tls_proof, "base64"));
        if (!evidenceOk || !tlsOk)
          return reply(422, { error: { code: "signature_invalid", message: "proof" } });
        tokens.delete(r.token);
        return reply(200, {
          agent_id: r.agent_id,
          client_id: clinic,
          certificate: answerOf(pki, issueFor(pki, r.tls_public_key, clinic, r.agent_id)),
          control_plane_public_key: cpKey.publicKey.toString("base64"),
          control_plane_key_id: cpKey.keyId,
          ws_url: wsUrl,
        });
      }
      if (req.method === "POST" && req.url === "/v1/agents/renew") {
        const socket = req.socket as TLSSocket;
        const san = socket.authorized ? (socket.getPeerCertificate().subjectaltname ?? "") : "";
        const m = /URI:urn:msp:clinic:([a-z0-9-]+):agent:([a-z0-9-]+)/.exec(san);
        if (m?.[1] === undefined || m[2] === undefined)
          return reply(401, { error: { code: "unauthenticated", message: "client certificate required" } });
        const parsed = RenewalRequest.safeParse(json);
        if (!parsed.success) return reply(400, { error: { code: "invalid_input", message: "schema" } });
        const body = canonicalBytes({
          purpose: "msp-renew-v1",
          agent_id: m[2],
          tls_public_key: parsed.data.tls_public_key,
        });
        if (!verify("sha256", body, parsed.data.tls_public_key, Buffer.from(parsed.data.tls_proof, "base64")))
          return reply(422, { error: { code: "signature_invalid", message: "proof" } });
        return reply(200, {
          certificate: answerOf(pki, issueFor(pki, parsed.data.tls_public_key, m[1], m[2], 30)),
        });
      }
      reply(404, { error: { code: "not_found", message: "no route" } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    tokens,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
