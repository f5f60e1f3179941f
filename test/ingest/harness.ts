/**
 * The real control-plane ingest for integration tests: an HTTPS server on
 * 127.0.0.1 (client certificates requested, not required, as the control
 * plane's server runs), the agent endpoint on its `upgrade` event, ingest with
 * a SQLite file, and a raw mTLS WebSocket client that records every frame.
 */
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import {
  ControlPlaneFrame,
  type Incident,
  PROTOCOL_VERSION,
  type SigningKey,
  systemClock,
} from "@msp/shared";
import WebSocket from "ws";
import {
  type AgentEndpoint,
  type AgentEndpointOptions,
  createAgentEndpoint,
} from "../../control-plane/src/agent-ws/index.js";
import { type Db, migrate, openDatabase } from "../../control-plane/src/db/index.js";
import {
  createEvidenceStore,
  createIngest,
  EVIDENCE_MIGRATIONS,
  type EvidenceStore,
  type Ingest,
} from "../../control-plane/src/evidence/index.js";
import type { CertPair } from "../support/pki.js";
import type { TestAgent, TransportWorld } from "../transport/harness.js";

const SAN_URI = /^URI:urn:msp:clinic:([a-z0-9][a-z0-9-]{1,62}):agent:([a-z0-9][a-z0-9-]{1,62})$/;

/** Identity from the peer certificate's single SAN URI (what the lead's enrollment issues). */
export function identifyFromSan(socket: TLSSocket): { client_id: string; agent_id: string } | null {
  const san = socket.getPeerCertificate()?.subjectaltname ?? "";
  const uris = san.split(", ").filter((e) => e.startsWith("URI:"));
  const m = uris.length === 1 ? SAN_URI.exec(uris[0] ?? "") : null;
  return m?.[1] && m[2] ? { client_id: m[1], agent_id: m[2] } : null;
}

/** A running control-plane ingest. */
export interface IngestHarness {
  port: number;
  url: string;
  db: Db;
  ingest: Ingest;
  store: EvidenceStore;
  endpoint: AgentEndpoint;
  incidents: Incident[];
  commandStatuses: unknown[];
  hellos: string[];
  disconnects: { agent_id: string; code: number; still_connected: boolean }[];
  /** Closes endpoint, ingest, server and database (the file stays). */
  stop(): Promise<void>;
}

/** Options for {@link startIngestHarness}. */
export interface HarnessOptions {
  port?: number;
  dbFile: string;
  workers?: number;
  revoked?: Set<string>;
  endpoint?: Partial<AgentEndpointOptions>;
}

/** Starts the real ingest over the world's PKI, enrolling the world's two agents. */
export async function startIngestHarness(
  world: TransportWorld,
  opts: HarnessOptions,
): Promise<IngestHarness> {
  const enrolled = new Map(
    [world.agent, world.other].map((a) => [
      a.who.agent_id,
      { ...a.who, key: a.evidenceKey.publicKey.toString("base64") },
    ]),
  );
  const keys = { evidenceKeyOf: (id: string) => enrolled.get(id)?.key };
  const db = openDatabase(opts.dbFile);
  migrate(db, EVIDENCE_MIGRATIONS);
  const ingest = await createIngest({
    db,
    keys,
    signingKey: world.controlPlaneKey as SigningKey,
    clock: systemClock,
    workers: opts.workers ?? 0,
  });
  const incidents: Incident[] = [];
  const commandStatuses: unknown[] = [];
  const hellos: string[] = [];
  const disconnects: IngestHarness["disconnects"] = [];
  const endpoint = createAgentEndpoint({
    ingest,
    identify: identifyFromSan,
    isRevoked: (who) =>
      opts.revoked?.has(who.agent_id) === true || enrolled.get(who.agent_id)?.client_id !== who.client_id,
    onHello: (who) => hellos.push(who.agent_id),
    onDisconnect: (who, info) =>
      disconnects.push({ agent_id: who.agent_id, code: info.code, still_connected: info.still_connected }),
    onIncident: (_who, incident) => incidents.push(incident),
    onCommandStatus: (_who, frame) => commandStatuses.push(frame),
    ...opts.endpoint,
  });
  const server: Server = createServer({
    key: world.pki.server.key,
    cert: world.pki.server.cert,
    ca: world.pki.ca.cert,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
  });
  server.on("request", (_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    port,
    url: `wss://127.0.0.1:${port}/v1/agent`,
    db,
    ingest,
    store: createEvidenceStore({ db, keys }),
    endpoint,
    incidents,
    commandStatuses,
    hellos,
    disconnects,
    async stop() {
      await endpoint.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ingest.close();
      db.close();
    },
  };
}

/** The database file of a test named `name` inside the world's directory. */
export const dbFileOf = (world: TransportWorld, name: string) => join(world.dir, `${name}.db`);

/** A raw mTLS WebSocket client that parses and records every control-plane frame. */
export interface RawClient {
  ws: WebSocket;
  frames: ControlPlaneFrame[];
  /** Close code and reason once closed. */
  closed: Promise<{ code: number; reason: string }>;
  sendJson(value: unknown): void;
  /** Waits until `count` frames matching `pred` have arrived; returns them. */
  waitFrames<T extends ControlPlaneFrame>(
    pred: (f: ControlPlaneFrame) => f is T,
    count?: number,
  ): Promise<T[]>;
}

/** Connects with `tls` (defaults to the agent's certificate); resolves on open, rejects on an HTTP refusal. */
export function rawClient(
  world: TransportWorld,
  url: string,
  tls: CertPair | null = world.agent.tls,
): Promise<RawClient> {
  const ws = new WebSocket(url, {
    ca: world.pki.ca.cert,
    ...(tls === null ? {} : { cert: tls.cert, key: tls.key }),
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
  });
  const frames: ControlPlaneFrame[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (data) => {
    frames.push(ControlPlaneFrame.parse(JSON.parse(String(data))));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString("utf8") })),
  );
  const client: RawClient = {
    ws,
    frames,
    closed,
    sendJson: (value) => ws.send(JSON.stringify(value)),
    waitFrames(pred, count = 1) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${count} frame(s); got ${JSON.stringify(frames)}`)),
          10_000,
        );
        const check = () => {
          const hits = frames.filter(pred);
          if (hits.length >= count) {
            clearTimeout(timer);
            resolve(hits);
          } else waiters.push(check);
        };
        check();
      });
    },
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** The hello the agent `a` would send. */
export function helloOf(a: TestAgent, lastSeq = 0, protocolVersion?: number): Record<string, unknown> {
  return {
    type: "hello",
    protocol_version: protocolVersion ?? PROTOCOL_VERSION,
    ...a.who,
    hostname: a.who.agent_id,
    agent_version: "0.1.0-test",
    last_seq: lastSeq,
    catalog_sha256: "d".repeat(64),
  };
}

/** Type guards for waitFrames. */
export const isAck = (f: ControlPlaneFrame): f is Extract<ControlPlaneFrame, { type: "ack" }> =>
  f.type === "ack";
export const isError = (f: ControlPlaneFrame): f is Extract<ControlPlaneFrame, { type: "error" }> =>
  f.type === "error";
export const isWelcome = (f: ControlPlaneFrame): f is Extract<ControlPlaneFrame, { type: "welcome" }> =>
  f.type === "welcome";
