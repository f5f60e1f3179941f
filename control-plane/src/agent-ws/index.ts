/**
 * The agent WebSocket endpoint (`/v1/agent`), attached to the control plane's
 * HTTPS server through its `upgrade` event.
 *
 * The server asks for client certificates but does not require them (the API
 * also serves operators without one), so this handler is the gate: it refuses,
 * before any WebSocket exists, a socket whose certificate did not verify
 * (401), whose identity cannot be read (401: in the server, `identify` also
 * resolves a revoked or unknown certificate to no identity), or whose agent is
 * revoked or not enrolled by the time `isRevoked` is asked (403: a revocation
 * that lands after the certificate check). After the upgrade, `connection.ts`
 * runs the protocol. One
 * live connection per agent: a new hello closes the older socket (4000).
 *
 * Keepalive: every `pingIntervalMs` each socket is pinged, and one that has
 * not answered the previous ping is terminated; a socket without hello after
 * `helloTimeoutMs` is closed. This sweep runs on an unref'd interval timer, so
 * it never holds a process open; timestamps come from the injected clock.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import {
  type AgentFrame,
  AgentId,
  ClinicId,
  type Clock,
  ControlPlaneFrame,
  type HelloFrame,
  type Incident,
  limits,
  MspError,
  PROTOCOL_VERSION,
  parseWith,
  systemClock,
} from "@msp/shared";
import { type WebSocket, WebSocketServer } from "ws";
import type { z } from "zod";
import type { AgentIdentity } from "../evidence/index.js";
import { Connection, type ConnectionDeps } from "./connection.js";
import { type AgentEndpointCounters, newCounters, type RefusalReason } from "./counters.js";

export type { AgentEndpointCounters, RefusalReason, RejectionReason } from "./counters.js";

/** Options of {@link createAgentEndpoint}; callbacks must not throw (a throw is caught and the frame answered `internal`). */
export interface AgentEndpointOptions {
  /** The ingest pipeline (`createIngest`). */
  ingest: ConnectionDeps["ingest"];
  /** Reads the agent identity from a verified client certificate; null when there is none or it is malformed. */
  identify(socket: TLSSocket): AgentIdentity | null;
  /** True refuses the upgrade with 403: the agent is revoked or not (or no longer) enrolled. */
  isRevoked?(who: AgentIdentity): boolean;
  /** A hello was accepted; this connection is now the agent's live one. */
  onHello?(who: AgentIdentity, hello: z.infer<typeof HelloFrame>): void;
  /** A connection that had said hello closed; `still_connected` is true when a newer one replaced it. */
  onDisconnect?(who: AgentIdentity, info: { code: number; reason: string; still_connected: boolean }): void;
  /** An incident whose client_id (and agent_id, if set) match the certificate. */
  onIncident?(who: AgentIdentity, incident: Incident): void;
  onCommandStatus?(who: AgentIdentity, frame: Extract<AgentFrame, { type: "command_status" }>): void;
  /** Counters to update; a fresh object by default. */
  counters?: AgentEndpointCounters;
  clock?: Clock;
  /** Overrides PROTOCOL_VERSION; only for testing the mismatch path. */
  protocolVersion?: number;
  /** Default 30 s. */
  pingIntervalMs?: number;
  /** Default 10 s. */
  helloTimeoutMs?: number;
  /** Bundles a connection may have unanswered before it is closed as abusive. Default 4096. */
  maxPendingPerConnection?: number;
  /** Default `/v1/agent`. */
  path?: string;
}

/** A live agent connection, for status pages. */
export interface ConnectionInfo {
  agent_id: string;
  client_id: string;
  connected_at: string;
  remote_address: string | null;
}

/** The endpoint. */
export interface AgentEndpoint {
  /** Attach to `server.on("upgrade", ...)`; answers 404 for other paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Sends a frame (parsed with ControlPlaneFrame first; `invalid_input` if it does not parse) to the agent's live connection; false if none. */
  send(agentId: string, frame: ControlPlaneFrame): boolean;
  connected(agentId: string): boolean;
  connections(): ConnectionInfo[];
  readonly counters: AgentEndpointCounters;
  /** Closes every connection (1001) and stops the sweep; resolves when all sockets are closed. */
  close(): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = { 401: "Unauthorized", 403: "Forbidden", 404: "Not Found" };

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new MspError("config_invalid", `agent endpoint ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Creates the endpoint; throws `config_invalid` for bad options. */
export function createAgentEndpoint(options: AgentEndpointOptions): AgentEndpoint {
  const clock = options.clock ?? systemClock;
  const counters = options.counters ?? newCounters();
  const path = options.path ?? "/v1/agent";
  const pingIntervalMs = positive("pingIntervalMs", options.pingIntervalMs ?? 30_000);
  const helloTimeoutMs = positive("helloTimeoutMs", options.helloTimeoutMs ?? 10_000);
  const live = new Map<string, Connection>();
  const all = new Set<Connection>();
  let closing = false;

  const guard =
    <A extends unknown[]>(fn: ((...a: A) => void) | undefined) =>
    (...a: A) => {
      try {
        fn?.(...a);
      } catch {
        counters.rejections.internal++;
      }
    };

  const deps: ConnectionDeps = {
    ingest: options.ingest,
    counters,
    protocolVersion: options.protocolVersion ?? PROTOCOL_VERSION,
    maxPending: positive("maxPendingPerConnection", options.maxPendingPerConnection ?? 4096),
    now: () => clock.now(),
    onReady(conn, hello) {
      const old = live.get(conn.who.agent_id);
      live.set(conn.who.agent_id, conn);
      if (old !== undefined && old !== conn) {
        counters.superseded++;
        old.ws.close(4000, "superseded");
      }
      guard(options.onHello)(conn.who, hello);
    },
    onIncident: guard(options.onIncident),
    onCommandStatus: guard(options.onCommandStatus),
  };

  // 2x the frame limit as the hard transport cap: frames between the two get a typed error frame
  // (ws can only close with 1009 once its own cap is hit, too late for an error frame).
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 2 * limits.MAX_FRAME_BYTES,
    perMessageDeflate: false,
    clientTracking: false,
  });

  const remotes = new WeakMap<Connection, string | null>();
  const onConnection = (ws: WebSocket, who: AgentIdentity, remote: string | null) => {
    counters.upgrades++;
    const conn = new Connection(ws, who, deps);
    remotes.set(conn, remote);
    all.add(conn);
    ws.on("pong", () => {
      conn.alive = true;
    });
    ws.on("error", (err: Error & { code?: string }) => {
      if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") counters.rejections.oversized_hard++;
    });
    ws.on("message", (data, isBinary) => {
      const buf = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      try {
        conn.receive(buf, isBinary);
      } catch {
        counters.rejections.internal++;
      }
    });
    ws.on("close", (code, reason) => {
      all.delete(conn);
      if (live.get(who.agent_id) === conn) live.delete(who.agent_id);
      if (conn.ready) {
        guard(options.onDisconnect)(who, {
          code,
          reason: reason.toString("utf8"),
          still_connected: live.has(who.agent_id),
        });
      }
    });
  };

  const sweep = setInterval(() => {
    const now = clock.now().getTime();
    for (const conn of all) {
      if (!conn.ready && now - conn.openedAt.getTime() >= helloTimeoutMs) {
        counters.helloTimeouts++;
        conn.ws.close(1008, "no hello in time");
        continue;
      }
      if (!conn.alive) {
        counters.keepaliveTimeouts++;
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, pingIntervalMs);
  sweep.unref();

  return {
    counters,
    handleUpgrade(req, socket, head) {
      const refuse = (status: 401 | 403 | 404, reason: RefusalReason) => {
        counters.refusals[reason]++;
        socket.end(
          `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      };
      const url = new URL(req.url ?? "/", "https://agent.invalid");
      if (url.pathname !== path || closing) return refuse(404, "not_found");
      const tls = req.socket as TLSSocket;
      if (tls.encrypted !== true || tls.authorized !== true) return refuse(401, "unauthenticated");
      let who: AgentIdentity | null;
      try {
        const raw = options.identify(tls);
        who =
          raw === null
            ? null
            : { agent_id: AgentId.parse(raw.agent_id), client_id: ClinicId.parse(raw.client_id) };
      } catch {
        who = null;
      }
      if (who === null) return refuse(401, "unidentified");
      const id = who;
      let revoked: boolean;
      try {
        revoked = options.isRevoked?.(id) ?? false;
      } catch {
        revoked = true;
      }
      if (revoked) return refuse(403, "revoked");
      wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, id, tls.remoteAddress ?? null));
    },
    send(agentId, frame) {
      const parsed = parseWith(ControlPlaneFrame, frame, "control-plane frame");
      return live.get(agentId)?.send(parsed) ?? false;
    },
    connected: (agentId) => live.has(agentId),
    connections: () =>
      [...live.values()].map((c) => ({
        ...c.who,
        connected_at: c.openedAt.toISOString(),
        remote_address: remotes.get(c) ?? null,
      })),
    async close() {
      closing = true;
      clearInterval(sweep);
      const waits = [...all].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === c.ws.CLOSED) return resolve();
            c.ws.once("close", () => resolve());
            c.ws.close(1001, "server shutting down");
            setTimeout(() => c.ws.terminate(), 2_000).unref();
          }),
      );
      await Promise.all(waits);
    },
  };
}
