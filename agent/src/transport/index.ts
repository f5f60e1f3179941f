/**
 * The agent's link to the control plane: a `ws` client over mutual TLS that
 * pins the control-plane CA, says hello, streams the outbox in seq order
 * through a send window, applies signed cumulative acks, keeps the connection
 * alive with ping/pong and reconnects with full-jitter exponential backoff on
 * the injected clock.
 *
 * It is idempotent by design: after any reconnect everything not yet acked is
 * sent again, and the control plane's dedup by (agent, seq, hash) makes the
 * replay safe. Nothing here deletes evidence; only the outbox does, on an ack
 * it has verified itself.
 */
import {
  AgentFrame,
  type Incident,
  IncidentFrame,
  limits,
  MspError,
  PROTOCOL_VERSION,
  parseWith,
} from "@msp/shared";
import WebSocket from "ws";
import { Backoff } from "./backoff.js";
import { type CallerFrame, resolveOptions, type TransportOptions } from "./options.js";
import { BoundedQueue } from "./queue.js";
import { Session } from "./session.js";
import { newCounters, type TransportCounters } from "./stats.js";
import { SleepSet } from "./timers.js";

export type { BackoffPolicy } from "./backoff.js";
export { backoffDelay } from "./backoff.js";
export type {
  AckFrame,
  AckOutcome,
  CallerFrame,
  ExecuteRunbookFrame,
  HelloInfo,
  OutboxPort,
  TransportLogger,
  TransportOptions,
} from "./options.js";
export type { TransportCounters } from "./stats.js";

/**
 * Where the connection loop is: `connecting` (TCP/TLS/upgrade), `handshaking`
 * (hello sent, waiting for welcome), `ready` (streaming), `backoff` (waiting to
 * reconnect), `stopped`.
 */
export type TransportState = "idle" | "connecting" | "handshaking" | "ready" | "backoff" | "stopped";

/** A snapshot for status output and tests. */
export interface TransportStats extends TransportCounters {
  state: TransportState;
  /** Consecutive failed connections since the last welcome. */
  backoffAttempts: number;
  /** Bundles sent on the current connection and not yet acked. */
  inflight: number;
  queuedIncidents: number;
}

/** The running transport. */
export interface Transport {
  /** Starts the connect loop; a second call is a no-op. */
  start(): void;
  /** Closes the connection and ends the loop; resolves when the socket is closed. */
  stop(): Promise<void>;
  /** Tells the transport the outbox has new bundles, so it sends them without waiting for an ack. */
  notify(): void;
  /** Sends an incident now, or queues it (bounded) until the next welcome. */
  sendIncident(incident: Incident): "sent" | "queued";
  /** Sends an incident or command_status frame if connected; false (not queued) otherwise. */
  sendFrame(frame: CallerFrame): boolean;
  state(): TransportState;
  stats(): TransportStats;
}

/** How long `stop()` waits for a clean WebSocket close before cutting the socket. */
const CLOSE_GRACE_MS = 2_000;

/** Creates a transport; throws `config_invalid` for unusable options. Call `start()` to connect. */
export function createTransport(options: TransportOptions): Transport {
  const o = resolveOptions(options);
  const counters = newCounters();
  const incidents = new BoundedQueue<Incident>(o.incidentQueueSize);
  const backoff = new Backoff(o.backoff, o.random);
  const loopSleeps = new SleepSet(o.clock);
  let state: TransportState = "idle";
  // Every change goes through here so the caller's onState sees each transition once.
  const setState = (next: TransportState) => {
    if (next === state) return;
    state = next;
    try {
      o.onState(next);
    } catch (e) {
      o.logger.error("transport onState callback threw", { error: String(e) });
    }
  };
  let stopping = false;
  let loop: Promise<void> | null = null;
  let current: { ws: WebSocket; session: Session } | null = null;

  /** One connection from dial to close; resolves when the socket has closed. */
  function connectOnce(): Promise<void> {
    counters.connectAttempts++;
    setState("connecting");
    const timers = new SleepSet(o.clock);
    const ws = new WebSocket(o.url, {
      ca: o.ca,
      cert: o.cert,
      key: o.key,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      maxPayload: limits.MAX_FRAME_BYTES,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: o.welcomeTimeoutMs,
    });
    const session = new Session({
      wire: {
        send: (text) => {
          if (ws.readyState === WebSocket.OPEN) ws.send(text);
        },
        close: (code, reason) => ws.close(code, reason),
      },
      outbox: o.outbox,
      hello: o.hello,
      protocolVersion: o.protocolVersion ?? PROTOCOL_VERSION,
      windowSize: o.sendWindow,
      windowBytes: o.sendWindowBytes,
      incidents,
      counters,
      logger: o.logger,
      onCommand: o.onCommand,
      onWelcome: () => {
        setState("ready");
        backoff.reset();
      },
    });
    current = { ws, session };
    let awaitingPong = false;

    const keepalive = async () => {
      while (await timers.sleep(o.pingIntervalMs)) {
        if (awaitingPong) {
          counters.keepaliveTimeouts++;
          o.logger.warn("no pong from the control plane; dropping the connection", {
            ping_interval_ms: o.pingIntervalMs,
          });
          ws.terminate();
          return;
        }
        awaitingPong = true;
        ws.ping();
      }
    };
    const welcomeDeadline = async () => {
      if ((await timers.sleep(o.welcomeTimeoutMs)) && !session.ready) {
        counters.welcomeTimeouts++;
        o.logger.warn("no welcome from the control plane in time", {
          welcome_timeout_ms: o.welcomeTimeoutMs,
        });
        ws.terminate();
      }
    };

    return new Promise<void>((resolve) => {
      ws.on("open", () => {
        setState("handshaking");
        session.start();
        void welcomeDeadline();
        void keepalive();
      });
      ws.on("message", (data, isBinary) => {
        const buf = Buffer.isBuffer(data)
          ? data
          : Array.isArray(data)
            ? Buffer.concat(data)
            : Buffer.from(data);
        session.receive(buf, isBinary);
      });
      ws.on("pong", () => {
        awaitingPong = false;
      });
      ws.on("error", (err) => {
        o.logger.warn("control-plane connection error", { error: err.message, code: errorCode(err) });
      });
      ws.on("close", (code, reason) => {
        timers.cancelAll();
        if (!session.ready) counters.connectFailures++;
        session.detach();
        if (current?.ws === ws) current = null;
        o.logger.info("control-plane connection closed", { code, reason: reason.toString("utf8") });
        resolve();
      });
    });
  }

  async function run(): Promise<void> {
    while (!stopping) {
      try {
        await connectOnce();
      } catch (e) {
        // Only a bug or a broken runtime gets here (options were checked); retrying keeps evidence flowing.
        counters.connectFailures++;
        o.logger.error("could not start a connection", { error: String(e) });
      }
      if (stopping) break;
      setState("backoff");
      const delay = backoff.next();
      o.logger.info("reconnecting after backoff", { delay_ms: delay, attempt: backoff.attempts });
      await loopSleeps.sleep(delay);
    }
    setState("stopped");
  }

  return {
    start() {
      if (loop !== null) return;
      stopping = false;
      loop = run();
    },

    async stop() {
      stopping = true;
      loopSleeps.cancelAll();
      const conn = current;
      if (conn !== null) {
        const grace = new SleepSet(o.clock);
        const closed = new Promise<void>((r) => conn.ws.once("close", () => r()));
        conn.ws.close(1000, "agent stopping");
        const cut = grace.sleep(CLOSE_GRACE_MS).then((elapsed) => {
          if (elapsed) conn.ws.terminate();
        });
        await closed;
        grace.cancelAll();
        await cut;
      }
      if (loop !== null) await loop;
      loop = null;
      setState("stopped");
    },

    notify() {
      current?.session.pump();
    },

    sendIncident(incident) {
      const frame = parseWith(IncidentFrame, { type: "incident", incident }, "incident");
      if (current?.session.send(frame)) {
        counters.incidentsSent++;
        return "sent";
      }
      if (incidents.push(frame.incident) !== undefined) {
        counters.incidentsDropped++;
        o.logger.warn("incident queue full; dropped the oldest incident", { capacity: incidents.capacity });
      }
      return "queued";
    },

    sendFrame(input) {
      const frame = parseWith(AgentFrame, input, "agent frame");
      if (frame.type !== "incident" && frame.type !== "command_status") {
        // hello and bundle frames belong to the handshake and the send window; a stray one would corrupt both.
        throw new MspError("invalid_input", `sendFrame cannot send ${frame.type} frames`);
      }
      const sent = current?.session.send(frame) ?? false;
      if (sent && frame.type === "incident") counters.incidentsSent++;
      return sent;
    },

    state: () => state,

    stats: () => ({
      ...counters,
      state,
      backoffAttempts: backoff.attempts,
      inflight: current?.session.ready ? current.session.window.inflight : 0,
      queuedIncidents: incidents.length,
    }),
  };
}

function errorCode(err: Error): string | undefined {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === "string" ? code : undefined;
}
