/**
 * The protocol of one connection, kept apart from the socket so it can be
 * tested frame by frame: hello, wait for welcome, stream the outbox through the
 * send window, apply signed acks, hand commands to the caller. Every incoming
 * frame is parsed with `ControlPlaneFrame` first; a frame that does not parse
 * is logged and counted and never acted on.
 */
import {
  type AgentFrame,
  ControlPlaneFrame,
  describeIssues,
  type Incident,
  limits,
  MspError,
} from "@msp/shared";
import type {
  AckFrame,
  CallerFrame,
  ExecuteRunbookFrame,
  HelloInfo,
  OutboxPort,
  TransportLogger,
} from "./options.js";
import type { BoundedQueue } from "./queue.js";
import type { TransportCounters } from "./stats.js";
import { SendWindow } from "./window.js";

/** The socket as the session sees it; `index.ts` adapts a `ws` WebSocket to it. */
export interface Wire {
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** What a session needs; shared state (counters, incident queue) outlives it. */
export interface SessionDeps {
  wire: Wire;
  outbox: OutboxPort;
  hello: HelloInfo;
  protocolVersion: number;
  windowSize: number;
  /** Most frame bytes in flight (at least one bundle is always allowed). */
  windowBytes: number;
  incidents: BoundedQueue<Incident>;
  counters: TransportCounters;
  logger: TransportLogger;
  onCommand(frame: ExecuteRunbookFrame): Promise<void>;
  /** Called once when the welcome is accepted (the transport resets its backoff). */
  onWelcome(): void;
}

/** One connection's protocol state. Create one per socket; call `detach()` when it closes. */
export class Session {
  readonly #d: SessionDeps;
  readonly window: SendWindow;
  #ready = false;
  #detached = false;
  #stalled = false;

  constructor(deps: SessionDeps) {
    this.#d = deps;
    this.window = new SendWindow(deps.windowSize, deps.windowBytes);
  }

  /** True between an accepted welcome and the socket closing. */
  get ready(): boolean {
    return this.#ready && !this.#detached;
  }

  /** Sends hello; call when the socket opens. */
  start(): void {
    this.#guard("hello", () => {
      const { last_seq } = this.#d.outbox.head();
      this.#send({ type: "hello", protocol_version: this.#d.protocolVersion, ...this.#d.hello, last_seq });
    });
  }

  /** The socket closed: nothing more is sent or acted on. */
  detach(): void {
    this.#detached = true;
  }

  /** Parses and handles one incoming message. Never throws. */
  receive(data: Buffer | string, isBinary: boolean): void {
    if (this.#detached) return;
    const frame = this.#parse(data, isBinary);
    if (frame !== null) this.#guard(frame.type, () => this.#dispatch(frame));
  }

  #dispatch(frame: ControlPlaneFrame): void {
    switch (frame.type) {
      case "welcome":
        this.#onWelcome(frame);
        break;
      case "ack":
        this.#whenReady(frame.type, () => this.#onAck(frame));
        break;
      case "execute_runbook":
        this.#whenReady(frame.type, () => this.#onCommand(frame));
        break;
      case "error": {
        this.#d.counters.errorFrames++;
        const fields = {
          code: frame.code,
          message: frame.message,
          seq: frame.seq,
          retryable: frame.retryable,
        };
        if (frame.code === "protocol_mismatch")
          this.#d.logger.error("control plane refused our protocol", fields);
        else this.#d.logger.warn("control plane sent an error frame", fields);
        break;
      }
      default: {
        const unhandled: never = frame;
        throw new Error(`unhandled frame ${JSON.stringify(unhandled)}`);
      }
    }
  }

  /** Sends outbox bundles while the window has room. Call after welcome, acks and new appends. */
  pump(): void {
    this.#guard("pump", () => this.#pump());
  }

  #pump(): void {
    if (!this.ready || this.#stalled) return;
    while (this.window.room > 0) {
      const want = this.window.room;
      const batch = this.#d.outbox.pending(this.window.cursor, want);
      for (const bundle of batch) {
        const text = JSON.stringify({ type: "bundle", bundle });
        const bytes = Buffer.byteLength(text);
        if (bytes > limits.MAX_FRAME_BYTES) {
          // Skipping it would leave a gap the server can never ack past; stall visibly instead.
          this.#stalled = true;
          this.#d.counters.oversizedBundles++;
          this.#d.logger.error("bundle exceeds the frame limit; streaming stalls until it is fixed", {
            seq: bundle.seq,
            bytes,
            max_frame_bytes: limits.MAX_FRAME_BYTES,
          });
          return;
        }
        // Over the byte budget: the rest of this read is sent after the next ack (the read is cheap to repeat).
        if (!this.window.fits(bytes)) return;
        this.#d.wire.send(text);
        this.window.sent(bundle.seq, bytes);
        this.#d.counters.bundlesSent++;
      }
      if (batch.length < want) return;
    }
  }

  /** Sends a caller frame now; false when not ready (the caller decides whether to queue). */
  send(frame: CallerFrame): boolean {
    if (!this.ready) return false;
    this.#send(frame);
    return true;
  }

  /**
   * Runs `act`, turning a throw (an outbox whose storage failed, a bug) into a
   * logged error and a closed connection: these run inside socket event
   * handlers, where a throw would crash the agent, and reconnecting retries
   * the same work after the backoff.
   */
  #guard(what: string, act: () => void): void {
    try {
      act();
    } catch (e) {
      const error = e instanceof MspError ? e.toJSON() : String(e);
      this.#d.logger.error("transport step failed; closing the connection to retry", { step: what, error });
      this.#d.wire.close(1011, "agent error");
    }
  }

  #send(frame: AgentFrame): void {
    this.#d.wire.send(JSON.stringify(frame));
  }

  #parse(data: Buffer | string, isBinary: boolean): ControlPlaneFrame | null {
    const malformed = (why: string, details?: unknown) => {
      this.#d.counters.malformedFrames++;
      this.#d.logger.warn("malformed frame from the control plane ignored", { why, details });
      return null;
    };
    if (isBinary) return malformed("binary frame; the protocol is JSON text");
    let json: unknown;
    try {
      json = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
    } catch {
      return malformed("not JSON");
    }
    const parsed = ControlPlaneFrame.safeParse(json);
    if (!parsed.success) return malformed("does not match ControlPlaneFrame", describeIssues(parsed.error));
    return parsed.data;
  }

  #whenReady(type: string, act: () => void): void {
    if (this.ready) {
      act();
      return;
    }
    this.#d.counters.unexpectedFrames++;
    this.#d.logger.warn("frame before welcome ignored", { type });
  }

  #onWelcome(frame: Extract<ControlPlaneFrame, { type: "welcome" }>): void {
    if (this.#ready) {
      this.#d.counters.unexpectedFrames++;
      this.#d.logger.warn("second welcome on one connection ignored");
      return;
    }
    if (frame.protocol_version !== this.#d.protocolVersion) {
      this.#d.logger.error("control plane speaks another protocol version", {
        ours: this.#d.protocolVersion,
        theirs: frame.protocol_version,
      });
      this.#d.wire.close(1002, "protocol_mismatch");
      return;
    }
    const head = this.#d.outbox.head();
    this.#ready = true;
    this.window.reset(head.acked_seq);
    this.#d.counters.welcomes++;
    this.#d.logger.info("connected to the control plane", {
      server_acked_seq: frame.acked_seq,
      acked_seq: head.acked_seq,
      last_seq: head.last_seq,
      control_plane_key_id: frame.control_plane_key_id,
    });
    if (frame.acked_seq > head.last_seq) {
      this.#d.logger.warn("control plane holds seqs this outbox never produced", {
        server_acked_seq: frame.acked_seq,
        last_seq: head.last_seq,
      });
    }
    this.#d.onWelcome();
    this.#flushIncidents();
    this.pump();
  }

  #onAck(frame: AckFrame): void {
    const upTo = frame.receipt.up_to_seq;
    let outcome: ReturnType<OutboxPort["applyAck"]>;
    try {
      outcome = this.#d.outbox.applyAck(frame);
    } catch (e) {
      this.#d.counters.acksRefused++;
      const err = e instanceof MspError ? e.toJSON() : String(e);
      this.#d.logger.error("outbox failed to apply an ack", { up_to_seq: upTo, error: err });
      return;
    }
    if (outcome.ok) {
      this.#d.counters.acksApplied++;
      this.window.acked(outcome.acked_seq);
      this.pump();
      return;
    }
    const why = outcome.reason ?? outcome.message ?? "refused";
    if (upTo <= this.#d.outbox.head().acked_seq) {
      this.#d.counters.acksStale++;
      return;
    }
    this.#d.counters.acksRefused++;
    this.#d.logger.warn("ack refused by the outbox; rows kept", { up_to_seq: upTo, reason: why });
  }

  #onCommand(frame: ExecuteRunbookFrame): void {
    this.#d.counters.commandsReceived++;
    const id = frame.command.command_id;
    let pending: Promise<void>;
    try {
      pending = this.#d.onCommand(frame);
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.catch((e: unknown) => {
      this.#d.counters.commandHandlerErrors++;
      this.#d.logger.error("command handler failed", { command_id: id, error: String(e) });
    });
  }

  #flushIncidents(): void {
    for (const incident of this.#d.incidents.drain()) {
      this.#send({ type: "incident", incident });
      this.#d.counters.incidentsSent++;
    }
  }
}
