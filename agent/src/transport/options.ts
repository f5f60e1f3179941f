/**
 * What the transport needs from its caller, declared here (the caller-owned
 * narrow interfaces of STYLE.md), and the one place options are checked, so a
 * misconfigured agent fails at startup instead of at the first reconnect.
 */

import { createSecureContext } from "node:tls";
import {
  type AgentFrame,
  type Clock,
  type ControlPlaneFrame,
  type EvidenceBundle,
  HelloFrame,
  MspError,
  parseWith,
  systemClock,
} from "@msp/shared";
import { type BackoffPolicy, checkBackoffPolicy } from "./backoff.js";

/** A signed cumulative ack as the control plane sends it. */
export type AckFrame = Extract<ControlPlaneFrame, { type: "ack" }>;
/** A signed runbook command, parsed but not yet verified (the command handler verifies it). */
export type ExecuteRunbookFrame = Extract<ControlPlaneFrame, { type: "execute_runbook" }>;
/** The frames a caller may send itself; hello and bundle frames belong to the transport's window. */
export type CallerFrame = Extract<AgentFrame, { type: "incident" | "command_status" }>;

/**
 * Outcome of applying an ack. The failure side names its reason loosely
 * (`reason` or `message`) so the SQLite outbox, whose refusals carry
 * `{ refusal, message }`, satisfies this port structurally.
 */
export type AckOutcome = { ok: true; acked_seq: number } | { ok: false; reason?: string; message?: string };

/**
 * The three outbox operations the transport uses. The outbox owns durability
 * and ack verification; the transport only decides what to send when.
 */
export interface OutboxPort {
  /** Highest seq produced and highest seq covered by a verified ack. */
  head(): { last_seq: number; acked_seq: number };
  /** Up to `limit` stored bundles with seq > afterSeq, in seq order. */
  pending(afterSeq: number, limit: number): EvidenceBundle[];
  /** Verifies the receipt signature and binding itself; deletes covered rows only when it returns ok. */
  applyAck(frame: AckFrame): AckOutcome;
}

/** Structured log sink; the agent's JSON logger satisfies it. Must not throw. */
export interface TransportLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** The identity half of the hello frame; seq and protocol version are filled in per connection. */
export interface HelloInfo {
  agent_id: string;
  client_id: string;
  hostname: string;
  agent_version: string;
  catalog_sha256: string;
}

/** Options of {@link createTransport}; every field is checked at creation. */
export interface TransportOptions {
  /** Control-plane agent endpoint, `wss://host:port/v1/agent`; plain `ws:` is refused. */
  url: string;
  /** The pinned control-plane CA (PEM); the system trust store is never used. */
  ca: string | Buffer;
  /** The agent's client certificate and key (PEM), issued at enrollment. */
  cert: string | Buffer;
  key: string | Buffer;
  hello: HelloInfo;
  outbox: OutboxPort;
  /** Receives every parsed execute_runbook frame; verifying its signature is the handler's job. */
  onCommand(frame: ExecuteRunbookFrame): Promise<void>;
  clock?: Clock;
  /** Uniform in [0, 1); the jitter source, injected so tests can pin it. */
  random?: () => number;
  logger?: TransportLogger;
  /**
   * Most bundles sent and not yet acked on one connection. Default 256, the
   * agent config's `outbox.send_window` default: a replay is bound by window /
   * round-trip time (10,000 queued bundles on the loaded bench machine: 665/s
   * with 64, 1,121/s with 256).
   */
  sendWindow?: number;
  /** Most frame bytes sent and not yet acked (one bundle is always allowed, however large). Default 8 MiB. */
  sendWindowBytes?: number;
  /** Reconnect delays (full jitter). Default 1 s doubling to 60 s. */
  backoff?: BackoffPolicy;
  /** Interval between pings; a connection with a ping still unanswered at the next one is dropped. Default 30 s. */
  pingIntervalMs?: number;
  /** How long to wait for `welcome` after `hello`. Default 10 s. */
  welcomeTimeoutMs?: number;
  /** Incidents kept while disconnected; the oldest is dropped past it. Default 100. */
  incidentQueueSize?: number;
  /** Overrides PROTOCOL_VERSION; only for testing the mismatch path. */
  protocolVersion?: number;
  /**
   * Told of every connection-state change (`ready` means welcomed). The daemon
   * uses it to know how long the control plane has been unreachable. Must not throw.
   */
  onState?: (state: "idle" | "connecting" | "handshaking" | "ready" | "backoff" | "stopped") => void;
}

/** Options after defaults and checks. */
export type ResolvedOptions = Required<Omit<TransportOptions, "protocolVersion">> & {
  protocolVersion: number | undefined;
};

/** Writes one JSON line per event to stderr; used when the caller gives no logger. */
export const stderrLogger: TransportLogger = {
  info: (msg, fields) => writeLog("info", msg, fields),
  warn: (msg, fields) => writeLog("warn", msg, fields),
  error: (msg, fields) => writeLog("error", msg, fields),
};

function writeLog(level: string, msg: string, fields?: Record<string, unknown>): void {
  const line = { time: new Date().toISOString(), level, component: "transport", msg, ...fields };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

const HelloInfoSchema = HelloFrame.pick({
  agent_id: true,
  client_id: true,
  hostname: true,
  agent_version: true,
  catalog_sha256: true,
});

function positiveInt(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new MspError("config_invalid", `transport ${name} must be an integer in 1..${max}, got ${value}`);
  }
  return value;
}

/** Applies defaults and fails fast (`config_invalid`) on anything the transport could not run with. */
export function resolveOptions(options: TransportOptions): ResolvedOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (e) {
    throw new MspError("config_invalid", `transport url is not a URL: ${options.url}`, { cause: e });
  }
  if (url.protocol !== "wss:") {
    throw new MspError("config_invalid", `transport url must use wss:// (mutual TLS), got ${url.protocol}`);
  }
  for (const name of ["ca", "cert", "key"] as const) {
    if (options[name].length === 0) throw new MspError("config_invalid", `transport ${name} PEM is empty`);
  }
  try {
    // Parses the PEMs and checks that key and certificate belong together now, not at every reconnect.
    createSecureContext({ ca: options.ca, cert: options.cert, key: options.key });
  } catch (e) {
    throw new MspError("config_invalid", `transport TLS material is unusable: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const backoff = options.backoff ?? { initialMs: 1_000, maxMs: 60_000 };
  checkBackoffPolicy(backoff);
  return {
    ...options,
    hello: parseWith(HelloInfoSchema, options.hello, "transport hello info", "config_invalid"),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    logger: options.logger ?? stderrLogger,
    sendWindow: positiveInt("sendWindow", options.sendWindow ?? 256, 10_000),
    sendWindowBytes: positiveInt("sendWindowBytes", options.sendWindowBytes ?? 8 << 20, 1 << 30),
    backoff,
    pingIntervalMs: positiveInt("pingIntervalMs", options.pingIntervalMs ?? 30_000, 3_600_000),
    welcomeTimeoutMs: positiveInt("welcomeTimeoutMs", options.welcomeTimeoutMs ?? 10_000, 600_000),
    incidentQueueSize: positiveInt("incidentQueueSize", options.incidentQueueSize ?? 100, 100_000),
    protocolVersion: options.protocolVersion,
    onState: options.onState ?? (() => undefined),
  };
}
