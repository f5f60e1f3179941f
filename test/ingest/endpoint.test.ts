/**
 * The real control-plane ingest (agent endpoint + ingest + SQLite) over real
 * mTLS on 127.0.0.1, driven frame by frame with a raw client: acks, forged
 * signatures, replays, forks, gaps, oversized and malformed frames, hello
 * mismatches, unauthenticated upgrades, incidents, commands, supersession.
 */
import { bundleHash, type EvidenceBundle, limits, signBundle } from "@msp/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { signedChain, unsignedBundle } from "../support/bundles.js";
import { createTransportWorld, type TransportWorld, waitFor } from "../transport/harness.js";
import {
  dbFileOf,
  helloOf,
  type IngestHarness,
  isAck,
  isError,
  isWelcome,
  type RawClient,
  rawClient,
  startIngestHarness,
} from "./harness.js";

let world: TransportWorld;
let cp: IngestHarness;
const clients: RawClient[] = [];
let n = 0;

beforeAll(() => {
  world = createTransportWorld();
});
afterAll(() => world.cleanup());
afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await cp?.stop();
});

async function start(
  extra: Parameters<typeof startIngestHarness>[1] extends infer O ? Partial<O> : never = {},
) {
  cp = await startIngestHarness(world, { dbFile: dbFileOf(world, `endpoint-${++n}`), ...extra });
  return cp;
}

async function connect(hello = helloOf(world.agent)): Promise<RawClient> {
  const c = await rawClient(world, cp.url);
  clients.push(c);
  c.sendJson(hello);
  await c.waitFrames(isWelcome);
  return c;
}

const rows = () => (cp.db.prepare("SELECT count(*) AS n FROM evidence_bundles").get() as { n: number }).n;
const send = (c: RawClient, bundle: EvidenceBundle) => c.sendJson({ type: "bundle", bundle });

describe("agent endpoint over mTLS", () => {
  it("stores a stream, acks cumulatively with a signed receipt, and welcomes with acked_seq after reconnect", async () => {
    await start();
    const chain = signedChain(world.agent.evidenceKey, 20);
    const c = await connect();
    expect(c.frames[0]).toMatchObject({
      type: "welcome",
      acked_seq: 0,
      control_plane_key_id: world.controlPlaneKey.keyId,
    });
    for (const b of chain) send(c, b);
    await waitFor("ack of 20", () => c.frames.some((f) => isAck(f) && f.receipt.up_to_seq === 20));
    expect(rows()).toBe(20);
    expect(cp.endpoint.counters).toMatchObject({ bundles: 20, stored: 20, duplicate: 0 });
    c.ws.close();
    await c.closed;
    const again = await connect(helloOf(world.agent, 20));
    expect(again.frames[0]).toMatchObject({ type: "welcome", acked_seq: 20 });
    const [ack] = await again.waitFrames(isAck);
    expect(ack?.receipt).toMatchObject({ up_to_seq: 20, head_hash: bundleHash(chain[19] as EvidenceBundle) });
  });

  it("answers a forged signature with signature_invalid naming the seq, and stores nothing", async () => {
    await start();
    const [b1] = signedChain(world.agent.evidenceKey, 1) as [EvidenceBundle];
    const c = await connect();
    send(c, { ...b1, hostname: "forged" });
    const [err] = await c.waitFrames(isError);
    expect(err).toMatchObject({ code: "signature_invalid", seq: 1, retryable: false });
    expect(rows()).toBe(0);
    expect(cp.endpoint.counters.rejections.signature_invalid).toBe(1);
  });

  it("acks a replayed bundle as a duplicate without a second row", async () => {
    await start();
    const chain = signedChain(world.agent.evidenceKey, 3);
    const c = await connect();
    for (const b of chain) send(c, b);
    await waitFor("ack of 3", () => c.frames.some((f) => isAck(f) && f.receipt.up_to_seq === 3));
    const acksBefore = c.frames.filter(isAck).length;
    send(c, chain[1] as EvidenceBundle);
    await waitFor("another ack", () => c.frames.filter(isAck).length === acksBefore + 1);
    expect(rows()).toBe(3);
    expect(cp.endpoint.counters).toMatchObject({ stored: 3, duplicate: 1 });
  });

  it("flags a fork (conflict), a gap and a reorder, and acks only the contiguous head", async () => {
    await start();
    const chain = signedChain(world.agent.evidenceKey, 4) as EvidenceBundle[];
    const c = await connect();
    send(c, chain[0] as EvidenceBundle);
    send(c, chain[2] as EvidenceBundle);
    await waitFor("two stored", () => rows() === 2);
    const [early] = await c.waitFrames(isAck);
    expect(early?.receipt.up_to_seq).toBe(1);
    const rival = signBundle(
      unsignedBundle(3, bundleHash(chain[1] as EvidenceBundle), { hostname: "rival" }),
      world.agent.evidenceKey,
    );
    send(c, rival);
    const [err] = await c.waitFrames(isError);
    expect(err).toMatchObject({ code: "conflict", seq: 3 });
    // Nothing past the gap was acknowledged.
    expect(c.frames.filter(isAck).every((a) => a.receipt.up_to_seq === 1)).toBe(true);
    send(c, chain[1] as EvidenceBundle);
    await waitFor("ack of 3", () => c.frames.some((f) => isAck(f) && f.receipt.up_to_seq === 3));
    const kinds = cp.store.anomalies({ client_id: "clinic-001" }).items.map((a) => [a.kind, a.seq]);
    expect(kinds).toEqual([
      ["gap", 2],
      ["fork", 3],
      ["reorder", 2],
    ]);
    expect(cp.store.anomalies({ client_id: "clinic-001", open: true }).items.map((a) => a.kind)).toEqual([
      "fork",
    ]);
  });

  it("answers oversized, malformed, binary and out-of-order frames with typed error frames and counts them", async () => {
    await start();
    const c = await connect();
    c.ws.send("x".repeat(limits.MAX_FRAME_BYTES + 10));
    c.ws.send("{not json");
    c.sendJson({ type: "bundle", bundle: { seq: 1 } });
    c.sendJson({ type: "nonsense" });
    c.ws.send(Buffer.from([1, 2, 3]));
    c.sendJson(helloOf(world.agent));
    const errs = await c.waitFrames(isError, 6);
    expect(errs.map((e) => e.code)).toEqual([
      "payload_too_large",
      "invalid_input",
      "invalid_input",
      "invalid_input",
      "invalid_input",
      "invalid_input",
    ]);
    expect(cp.endpoint.counters.rejections).toMatchObject({
      oversized: 1,
      malformed: 3,
      binary: 1,
      hello_twice: 1,
    });
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    c.ws.send("y".repeat(2 * limits.MAX_FRAME_BYTES + 10));
    expect((await c.closed).code).toBe(1009);
    await waitFor("hard oversize counted", () => cp.endpoint.counters.rejections.oversized_hard === 1);
    expect(rows()).toBe(0);
  });

  it("refuses a bundle before hello, a hello for another agent, and another protocol version", async () => {
    await start();
    const early = await rawClient(world, cp.url);
    clients.push(early);
    early.sendJson({ type: "bundle", bundle: signedChain(world.agent.evidenceKey, 1)[0] });
    expect((await early.closed).code).toBe(1008);
    expect(early.frames).toMatchObject([{ type: "error", code: "invalid_input" }]);

    const liar = await rawClient(world, cp.url);
    clients.push(liar);
    liar.sendJson(helloOf(world.other));
    expect((await liar.closed).code).toBe(1008);
    expect(liar.frames).toMatchObject([{ type: "error", code: "forbidden" }]);

    const old = await rawClient(world, cp.url);
    clients.push(old);
    old.sendJson(helloOf(world.agent, 0, 99));
    expect((await old.closed).code).toBe(1002);
    expect(old.frames).toMatchObject([{ type: "error", code: "protocol_mismatch" }]);
    expect(cp.endpoint.counters.rejections).toMatchObject({
      hello_first: 1,
      hello_mismatch: 1,
      protocol_mismatch: 1,
    });
    expect(cp.endpoint.counters.welcomes).toBe(0);
  });

  it("refuses upgrades without a verified certificate, from a foreign CA, revoked agents and other paths", async () => {
    await start({ revoked: new Set(["srv-backup"]) });
    await expect(rawClient(world, cp.url, null)).rejects.toThrow(/HTTP 401/);
    const who = world.agent.who;
    await expect(rawClient(world, cp.url, world.pki.foreignClient(who))).rejects.toThrow(/HTTP 401/);
    await expect(rawClient(world, cp.url, world.pki.selfSignedClient(who))).rejects.toThrow(/HTTP 401/);
    await expect(rawClient(world, cp.url, world.pki.expiredClient(who))).rejects.toThrow(/HTTP 401/);
    await expect(rawClient(world, cp.url, world.other.tls)).rejects.toThrow(/HTTP 403/);
    await expect(rawClient(world, cp.url.replace("/v1/agent", "/v1/other"))).rejects.toThrow(/HTTP 404/);
    expect(cp.endpoint.counters.refusals).toMatchObject({ unauthenticated: 4, revoked: 1, not_found: 1 });
    expect(cp.endpoint.counters.upgrades).toBe(0);
  });

  it("passes incidents of its own clinic on, refuses others, sends commands, and lets a new connection supersede the old", async () => {
    await start();
    const c = await connect();
    const incident = {
      incident_id: "INC-20261101-0001",
      client_id: "clinic-001",
      agent_id: "srv-primary",
      hostname: "srv-primary",
      incident_type: "disk_full",
      severity: "high",
      detected_at: "2026-11-01T08:00:00.000Z",
      source: "drift_check",
      details: {},
    };
    c.sendJson({ type: "incident", incident });
    c.sendJson({ type: "incident", incident: { ...incident, client_id: "clinic-002" } });
    c.sendJson({
      type: "command_status",
      command_id: "CMD-0000000000000001",
      status: "accepted",
      reason: null,
    });
    await c.waitFrames(isError);
    await waitFor("incident and status", () => cp.incidents.length === 1 && cp.commandStatuses.length === 1);
    expect(cp.endpoint.counters.rejections.incident_forbidden).toBe(1);

    expect(
      cp.endpoint.send("srv-primary", {
        type: "error",
        code: "test",
        message: "hi",
        retryable: false,
        seq: null,
      }),
    ).toBe(true);
    await waitFor("frame delivered", () => c.frames.some((f) => f.type === "error" && f.code === "test"));
    expect(() => cp.endpoint.send("srv-primary", { type: "bogus" } as never)).toThrow(
      /invalid control-plane frame/,
    );

    const second = await connect();
    expect((await c.closed).code).toBe(4000);
    expect(cp.endpoint.connected("srv-primary")).toBe(true);
    expect(cp.endpoint.connections()).toMatchObject([
      { agent_id: "srv-primary", client_id: "clinic-001", remote_address: "127.0.0.1" },
    ]);
    expect(cp.endpoint.counters.superseded).toBe(1);
    await waitFor("old disconnect reported", () => cp.disconnects.length === 1);
    expect(cp.disconnects[0]).toMatchObject({ code: 4000, still_connected: true });
    second.ws.close();
    await second.closed;
    await waitFor("disconnected", () => !cp.endpoint.connected("srv-primary"));
  });

  it("drops a socket that stops answering pings and closes one that never says hello", async () => {
    await start({ endpoint: { pingIntervalMs: 40, helloTimeoutMs: 40 } });
    const silent = await rawClient(world, cp.url);
    clients.push(silent);
    expect((await silent.closed).code).toBe(1008);
    expect(cp.endpoint.counters.helloTimeouts).toBe(1);
    const c = await connect();
    // Stop the socket from reading so pongs are never sent back.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await waitFor("keepalive timeout", () => cp.endpoint.counters.keepaliveTimeouts >= 1);
  });
});
