/**
 * Real TLS handshakes over 127.0.0.1 with certificates from our own CA: the
 * TLS stack, not our code, decides who gets in, and the server then reads the
 * agent identity from the verified peer certificate.
 */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { type ConnectionOptions, connect, createServer } from "node:tls";
import { generateTlsKeyPair, systemClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { createCertificateAuthority } from "./authority.js";
import { type AgentCertificateIdentity, identityFromCertificate } from "./identity.js";

const ca = createCertificateAuthority({ clock: systemClock, commonName: "MSP Deployment CA" });
const server = ca.issueServerCertificate({ hostnames: ["localhost", "127.0.0.1"], days: 1 });
const foreignCa = createCertificateAuthority({ clock: systemClock, commonName: "MSP Deployment CA" });

interface Client {
  key: string;
  cert: string;
}

function clientFrom(authority: typeof ca, now?: Date, days = 1): Client {
  const pair = generateTlsKeyPair();
  const issued = authority.issueClientCertificate({
    clinicId: "clinic-a",
    agentId: "agent-7",
    publicKeyPem: pair.publicKeyPem,
    days,
    ...(now === undefined ? {} : { now }),
  });
  return { key: pair.privateKeyPem, cert: issued.certificate_pem };
}

interface Outcome {
  /** What the server read from the peer certificate, when the handshake was accepted. */
  identity: AgentCertificateIdentity | null | undefined;
  /** Whether the client got the server's greeting over the channel. */
  greeted: boolean;
  serverError: Error | undefined;
  /** The TLS verification code behind a server-side refusal, e.g. CERT_HAS_EXPIRED. */
  serverReason: string | undefined;
  clientError: Error | undefined;
}

/** Runs one connection against a fresh mTLS server on port 0 and reports what each side saw. */
async function attempt(
  client: Partial<Client> & ConnectionOptions,
  trust: string = ca.certificatePem,
  serverCa = ca.certificatePem,
): Promise<Outcome> {
  const outcome: Outcome = {
    identity: undefined,
    greeted: false,
    serverError: undefined,
    serverReason: undefined,
    clientError: undefined,
  };
  const srv = createServer(
    {
      key: server.privateKeyPem ?? "",
      cert: server.certificatePem,
      ca: [serverCa],
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      outcome.identity = socket.authorized ? identityFromCertificate(socket.getPeerCertificate()) : null;
      socket.end("hello\n");
    },
  );
  srv.on("tlsClientError", (e, socket) => {
    // Node destroys a rejected socket with a generic "socket hang up"; the reason stays on the socket.
    outcome.serverError = e;
    outcome.serverReason =
      socket.authorizationError === undefined ? undefined : String(socket.authorizationError);
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as AddressInfo;
  try {
    const socket = connect({ host: "127.0.0.1", port, ca: [trust], ...client });
    socket.on("error", (e) => {
      outcome.clientError = e;
    });
    socket.on("data", (d) => {
      if (d.toString() === "hello\n") outcome.greeted = true;
    });
    // Not events.once: it would reject on the client's expected "error" event.
    await new Promise((resolve) => socket.on("close", resolve));
    // The server's error event may trail the client's view of the closed socket.
    for (let i = 0; i < 50 && outcome.identity === undefined && outcome.serverError === undefined; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    srv.close();
    await once(srv, "close");
  }
  return outcome;
}

describe("mTLS with certificates from our CA", () => {
  it("accepts an agent certificate and the server reads its identity", async () => {
    const outcome = await attempt(clientFrom(ca));
    expect(outcome.clientError).toBeUndefined();
    expect(outcome.serverError).toBeUndefined();
    expect(outcome.greeted).toBe(true);
    expect(outcome.identity).toMatchObject({ client_id: "clinic-a", agent_id: "agent-7" });
    expect(outcome.identity?.serial).toMatch(/^[0-9a-f]{32}$/);
  });

  it("serves a certificate the agent matches by DNS name as well as by IP", async () => {
    const outcome = await attempt({ ...clientFrom(ca), servername: "localhost" });
    expect(outcome.clientError).toBeUndefined();
    expect(outcome.greeted).toBe(true);
    const wrongName = await attempt({ ...clientFrom(ca), servername: "elsewhere.example" });
    expect(wrongName.greeted).toBe(false);
    expect((wrongName.clientError as NodeJS.ErrnoException | undefined)?.code).toBe(
      "ERR_TLS_CERT_ALTNAME_INVALID",
    );
  });

  it("refuses a client certificate from another CA, even with the same CA name", async () => {
    const outcome = await attempt(clientFrom(foreignCa));
    expect(outcome.greeted).toBe(false);
    expect(outcome.identity).toBeUndefined();
    expect(outcome.serverReason).toMatch(
      /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|CERT_SIGNATURE_FAILURE)$/,
    );
  });

  it("refuses an expired client certificate", async () => {
    const outcome = await attempt(clientFrom(ca, new Date("2020-01-01T00:00:00Z"), 1));
    expect(outcome.greeted).toBe(false);
    expect(outcome.identity).toBeUndefined();
    expect(outcome.serverReason).toBe("CERT_HAS_EXPIRED");
  });

  it("refuses a client without a certificate", async () => {
    const outcome = await attempt({});
    expect(outcome.greeted).toBe(false);
    expect(outcome.identity).toBeUndefined();
    expect((outcome.serverError as NodeJS.ErrnoException | undefined)?.code).toBe(
      "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE",
    );
  });

  it("lets the agent refuse a server whose certificate chains to another CA", async () => {
    const outcome = await attempt(clientFrom(ca), foreignCa.certificatePem);
    expect(outcome.greeted).toBe(false);
    expect(outcome.identity).toBeUndefined();
    expect((outcome.clientError as NodeJS.ErrnoException | undefined)?.code).toMatch(
      /^(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)$/,
    );
  });
});
