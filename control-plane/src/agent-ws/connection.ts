/**
 * One agent connection's protocol, after the upgrade: hello first (protocol
 * version and identity checked against the certificate), then bundles handed
 * to ingest with acks and error frames sent back in the order the agent sent
 * its frames, incidents and command statuses handed to the caller.
 *
 * Every frame is parsed with the shared schemas before it is acted on. Bundle
 * frames after the handshake take a fast path: their text goes to ingest whole
 * and is parsed there (on a verify worker) with the same `EvidenceBundle`
 * schema, so the main thread does not parse every bundle twice.
 */
import {
  AgentFrame,
  type ControlPlaneFrame,
  describeIssues,
  type HelloFrame,
  type Incident,
  limits,
  type MspError,
} from "@msp/shared";
import type { WebSocket } from "ws";
import type { z } from "zod";
import type { Ack, AgentIdentity, IngestOutcome } from "../evidence/index.js";
import type { AgentEndpointCounters, RejectionReason } from "./counters.js";

/** What a connection needs from the endpoint. */
export interface ConnectionDeps {
  ingest: {
    submitFrame(who: AgentIdentity, frameText: string): Promise<IngestOutcome>;
    head(agentId: string): { acked_seq: number };
    ackFor(who: AgentIdentity): Ack | null;
    readonly keyId: string;
  };
  counters: AgentEndpointCounters;
  protocolVersion: number;
  maxPending: number;
  now(): Date;
  /** The hello was accepted: the endpoint makes this the agent's live connection and tells the caller. */
  onReady(conn: Connection, hello: z.infer<typeof HelloFrame>): void;
  onIncident(who: AgentIdentity, incident: Incident): void;
  onCommandStatus(who: AgentIdentity, frame: Extract<AgentFrame, { type: "command_status" }>): void;
}

const BUNDLE_PREFIX = '{"type":"bundle",';

/** The protocol state of one WebSocket. */
export class Connection {
  readonly who: AgentIdentity;
  readonly ws: WebSocket;
  readonly openedAt: Date;
  ready = false;
  /** Cleared on each ping, set by the pong; a connection still false at the next sweep is dead. */
  alive = true;
  readonly #d: ConnectionDeps;
  #pending = 0;
  #lastAck: Ack | null = null;

  constructor(ws: WebSocket, who: AgentIdentity, deps: ConnectionDeps) {
    this.ws = ws;
    this.who = who;
    this.#d = deps;
    this.openedAt = deps.now();
  }

  /** Sends a frame if the socket is open; false otherwise. */
  send(frame: ControlPlaneFrame): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  #error(
    reason: RejectionReason,
    code: string,
    message: string,
    seq: number | null = null,
    retryable = false,
  ) {
    this.#d.counters.rejections[reason]++;
    if (this.send({ type: "error", code, message: message.slice(0, 2000), retryable, seq })) {
      this.#d.counters.errorFramesSent++;
    }
  }

  #sendAck(ack: Ack | null): void {
    if (ack === null || ack === this.#lastAck) return;
    this.#lastAck = ack;
    if (this.send(ack)) this.#d.counters.acksSent++;
  }

  /** Handles one incoming message. Never throws. */
  receive(data: Buffer, isBinary: boolean): void {
    const frame = this.#parse(data, isBinary);
    if (frame === null) return;
    if (!this.ready) {
      this.#hello(frame);
      return;
    }
    switch (frame.type) {
      case "hello":
        this.#error("hello_twice", "invalid_input", "hello sent twice");
        break;
      case "bundle":
        // Reached only when the agent's serialisation did not start with the type; same path, re-serialised.
        this.#bundle(JSON.stringify(frame));
        break;
      case "incident": {
        const inc = frame.incident;
        if (
          inc.client_id !== this.who.client_id ||
          (inc.agent_id !== undefined && inc.agent_id !== this.who.agent_id)
        ) {
          this.#error("incident_forbidden", "forbidden", "incident names another clinic or agent");
          break;
        }
        this.#d.counters.incidents++;
        this.#d.onIncident(this.who, inc);
        break;
      }
      case "command_status":
        this.#d.counters.commandStatuses++;
        this.#d.onCommandStatus(this.who, frame);
        break;
      default: {
        const unhandled: never = frame;
        throw new Error(`unhandled frame ${JSON.stringify(unhandled)}`);
      }
    }
  }

  /** The parsed frame, or null when it was answered already (error frame, or handed to ingest whole). */
  #parse(data: Buffer, isBinary: boolean): AgentFrame | null {
    if (isBinary) {
      this.#error("binary", "invalid_input", "malformed frame: binary; the protocol is JSON text");
      return null;
    }
    if (data.length > limits.MAX_FRAME_BYTES) {
      const why = `frame of ${data.length} bytes exceeds the ${limits.MAX_FRAME_BYTES}-byte limit`;
      this.#error("oversized", "payload_too_large", why);
      return null;
    }
    const text = data.toString("utf8");
    if (this.ready && text.startsWith(BUNDLE_PREFIX)) {
      this.#bundle(text);
      return null;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.#error("malformed", "invalid_input", "malformed frame: not JSON");
      return null;
    }
    const parsed = AgentFrame.safeParse(json);
    if (!parsed.success) {
      const why = JSON.stringify(describeIssues(parsed.error));
      this.#error("malformed", "invalid_input", `malformed frame: ${why}`);
      return null;
    }
    return parsed.data;
  }

  #hello(frame: AgentFrame): void {
    if (frame.type !== "hello") {
      this.#error("hello_first", "invalid_input", "the first frame must be hello");
      this.ws.close(1008, "hello first");
      return;
    }
    this.#d.counters.hellos++;
    if (frame.protocol_version !== this.#d.protocolVersion) {
      this.#error(
        "protocol_mismatch",
        "protocol_mismatch",
        `server speaks protocol ${this.#d.protocolVersion}`,
      );
      this.ws.close(1002, "protocol_mismatch");
      return;
    }
    if (frame.agent_id !== this.who.agent_id || frame.client_id !== this.who.client_id) {
      this.#error("hello_mismatch", "forbidden", "hello does not match the client certificate");
      this.ws.close(1008, "identity mismatch");
      return;
    }
    this.ready = true;
    this.#d.onReady(this, frame);
    const head = this.#d.ingest.head(this.who.agent_id);
    this.send({
      type: "welcome",
      protocol_version: this.#d.protocolVersion,
      server_time: this.#d.now().toISOString(),
      acked_seq: head.acked_seq,
      control_plane_key_id: this.#d.ingest.keyId,
    });
    this.#d.counters.welcomes++;
    // An agent that crashed before our last ack arrived can clean up without resending.
    this.#sendAck(this.#d.ingest.ackFor(this.who));
  }

  #bundle(text: string): void {
    if (this.#pending >= this.#d.maxPending) {
      this.#error(
        "too_many_pending",
        "rate_limited",
        `more than ${this.#d.maxPending} bundles unanswered`,
        null,
        true,
      );
      this.ws.close(1008, "too many pending bundles");
      return;
    }
    this.#pending++;
    this.#d.counters.bundles++;
    this.#d.ingest.submitFrame(this.who, text).then(
      (o) => {
        this.#pending--;
        if (o.status === "rejected") return this.#rejected(o.error, o.seq);
        this.#d.counters[o.status]++;
        this.#sendAck(o.ack);
      },
      (e: unknown) => {
        this.#pending--;
        this.#error("internal", "internal", `ingest failed: ${String(e)}`, null, true);
      },
    );
  }

  #rejected(error: MspError, seq: number | null): void {
    const reason: RejectionReason =
      error.code === "invalid_input"
        ? "malformed"
        : error.code === "forbidden" ||
            error.code === "signature_invalid" ||
            error.code === "conflict" ||
            error.code === "chain_broken" ||
            error.code === "unavailable"
          ? error.code
          : "internal";
    this.#error(reason, error.code, error.message, seq, error.retryable);
  }
}
