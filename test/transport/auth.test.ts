/**
 * Nothing unauthenticated gets in (invariant 4) and bad input changes nothing
 * (invariant 5), with real certificates and real TLS: a wrong CA, an expired,
 * foreign or self-signed client certificate, a certificate of another clinic
 * or agent are refused and no bundle is accepted; oversized and malformed
 * frames are refused in both directions.
 */
import { limits, verifyChain } from "@msp/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTransport, type Transport } from "../../agent/src/transport/index.js";
import { type IngestServer, startIngestServer } from "../support/ingest-server.js";
import type { CertPair } from "../support/pki.js";
import { agentTransportOptions, createTransportWorld, type TransportWorld, waitFor } from "./harness.js";
import { MemoryOutbox } from "./memory-outbox.js";

let world: TransportWorld;
let server: IngestServer;
const transports: Transport[] = [];

beforeAll(async () => {
  world = createTransportWorld();
  server = await startIngestServer(world.serverConfig("auth"));
});
afterAll(async () => {
  await server.stop();
  world.cleanup();
});
afterEach(async () => {
  for (const t of transports.splice(0)) await t.stop();
});

function outboxWith(n: number): MemoryOutbox {
  const outbox = new MemoryOutbox(
    world.agent.evidenceKey,
    world.controlPlaneKey.publicKey.toString("base64"),
    world.agent.who,
  );
  outbox.append(n);
  return outbox;
}

/** Runs the primary agent's transport with the given TLS material and checks it is refused twice. */
async function expectRefused(opts: { url?: string; ca?: string; tls?: CertPair }): Promise<void> {
  const before = { ...server.counters };
  const outbox = outboxWith(5);
  const transport = createTransport(
    agentTransportOptions(world, world.agent, opts.url ?? server.url, outbox, {
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      ...(opts.tls === undefined ? {} : { cert: opts.tls.cert, key: opts.tls.key }),
    }),
  );
  transports.push(transport);
  transport.start();
  await waitFor("two refused connections", () => transport.stats().connectFailures >= 2);
  await transport.stop();
  expect(transport.stats()).toMatchObject({ welcomes: 0, bundlesSent: 0, acksApplied: 0 });
  expect(server.counters.welcomes).toBe(before.welcomes);
  expect(server.counters.accepted).toBe(0);
  expect(server.stored("srv-primary")).toEqual([]);
  expect(outbox.size).toBe(5);
}

describe("connection refusals", () => {
  it("refuses a control plane whose certificate is not from the pinned CA (agent pins another CA)", async () => {
    await expectRefused({ ca: world.pki.foreignCa.cert });
  });

  it("refuses a control plane presenting a certificate of an untrusted CA", async () => {
    const rogue = await startIngestServer({
      ...world.serverConfig("rogue"),
      tls: {
        certFile: world.pki.foreignServer.certFile,
        keyFile: world.pki.foreignServer.keyFile,
        caFile: world.pki.ca.certFile,
      },
    });
    try {
      await expectRefused({ url: rogue.url });
      expect(rogue.counters.connections).toBe(0);
    } finally {
      await rogue.stop();
    }
  });

  it("refuses a client certificate from an untrusted CA at the TLS layer", async () => {
    const tlsBefore = server.counters.tlsRefused;
    await expectRefused({ tls: world.pki.foreignClient(world.agent.who) });
    expect(server.counters.tlsRefused).toBeGreaterThan(tlsBefore);
  });

  it("refuses an expired client certificate at the TLS layer", async () => {
    const tlsBefore = server.counters.tlsRefused;
    await expectRefused({ tls: world.pki.expiredClient(world.agent.who) });
    expect(server.counters.tlsRefused).toBeGreaterThan(tlsBefore);
  });

  it("refuses a self-signed client certificate at the TLS layer", async () => {
    const tlsBefore = server.counters.tlsRefused;
    await expectRefused({ tls: world.pki.selfSignedClient(world.agent.who) });
    expect(server.counters.tlsRefused).toBeGreaterThan(tlsBefore);
  });

  it("refuses a certificate of another clinic (SAN says clinic-b, hello says clinic-001)", async () => {
    const before = server.counters.upgradesRefused;
    const cert = world.pki.issueClient("clinic-b", { agent_id: "srv-primary", client_id: "clinic-b" });
    await expectRefused({ tls: cert });
    expect(server.counters.upgradesRefused).toBeGreaterThan(before);
  });

  it("refuses an agent that is not enrolled, even with a valid certificate", async () => {
    const before = server.counters.upgradesRefused;
    const cert = world.pki.issueClient("ghost", { agent_id: "srv-ghost", client_id: "clinic-001" });
    await expectRefused({ tls: cert });
    expect(server.counters.upgradesRefused).toBeGreaterThan(before);
  });

  it("refuses a hello that does not match the certificate (another enrolled agent's cert)", async () => {
    const before = server.counters.hellosRefused;
    await expectRefused({ tls: world.other.tls });
    expect(server.counters.hellosRefused).toBeGreaterThan(before);
  });
});

/** A raw mTLS client for the primary agent, already past hello/welcome. */
async function rawClient(): Promise<{ ws: WebSocket; frames: unknown[]; closed: Promise<number> }> {
  const ws = new WebSocket(server.url, {
    ca: world.pki.ca.cert,
    cert: world.agent.tls.cert,
    key: world.agent.tls.key,
    rejectUnauthorized: true,
  });
  const frames: unknown[] = [];
  ws.on("message", (d) => frames.push(JSON.parse(String(d))));
  const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  ws.send(
    JSON.stringify({
      type: "hello",
      protocol_version: 1,
      agent_id: "srv-primary",
      client_id: "clinic-001",
      hostname: "srv-primary",
      agent_version: "raw",
      last_seq: 0,
      catalog_sha256: "d".repeat(64),
    }),
  );
  await waitFor("welcome", () => frames.some((f) => (f as { type?: string }).type === "welcome"));
  return { ws, frames, closed };
}

describe("frame limits", () => {
  it("the server refuses a frame over MAX_FRAME_BYTES (close 1009) and accepts nothing", async () => {
    const before = { ...server.counters };
    const { ws, closed } = await rawClient();
    ws.send("x".repeat(limits.MAX_FRAME_BYTES + 1));
    expect(await closed).toBe(1009);
    expect(server.counters.oversized).toBe(before.oversized + 1);
    expect(server.counters.accepted).toBe(before.accepted);
  });

  it("the server answers malformed frames with a typed error frame and counts them", async () => {
    const before = server.counters.malformed;
    const { ws, frames } = await rawClient();
    ws.send("{not json");
    ws.send(JSON.stringify({ type: "bundle", bundle: { seq: 1 } }));
    ws.send(JSON.stringify({ type: "hello", extra: true }));
    await waitFor(
      "three error frames",
      () => frames.filter((f) => (f as { type?: string }).type === "error").length >= 3,
    );
    expect(server.counters.malformed).toBe(before + 3);
    expect(frames).toContainEqual(expect.objectContaining({ type: "error", code: "invalid_input" }));
    ws.close();
  });

  it("the agent ignores malformed frames, and drops a connection sending a frame over its maxPayload", async () => {
    const outbox = outboxWith(3);
    const transport = createTransport(agentTransportOptions(world, world.agent, server.url, outbox));
    transports.push(transport);
    transport.start();
    await waitFor("3 acked", () => outbox.head().acked_seq === 3);

    server.sendRaw("srv-primary", "{not json");
    server.sendRaw("srv-primary", JSON.stringify({ type: "ack", receipt: {}, signature: {} }));
    server.sendRaw(
      "srv-primary",
      JSON.stringify({ type: "execute_runbook", command: { runbook_id: "rm -rf /" } }),
    );
    await waitFor("three malformed frames counted", () => transport.stats().malformedFrames === 3);
    expect(transport.state()).toBe("ready");
    expect(transport.stats()).toMatchObject({ commandsReceived: 0, acksRefused: 0, welcomes: 1 });

    server.sendRaw("srv-primary", "x".repeat(limits.MAX_FRAME_BYTES + 1));
    await waitFor("reconnected after the oversized frame", () => transport.stats().welcomes === 2);
    expect(outbox.head().acked_seq).toBe(3);
    expect(verifyChain(server.stored("srv-primary")).ok).toBe(true);
  });
});
