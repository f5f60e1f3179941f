/**
 * The control-plane side of the ingest and connections benches: the real
 * agent endpoint and ingest pipeline behind an HTTPS server with mTLS,
 * composed as `control-plane/src/server/index.ts` composes them, in the
 * calling (bench) process. Agents are identified exactly as in production:
 * from the SAN URI of a client certificate that the handshake verified
 * against the control plane's own CA (`pki/authority.ts`). The bench's agents
 * are not enrolled through the API (a CSR and a proof each): their evidence
 * keys are derived from a seed both sides know, see {@link benchEvidenceKey}.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import { type AgentEndpoint, createAgentEndpoint } from "../../control-plane/src/agent-ws/index.js";
import { type Db, migrate, openDatabase } from "../../control-plane/src/db/index.js";
import { createIngest, EVIDENCE_MIGRATIONS, type Ingest } from "../../control-plane/src/evidence/index.js";
import { newCaKeyAndCertificate, openCertificateAuthority } from "../../control-plane/src/pki/authority.js";
import { identityFromCertificate } from "../../control-plane/src/pki/identity.js";
import {
  generateSigningKey,
  type SigningKey,
  signingKeyFromSeed,
  systemClock,
} from "../../shared/src/index.js";

/** The clinic every bench agent belongs to. */
export const BENCH_CLINIC = "clinic-bench";

/**
 * A bench agent's evidence key, derived from its id: the load generator signs
 * with it and the server verifies with its public half, so neither has to
 * ship thousands of keys to the other.
 */
export function benchEvidenceKey(agentId: string): SigningKey {
  return signingKeyFromSeed(createHash("sha256").update(`msp-bench-evidence:${agentId}`).digest());
}

/** What the load generator needs to reach the server and issue its agents' certificates. */
export interface BenchTls {
  url: string;
  /** The CA certificate (PEM): the agents' trust anchor. */
  caPem: string;
  /** The CA key (PEM), so a load generator issues its agents' client certificates in its own process. */
  caKeyPem: string;
}

/** A running bench server. */
export interface BenchServer {
  tls: BenchTls;
  ingest: Ingest;
  endpoint: AgentEndpoint;
  db: Db;
  /** Server-side latencies (ms) of the bundles since the last call: submit to ingest -> outcome after commit. */
  takeTimings(): number[];
  /** Enrols agents `prefix0 .. prefix(n-1)` (their evidence public keys); returns their ids. */
  enrol(prefix: string, n: number): string[];
  close(): Promise<void>;
}

/** Options of {@link startBenchServer}. */
export interface BenchServerOptions {
  /** Directory for the SQLite file. */
  dir: string;
  /** Verify worker threads. */
  workers: number;
  /** Endpoint tuning, as the production defaults unless a bench says otherwise. */
  helloTimeoutMs?: number;
  maxPendingPerConnection?: number;
}

/** Starts the server on 127.0.0.1, port 0. */
export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const ca = newCaKeyAndCertificate({ clock: systemClock, commonName: "MSP bench CA" });
  const authority = openCertificateAuthority({ ...ca, clock: systemClock });
  const serverCert = authority.issueServerCertificate({ hostnames: ["127.0.0.1", "localhost"], days: 30 });
  const keys = new Map<string, string>();
  const db = openDatabase(join(options.dir, "control-plane.db"));
  migrate(db, EVIDENCE_MIGRATIONS);
  const ingest = await createIngest({
    db,
    keys: { evidenceKeyOf: (id) => keys.get(id) },
    signingKey: generateSigningKey(),
    clock: systemClock,
    workers: options.workers,
  });
  // Times each bundle from the endpoint handing it to ingest to its outcome (after the commit):
  // the server's share of the ack latency, without the network or the load generator.
  let timings: number[] = [];
  const timed = {
    keyId: ingest.keyId,
    head: (agentId: string) => ingest.head(agentId),
    ackFor: (who: Parameters<Ingest["ackFor"]>[0]) => ingest.ackFor(who),
    submitFrame: (who: Parameters<Ingest["submitFrame"]>[0], text: string) => {
      const start = performance.now();
      return ingest.submitFrame(who, text).then((o) => {
        timings.push(performance.now() - start);
        return o;
      });
    },
  };
  const endpoint = createAgentEndpoint({
    ingest: timed,
    identify: (socket: TLSSocket) => {
      if (!socket.authorized) return null;
      const id = identityFromCertificate(socket.getPeerCertificate());
      return id === null ? null : { agent_id: id.agent_id, client_id: id.client_id };
    },
    isRevoked: (who) => !keys.has(who.agent_id),
    ...(options.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: options.helloTimeoutMs }),
    ...(options.maxPendingPerConnection === undefined
      ? {}
      : { maxPendingPerConnection: options.maxPendingPerConnection }),
  });
  const server: Server = createServer({
    cert: serverCert.certificatePem,
    key: serverCert.privateKeyPem ?? "",
    ca: [authority.certificatePem],
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
  });
  server.on("upgrade", (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // A deep accept queue, so a reconnect storm waits in the kernel rather than being reset.
    server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    tls: { url: `wss://127.0.0.1:${port}/v1/agent`, caPem: authority.certificatePem, caKeyPem: ca.keyPem },
    ingest,
    endpoint,
    db,
    takeTimings() {
      const out = timings;
      timings = [];
      return out;
    },
    enrol(prefix, n) {
      const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
      for (const id of ids) keys.set(id, benchEvidenceKey(id).publicKey.toString("base64"));
      return ids;
    },
    async close() {
      await endpoint.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await ingest.close();
      db.close();
    },
  };
}
