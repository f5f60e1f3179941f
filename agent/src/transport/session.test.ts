import {
  bundleHash,
  canonicalBytes,
  type EvidenceBundle,
  generateSigningKey,
  type Incident,
  limits,
  PROTOCOL_VERSION,
  type SigningKey,
  signBytes,
} from "@msp/shared";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { memoryLogger } from "../../../test/transport/harness.js";
import { MemoryOutbox } from "../../../test/transport/memory-outbox.js";
import type { AckFrame, ExecuteRunbookFrame, OutboxPort } from "./options.js";
import { BoundedQueue } from "./queue.js";
import { Session } from "./session.js";
import { newCounters, type TransportCounters } from "./stats.js";

const who = { agent_id: "srv-primary", client_id: "clinic-001" };
const hello = { ...who, hostname: "srv-primary", agent_version: "0.1.0", catalog_sha256: "d".repeat(64) };

let cpKey: SigningKey;
let outbox: MemoryOutbox;
let chain: EvidenceBundle[];
let sent: Record<string, unknown>[];
let closed: { code: number; reason: string }[];
let counters: TransportCounters;
let incidents: BoundedQueue<Incident>;
let commands: ExecuteRunbookFrame[];
let welcomed: number;

function session(
  port: OutboxPort = outbox,
  onCommand = async (f: ExecuteRunbookFrame) => void commands.push(f),
  windowBytes = 8 << 20,
) {
  return new Session({
    wire: {
      send: (text) => sent.push(JSON.parse(text)),
      close: (code, reason) => closed.push({ code, reason }),
    },
    outbox: port,
    hello,
    protocolVersion: PROTOCOL_VERSION,
    windowSize: 4,
    windowBytes,
    incidents,
    counters,
    logger: memoryLogger(),
    onCommand,
    onWelcome: () => welcomed++,
  });
}

const welcome = (acked = 0) =>
  JSON.stringify({
    type: "welcome",
    protocol_version: PROTOCOL_VERSION,
    server_time: "2026-11-01T08:00:00.000Z",
    acked_seq: acked,
    control_plane_key_id: cpKey.keyId,
  });

function ack(upTo: number, key: SigningKey = cpKey): string {
  const bundle = chain[upTo - 1];
  if (bundle === undefined) throw new Error(`no bundle ${upTo}`);
  const receipt = {
    ...who,
    up_to_seq: upTo,
    head_hash: bundleHash(bundle),
    stored_at: "2026-11-01T08:00:00.000Z",
  };
  const value = signBytes(key, canonicalBytes(receipt)).toString("base64");
  return JSON.stringify({ type: "ack", receipt, signature: { alg: "ed25519", key_id: cpKey.keyId, value } });
}

const command = {
  type: "execute_runbook",
  command: {
    command_id: "CMD-0000000000000001",
    ...who,
    incident_id: null,
    runbook_id: "RB-BACKUP-001",
    runbook_sha256: "b".repeat(64),
    params: {},
    issued_at: "2026-11-01T08:00:00.000Z",
    expires_at: "2026-11-01T09:00:00.000Z",
    dry_run: false,
    planner: { kind: "rules", confidence: 1, fallback_reason: null },
    approval: { decision: "not_required", approver: null, decided_at: null },
  },
  signature: { alg: "ed25519", key_id: "e".repeat(32), value: Buffer.alloc(64).toString("base64") },
};

const seqsSent = () => sent.filter((f) => f.type === "bundle").map((f) => (f.bundle as EvidenceBundle).seq);

beforeEach(() => {
  cpKey = generateSigningKey();
  outbox = new MemoryOutbox(generateSigningKey(), cpKey.publicKey.toString("base64"), who);
  chain = outbox.append(10);
  sent = [];
  closed = [];
  counters = newCounters();
  incidents = new BoundedQueue(10);
  commands = [];
  welcomed = 0;
});

describe("handshake and window", () => {
  it("sends hello first and no bundle before welcome", () => {
    const s = session();
    s.start();
    s.pump();
    expect(sent).toEqual([{ type: "hello", protocol_version: PROTOCOL_VERSION, ...hello, last_seq: 10 }]);
    expect(s.ready).toBe(false);
  });

  it("after welcome streams from the outbox's acked seq, one window at a time, advancing on acks", () => {
    const s = session();
    s.start();
    s.receive(welcome(), false);
    expect(welcomed).toBe(1);
    expect(seqsSent()).toEqual([1, 2, 3, 4]);
    s.receive(ack(2), false);
    expect(outbox.head().acked_seq).toBe(2);
    expect(outbox.size).toBe(8);
    expect(seqsSent()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.window.inflight).toBe(4);
    s.receive(ack(6), false);
    expect(seqsSent()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    s.receive(ack(10), false);
    expect(outbox.size).toBe(0);
    expect(s.window.inflight).toBe(0);
    expect(counters).toMatchObject({ acksApplied: 3, bundlesSent: 10, acksRefused: 0 });
  });

  it("also bounds the bytes in flight, but always lets one bundle through", () => {
    const frameBytes = Buffer.byteLength(JSON.stringify({ type: "bundle", bundle: chain[0] }));
    // Room for two frames by bytes (every frame of this chain has the same length within a few bytes).
    const s = session(outbox, undefined, 2 * frameBytes + 10);
    s.start();
    s.receive(welcome(), false);
    expect(seqsSent()).toEqual([1, 2]);
    expect(s.window.inflightBytes).toBeLessThanOrEqual(2 * frameBytes + 10);
    s.receive(ack(1), false);
    expect(seqsSent()).toEqual([1, 2, 3]);
    const tiny = session(outbox, undefined, 1);
    sent = [];
    tiny.start();
    tiny.receive(welcome(1), false);
    expect(seqsSent()).toEqual([2]);
  });

  it("replays only what is not acked: a reconnect resumes after the acked seq", () => {
    outbox.applyAck(JSON.parse(ack(6)) as AckFrame);
    const s = session();
    s.start();
    s.receive(welcome(6), false);
    expect(seqsSent()).toEqual([7, 8, 9, 10]);
  });

  it("closes on a welcome of another protocol version and never streams", () => {
    const s = session();
    s.start();
    s.receive(welcome().replace(`"protocol_version":${PROTOCOL_VERSION}`, '"protocol_version":99'), false);
    expect(closed).toEqual([{ code: 1002, reason: "protocol_mismatch" }]);
    expect(s.ready).toBe(false);
    expect(seqsSent()).toEqual([]);
  });

  it("flushes queued incidents after welcome", () => {
    const inc = {
      incident_id: "INC-20261101-0001",
      client_id: "clinic-001",
      hostname: "srv-primary",
      incident_type: "disk_full",
      severity: "high",
      detected_at: "2026-11-01T08:00:00.000Z",
      source: "drift_check",
      details: {},
    } as const;
    incidents.push(inc);
    const s = session();
    s.start();
    s.receive(welcome(), false);
    expect(sent.filter((f) => f.type === "incident")).toEqual([{ type: "incident", incident: inc }]);
    expect(incidents.length).toBe(0);
  });

  it("stalls visibly on a bundle too large for one frame instead of skipping it", () => {
    const huge = { ...chain[0], outputs: { blob: "x".repeat(limits.MAX_FRAME_BYTES) } } as EvidenceBundle;
    const port: OutboxPort = {
      head: () => outbox.head(),
      pending: () => [huge],
      applyAck: (f) => outbox.applyAck(f),
    };
    const s = session(port);
    s.start();
    s.receive(welcome(), false);
    expect(seqsSent()).toEqual([]);
    expect(counters.oversizedBundles).toBe(1);
  });
});

describe("failures of the outbox", () => {
  it("closes the connection (to retry after backoff) instead of throwing into the socket handler", () => {
    const port: OutboxPort = {
      head: () => outbox.head(),
      pending: () => {
        throw new Error("disk I/O error");
      },
      applyAck: (f) => outbox.applyAck(f),
    };
    const s = session(port);
    s.start();
    expect(() => s.receive(welcome(), false)).not.toThrow();
    expect(closed).toEqual([{ code: 1011, reason: "agent error" }]);
  });
});

describe("acks and commands", () => {
  it("keeps every row on an ack with a bad signature", () => {
    const s = session();
    s.start();
    s.receive(welcome(), false);
    s.receive(ack(4, generateSigningKey()), false);
    expect(outbox.size).toBe(10);
    expect(outbox.refusals).toEqual(["signature_invalid"]);
    expect(counters).toMatchObject({ acksApplied: 0, acksRefused: 1 });
    expect(seqsSent()).toEqual([1, 2, 3, 4]);
  });

  it("treats a repeated older ack as stale, not as a refusal", () => {
    const s = session();
    s.start();
    s.receive(welcome(), false);
    s.receive(ack(3), false);
    s.receive(ack(2), false);
    expect(counters).toMatchObject({ acksApplied: 1, acksRefused: 0, acksStale: 1 });
  });

  it("logs and counts an outbox that throws while applying an ack", () => {
    const port: OutboxPort = {
      head: () => outbox.head(),
      pending: (a, l) => outbox.pending(a, l),
      applyAck: () => {
        throw new Error("database is closed");
      },
    };
    const s = session(port);
    s.start();
    s.receive(welcome(), false);
    s.receive(ack(1), false);
    expect(counters.acksRefused).toBe(1);
  });

  it("hands a parsed execute_runbook to onCommand and counts handler failures", async () => {
    const s = session();
    s.start();
    s.receive(welcome(), false);
    s.receive(JSON.stringify(command), false);
    expect(commands.map((c) => c.command.command_id)).toEqual(["CMD-0000000000000001"]);
    const failing = session(outbox, async () => {
      throw new Error("boom");
    });
    failing.start();
    failing.receive(welcome(), false);
    failing.receive(JSON.stringify(command), false);
    await new Promise((r) => setImmediate(r));
    expect(counters.commandHandlerErrors).toBe(1);
  });

  it("counts error frames", () => {
    const s = session();
    s.start();
    s.receive(welcome(), false);
    s.receive(
      JSON.stringify({ type: "error", code: "conflict", message: "fork", retryable: false, seq: 3 }),
      false,
    );
    expect(counters.errorFrames).toBe(1);
  });
});

describe("malformed and unexpected frames are never acted on", () => {
  it("ignores and counts frames that do not parse", () => {
    const applyAck = vi.spyOn(outbox, "applyAck");
    const s = session();
    s.start();
    s.receive(welcome(), false);
    const bad: [string | Buffer, boolean][] = [
      ["{not json", false],
      [Buffer.from(ack(4)), true],
      [JSON.stringify({ type: "reboot" }), false],
      [JSON.stringify({ ...JSON.parse(ack(4)), extra: 1 }), false],
      [JSON.stringify({ ...command, signature: undefined }), false],
      [JSON.stringify({ ...command, command: { ...command.command, runbook_id: "rm -rf /" } }), false],
      [JSON.stringify({ type: "ack", receipt: { up_to_seq: -1 }, signature: {} }), false],
    ];
    for (const [data, binary] of bad) s.receive(data, binary);
    expect(counters.malformedFrames).toBe(bad.length);
    expect(applyAck).not.toHaveBeenCalled();
    expect(commands).toEqual([]);
    expect(outbox.size).toBe(10);
    expect(s.ready).toBe(true);
  });

  it("ignores acks and commands before welcome, and everything after detach", () => {
    const applyAck = vi.spyOn(outbox, "applyAck");
    const s = session();
    s.start();
    s.receive(ack(2), false);
    s.receive(JSON.stringify(command), false);
    expect(counters.unexpectedFrames).toBe(2);
    s.detach();
    s.receive(welcome(), false);
    expect(s.ready).toBe(false);
    expect(applyAck).not.toHaveBeenCalled();
    expect(commands).toEqual([]);
  });
});
