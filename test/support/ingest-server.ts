/**
 * A minimal but real control-plane ingest endpoint for transport tests, until
 * the control plane's own endpoint exists: HTTPS with required client
 * certificates, a `ws` server on /v1/agent, identity from the verified peer
 * certificate's SAN URI (read from its DER by the control plane's reader), the
 * PROTOCOL_VERSION handshake, and for each bundle: verify, dedup by (agent,
 * seq) and hash, store durably (JSON lines written per event loop tick and
 * fsync'd off the main thread, as the control plane commits per tick), then a
 * signed cumulative ack once the fsync has completed.
 *
 * Bundle frames are verified as the control plane verifies them: their raw
 * text goes, batched per event-loop tick, to the control plane's own verifier
 * pool (`control-plane/src/evidence/pool.ts`), which parses, checks identity
 * and signature and canonicalises on `verifyWorkers` worker threads (0, the
 * default, verifies inline); results are applied to the chain in arrival order.
 *
 * It runs in-process (`startIngestServer`) or as its own process
 * (`node --import tsx test/support/ingest-server.ts --config <json>`, printing
 * `{"port":N}`), so a test can SIGKILL it and restart it on the same port and
 * data directory. It imports the shared package by source path because under
 * plain tsx `@msp/shared` resolves to the built dist, which may be stale.
 */
import {
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { pathToFileURL } from "node:url";
import { type WebSocket, WebSocketServer } from "ws";
import { createVerifierPool } from "../../control-plane/src/evidence/pool.js";
import type { VerifiedBundle, VerifyResult } from "../../control-plane/src/evidence/verify.js";
import { identityFromCertificate } from "../../control-plane/src/pki/identity.js";
import {
  AgentFrame,
  type ControlPlaneFrame,
  canonicalBytes,
  describeIssues,
  type EvidenceBundle,
  GENESIS_HASH,
  type Incident,
  limits,
  PROTOCOL_VERSION,
  RunbookCommand,
  signBytes,
  signingKeyFromSeed,
} from "../../shared/src/index.js";

/** JSON-serialisable so the same config drives the in-process and the separate-process server. */
export interface IngestServerConfig {
  /** 0 picks a free port; a restart passes the previous one. */
  port?: number;
  dataDir: string;
  tls: { certFile: string; keyFile: string; caFile: string };
  /** Base64 32-byte seed of the control-plane ed25519 key that signs acks and commands. */
  controlPlaneSeed: string;
  /** The registry of enrolled agents. */
  agents: Record<string, { client_id: string; evidence_public_key: string }>;
  /** Overrides PROTOCOL_VERSION to test the mismatch path. */
  protocolVersion?: number;
  /** false: never answer pings (keepalive tests). */
  autoPong?: boolean;
  /** false: never answer hello (welcome-timeout tests). */
  welcome?: boolean;
  /**
   * Verify worker threads of the control plane's pool; 0 (default) verifies on
   * the main thread. The replay benchmark uses one per core, as the control plane does.
   */
  verifyWorkers?: number;
}

const COUNTER_NAMES = [
  "connections", // upgraded WebSocket connections
  "tlsRefused", // TLS handshakes the server refused (bad, expired, foreign, self-signed client certs)
  "upgradesRefused", // HTTP upgrades refused: no SAN identity, not enrolled, clinic mismatch
  "hellosRefused", // hellos that did not match the certificate
  "welcomes",
  "accepted", // bundles stored
  "duplicate", // bundles already stored with the same hash (acked again)
  "rejected", // bundles refused: bad signature, foreign, fork, broken link
  "forks",
  "malformed", // frames that did not parse with AgentFrame
  "oversized", // frames over MAX_FRAME_BYTES (closed with 1009 by ws)
  "acksSent",
  "commits", // write + fsync batches (one per event loop tick with new bundles)
] as const;

/** What tests assert on; see COUNTER_NAMES for each. */
export type IngestCounters = Record<(typeof COUNTER_NAMES)[number], number>;

/** A running stub. */
export interface IngestServer {
  port: number;
  url: string;
  counters: IngestCounters;
  /** Incidents received, in arrival order. */
  incidents: Incident[];
  /** command_status frames received. */
  commandStatuses: unknown[];
  /** The agent's stored bundles, read back from its durable file in storage order. */
  stored(agentId: string): EvidenceBundle[];
  /** Signs and sends an execute_runbook frame to a connected agent; false if it is not connected. */
  sendCommand(agentId: string, command: RunbookCommand): boolean;
  /** Sends a raw text frame to a connected agent (malformed and oversized frame tests). */
  sendRaw(agentId: string, text: string): boolean;
  connected(agentId: string): boolean;
  /**
   * Resolves when an ack covering `seq` has been sent to `agentId` (at once if
   * one already was); rejects after `timeoutMs`. Tests wait on this event
   * instead of polling.
   */
  ackSent(agentId: string, seq: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

type Identity = { agent_id: string; client_id: string };
/** A bundle frame waiting for verification, as it arrived. */
type Arrival = { ws: WebSocket; who: Identity; frameText: string };
/** How a bundle frame starts; other frames are parsed on the main thread. */
const BUNDLE_PREFIX = '{"type":"bundle",';
/**
 * One agent's chain as stored. `hashes` holds every accepted bundle, also
 * those written but not yet fsync'd; `durable` only those whose fsync has
 * completed, and `head` (the highest seq with everything up to it durable) is
 * all an ack ever covers, so nothing is acked before it is on disk.
 */
type ChainState = {
  hashes: Map<number, string>;
  durable: Set<number>;
  head: number;
  fd: number;
  /** Accepted, not yet written: JSON lines and their seqs. */
  unsynced: { line: string; seq: number }[];
  /** The fsync in flight, if any; the next batch waits for it. */
  syncing: Promise<void> | null;
  scheduled: boolean;
  /** Where the next ack goes: the connection that sent the latest bundle. */
  peer: { ws: WebSocket; who: Identity } | null;
};

/**
 * Reads the agent identity from the verified peer certificate's DER with the
 * control plane's own reader (not node's SAN display string, where a crafted
 * entry could imitate the separator); null unless exactly one well-formed SAN URI.
 */
function identityOf(socket: TLSSocket): Identity | null {
  const id = identityFromCertificate(socket.getPeerCertificate());
  return id === null ? null : { client_id: id.client_id, agent_id: id.agent_id };
}

function readLines(file: string): { hash: string; bundle: EvidenceBundle }[] {
  if (!existsSync(file)) return [];
  const out: { hash: string; bundle: EvidenceBundle }[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // A torn last line can only be one that was never acked (acks follow the fsync).
    }
  }
  return out;
}

/** An agent's stored bundles in storage order, read from the data directory (works while a child server runs or after it died). */
export function readStoredBundles(dataDir: string, agentId: string): EvidenceBundle[] {
  return readLines(join(dataDir, `${agentId}.jsonl`)).map((row) => row.bundle);
}

/** Starts the stub on 127.0.0.1. */
export async function startIngestServer(config: IngestServerConfig): Promise<IngestServer> {
  const version = config.protocolVersion ?? PROTOCOL_VERSION;
  const cpKey = signingKeyFromSeed(Buffer.from(config.controlPlaneSeed, "base64"));
  const pool = await createVerifierPool(config.verifyWorkers ?? 0);
  const counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as IngestCounters;
  const incidents: Incident[] = [];
  const commandStatuses: unknown[] = [];
  const chains = new Map<string, ChainState>();
  const live = new Map<string, WebSocket>();
  mkdirSync(config.dataDir, { recursive: true });
  const fileOf = (agentId: string, suffix = "") => join(config.dataDir, `${agentId}${suffix}.jsonl`);

  const chainOf = (agentId: string): ChainState => {
    let st = chains.get(agentId);
    if (st === undefined) {
      const hashes = new Map<number, string>();
      for (const row of readLines(fileOf(agentId))) hashes.set(row.bundle.seq, row.hash);
      let head = 0;
      while (hashes.has(head + 1)) head++;
      const fd = openSync(fileOf(agentId), "a");
      st = {
        hashes,
        durable: new Set(hashes.keys()),
        head,
        fd,
        unsynced: [],
        syncing: null,
        scheduled: false,
        peer: null,
      };
      chains.set(agentId, st);
    }
    return st;
  };

  /** Highest seq acked per agent, and who waits for an ack to reach a seq. */
  const ackedUpTo = new Map<string, number>();
  const ackWaiters = new Set<{ agentId: string; seq: number; done: () => void }>();
  const send = (ws: WebSocket, frame: ControlPlaneFrame) => ws.send(JSON.stringify(frame));
  const sendError = (ws: WebSocket, code: string, message: string, seq: number | null = null) =>
    send(ws, { type: "error", code, message, retryable: false, seq });
  const sendAck = (ws: WebSocket, who: Identity, st: ChainState) => {
    const hash = st.hashes.get(st.head);
    if (st.head === 0 || hash === undefined) return;
    const receipt = {
      agent_id: who.agent_id,
      client_id: who.client_id,
      up_to_seq: st.head,
      head_hash: hash,
      stored_at: new Date().toISOString(),
    };
    const value = signBytes(cpKey, canonicalBytes(receipt)).toString("base64");
    send(ws, { type: "ack", receipt, signature: { alg: "ed25519", key_id: cpKey.keyId, value } });
    counters.acksSent++;
    ackedUpTo.set(who.agent_id, Math.max(ackedUpTo.get(who.agent_id) ?? 0, st.head));
    for (const w of ackWaiters) if (w.agentId === who.agent_id && w.seq <= st.head) w.done();
  };

  /** Applies one verified (or refused) bundle frame to its agent's chain. */
  const ingest = ({ ws, who }: Arrival, result: VerifyResult) => {
    if (!result.ok) {
      if (result.code === "invalid_input") counters.malformed++;
      else counters.rejected++;
      return sendError(ws, result.code, result.message, result.seq);
    }
    const reject = (code: string, message: string) => {
      counters.rejected++;
      sendError(ws, code, message, result.seq);
    };
    const st = chainOf(who.agent_id);
    const held = st.hashes.get(result.seq);
    if (held === result.hash) {
      counters.duplicate++;
      return sendAck(ws, who, st);
    }
    // The canonical form the verifier produced is the bundle as signed: it is what is stored.
    const stored = (b: VerifiedBundle) => `{"hash":${JSON.stringify(b.hash)},"bundle":${b.canonical}}`;
    if (held !== undefined) {
      counters.forks++;
      const forkFd = openSync(fileOf(who.agent_id, ".forks"), "a");
      writeSync(forkFd, `{"seq":${result.seq},"held":${JSON.stringify(held)},"offered":${stored(result)}}\n`);
      fsyncSync(forkFd);
      closeSync(forkFd);
      return reject("conflict", `fork: a different bundle is already stored for seq ${result.seq}`);
    }
    const prev = result.seq === 1 ? GENESIS_HASH : st.hashes.get(result.seq - 1);
    if (prev !== undefined && prev !== result.prev_hash) {
      return reject("chain_broken", `seq ${result.seq} does not link to the stored seq ${result.seq - 1}`);
    }
    st.unsynced.push({ line: `${stored(result)}\n`, seq: result.seq });
    st.hashes.set(result.seq, result.hash);
    counters.accepted++;
    commitSoon(ws, who, st);
  };

  /**
   * Bundle frames of one event-loop tick go to the verifier pool as one batch
   * (split across its workers); batches are applied in the order they arrived,
   * so an agent's bundles are judged in the order it sent them.
   */
  let arrivals: Arrival[] = [];
  let applying: Promise<void> = Promise.resolve();
  const verifySoon = (arrival: Arrival) => {
    arrivals.push(arrival);
    if (arrivals.length === 1) setImmediate(verifyBatch);
  };
  const verifyBatch = () => {
    const batch = arrivals;
    arrivals = [];
    const jobs = batch.map((a) => ({
      ...a.who,
      key: config.agents[a.who.agent_id]?.evidence_public_key ?? "",
      frameText: a.frameText,
    }));
    const verified = pool.verify(jobs);
    applying = applying.then(async () => {
      const results = await verified;
      if (stopped) return;
      for (const [i, a] of batch.entries()) ingest(a, results[i] as VerifyResult);
    });
  };

  /**
   * Like the control plane's ingest: every bundle accepted during one event
   * loop tick is written in one go and fsync'd on the thread pool, while the
   * next bundles are verified; when the fsync completes, one signed cumulative
   * ack covers the batch. Durability is unchanged (no ack before its fsync);
   * the fsync is paid per batch instead of per bundle and no longer stalls verification.
   */
  let stopped = false;
  const commitSoon = (ws: WebSocket, who: Identity, st: ChainState) => {
    st.peer = { ws, who };
    if (st.scheduled || st.syncing !== null) return;
    st.scheduled = true;
    setImmediate(() => commit(st));
  };
  const commit = (st: ChainState) => {
    st.scheduled = false;
    if (stopped || st.unsynced.length === 0) return;
    const batch = st.unsynced;
    st.unsynced = [];
    writeSync(st.fd, batch.map((b) => b.line).join(""));
    st.syncing = new Promise<void>((resolve) => {
      fsync(st.fd, (err) => {
        st.syncing = null;
        resolve();
        if (stopped) return;
        if (err !== null) {
          // Nothing of the batch is acked; the agent resends it after reconnecting.
          process.stderr.write(`ingest stub: fsync failed: ${err.message}\n`);
          st.peer?.ws.close(1011, "storage failed");
          return;
        }
        for (const b of batch) st.durable.add(b.seq);
        while (st.durable.has(st.head + 1)) st.head++;
        counters.commits++;
        if (st.peer !== null) sendAck(st.peer.ws, st.peer.who, st);
        if (st.unsynced.length > 0) commit(st);
      });
    });
  };

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.MAX_FRAME_BYTES,
    perMessageDeflate: false,
    autoPong: config.autoPong ?? true,
  });

  wss.on("connection", (ws: WebSocket, who: Identity) => {
    counters.connections++;
    let helloDone = false;
    ws.on("error", (err: Error & { code?: string }) => {
      if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") counters.oversized++;
    });
    ws.on("close", () => {
      if (live.get(who.agent_id) === ws) live.delete(who.agent_id);
    });
    ws.on("message", (data, isBinary) => {
      if (helloDone && !isBinary) {
        const text = String(data);
        if (text.startsWith(BUNDLE_PREFIX)) return verifySoon({ ws, who, frameText: text });
      }
      let parsed: ReturnType<typeof AgentFrame.safeParse> | null = null;
      try {
        parsed = isBinary ? null : AgentFrame.safeParse(JSON.parse(String(data)));
      } catch {
        parsed = null;
      }
      if (parsed === null || !parsed.success) {
        counters.malformed++;
        const why = parsed === null ? "not a JSON text frame" : JSON.stringify(describeIssues(parsed.error));
        return sendError(ws, "invalid_input", `malformed frame: ${why}`.slice(0, 2000));
      }
      const frame = parsed.data;
      if (!helloDone) {
        if (frame.type !== "hello") {
          sendError(ws, "invalid_input", "the first frame must be hello");
          return ws.close(1008, "hello first");
        }
        if (frame.protocol_version !== version) {
          sendError(ws, "protocol_mismatch", `server speaks protocol ${version}`);
          return ws.close(1002, "protocol_mismatch");
        }
        if (frame.agent_id !== who.agent_id || frame.client_id !== who.client_id) {
          counters.hellosRefused++;
          sendError(ws, "forbidden", "hello does not match the client certificate");
          return ws.close(1008, "identity mismatch");
        }
        if (config.welcome === false) return;
        helloDone = true;
        live.get(who.agent_id)?.close(4000, "superseded");
        live.set(who.agent_id, ws);
        const st = chainOf(who.agent_id);
        send(ws, {
          type: "welcome",
          protocol_version: version,
          server_time: new Date().toISOString(),
          acked_seq: st.head,
          control_plane_key_id: cpKey.keyId,
        });
        counters.welcomes++;
        // An agent that crashed before our last ack arrived can clean up without resending.
        return sendAck(ws, who, st);
      }
      switch (frame.type) {
        case "bundle":
          // A bundle frame that does not start with the canonical prefix (keys reordered, spaces).
          return verifySoon({ ws, who, frameText: JSON.stringify(frame) });
        case "incident":
          if (frame.incident.client_id !== who.client_id)
            return sendError(ws, "forbidden", "incident of another clinic");
          incidents.push(frame.incident);
          return;
        case "command_status":
          commandStatuses.push(frame);
          return;
        case "hello":
          return sendError(ws, "invalid_input", "hello sent twice");
      }
    });
  });

  const server: Server = createServer({
    key: readFileSync(config.tls.keyFile),
    cert: readFileSync(config.tls.certFile),
    ca: readFileSync(config.tls.caFile),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
  });
  server.on("tlsClientError", () => counters.tlsRefused++);
  server.on("request", (_req, res) => res.writeHead(404).end());
  server.on("upgrade", (req, socket, head) => {
    const refuse = (status: string) => {
      counters.upgradesRefused++;
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (req.url !== "/v1/agent") return refuse("404 Not Found");
    const who = identityOf(req.socket as TLSSocket);
    if (who === null) return refuse("401 Unauthorized");
    if (config.agents[who.agent_id]?.client_id !== who.client_id) return refuse("403 Forbidden");
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, who));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  return {
    port,
    url: `wss://127.0.0.1:${port}/v1/agent`,
    counters,
    incidents,
    commandStatuses,
    stored: (agentId) => readStoredBundles(config.dataDir, agentId),
    connected: (agentId) => live.has(agentId),
    ackSent(agentId, seq, timeoutMs) {
      if ((ackedUpTo.get(agentId) ?? 0) >= seq) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          agentId,
          seq,
          done: () => {
            clearTimeout(timer);
            ackWaiters.delete(waiter);
            resolve();
          },
        };
        const timer = setTimeout(() => {
          ackWaiters.delete(waiter);
          reject(new Error(`no ack covering seq ${seq} was sent to ${agentId} within ${timeoutMs} ms`));
        }, timeoutMs);
        ackWaiters.add(waiter);
      });
    },
    sendRaw(agentId, text) {
      live.get(agentId)?.send(text);
      return live.has(agentId);
    },
    sendCommand(agentId, input) {
      const ws = live.get(agentId);
      if (ws === undefined) return false;
      const command = RunbookCommand.parse(input);
      const value = signBytes(cpKey, canonicalBytes(command)).toString("base64");
      send(ws, {
        type: "execute_runbook",
        command,
        signature: { alg: "ed25519", key_id: cpKey.keyId, value },
      });
      return true;
    },
    async stop() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Bundles accepted but not yet written were never acked; dropping them is what a crash would do.
      stopped = true;
      await applying;
      await pool.close();
      await Promise.all([...chains.values()].map((st) => st.syncing));
      for (const st of chains.values()) closeSync(st.fd);
      chains.clear();
    },
  };
}

async function main(): Promise<void> {
  const at = process.argv.indexOf("--config");
  const file = at === -1 ? undefined : process.argv[at + 1];
  if (file === undefined) throw new Error("usage: ingest-server.ts --config <file.json>");
  const server = await startIngestServer(JSON.parse(readFileSync(file, "utf8")) as IngestServerConfig);
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  const quit = () => void server.stop().then(() => process.exit(0));
  process.on("SIGTERM", quit);
  process.on("SIGINT", quit);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${String(e)}\n`);
    process.exit(1);
  });
}
