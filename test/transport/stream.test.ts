/**
 * The transport against the stub control plane over real mTLS on 127.0.0.1:
 * streaming with acks, notify, incidents queued across a disconnect, commands,
 * keepalive, the protocol-version handshake and the welcome timeout.
 */
import { verifyChain } from "@msp/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createTransport,
  type ExecuteRunbookFrame,
  type Transport,
} from "../../agent/src/transport/index.js";
import { type IngestServer, startIngestServer } from "../support/ingest-server.js";
import {
  agentTransportOptions,
  createTransportWorld,
  memoryLogger,
  type TransportWorld,
  waitFor,
} from "./harness.js";
import { MemoryOutbox } from "./memory-outbox.js";

let world: TransportWorld;
const running: { transport?: Transport; server?: IngestServer }[] = [];

beforeAll(() => {
  world = createTransportWorld();
});
afterAll(() => world.cleanup());
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.transport?.stop();
    await r.server?.stop();
  }
});

function outboxFor(): MemoryOutbox {
  return new MemoryOutbox(
    world.agent.evidenceKey,
    world.controlPlaneKey.publicKey.toString("base64"),
    world.agent.who,
  );
}

const incident = (n: number) => ({
  incident_id: `INC-20261101-${String(n).padStart(4, "0")}`,
  client_id: "clinic-001",
  agent_id: "srv-primary",
  hostname: "srv-primary",
  incident_type: "disk_full" as const,
  severity: "high" as const,
  detected_at: "2026-11-01T08:00:00.000Z",
  source: "drift_check" as const,
  details: { used_pct: 97 },
});

describe("streaming over mTLS", () => {
  it("streams every bundle, gets signed acks and empties the outbox; notify sends new appends", async () => {
    const server = await startIngestServer(world.serverConfig("stream"));
    const outbox = outboxFor();
    outbox.append(100);
    const transport = createTransport(agentTransportOptions(world, world.agent, server.url, outbox));
    running.push({ transport, server });
    transport.start();

    await waitFor("100 acked", () => outbox.head().acked_seq === 100);
    expect(outbox.size).toBe(0);
    expect(transport.state()).toBe("ready");

    outbox.append(7);
    transport.notify();
    await waitFor("107 acked", () => outbox.head().acked_seq === 107);

    const stored = server.stored("srv-primary");
    expect(stored.map((b) => b.seq)).toEqual(Array.from({ length: 107 }, (_, i) => i + 1));
    expect(verifyChain(stored).ok).toBe(true);
    expect(server.counters).toMatchObject({ accepted: 107, duplicate: 0, rejected: 0, malformed: 0 });
    expect(outbox.refusals).toEqual([]);
    const stats = transport.stats();
    expect(stats).toMatchObject({ bundlesSent: 107, malformedFrames: 0, acksRefused: 0, welcomes: 1 });
    expect(stats.inflight).toBe(0);
  });

  it("never has more than sendWindow bundles unacked on the wire", async () => {
    const server = await startIngestServer(world.serverConfig("window"));
    const outbox = outboxFor();
    outbox.append(40);
    let maxInflight = 0;
    const transport = createTransport(
      agentTransportOptions(world, world.agent, server.url, outbox, { sendWindow: 4 }),
    );
    outbox.onAck = () => {
      maxInflight = Math.max(maxInflight, transport.stats().inflight);
    };
    running.push({ transport, server });
    transport.start();
    await waitFor("40 acked", () => outbox.head().acked_seq === 40);
    expect(maxInflight).toBeLessThanOrEqual(4);
    expect(server.stored("srv-primary")).toHaveLength(40);
  });

  it("queues incidents while disconnected and sends them after the next welcome", async () => {
    const config = world.serverConfig("incidents");
    const outbox = outboxFor();
    const first = await startIngestServer(config);
    const transport = createTransport(agentTransportOptions(world, world.agent, first.url, outbox));
    running.push({ transport });
    transport.start();
    await waitFor("ready", () => transport.state() === "ready");
    expect(transport.sendIncident(incident(1))).toBe("sent");
    await waitFor("incident 1 delivered", () => first.incidents.length === 1);
    await first.stop();
    await waitFor("disconnected", () => transport.state() !== "ready");

    expect(transport.sendIncident(incident(2))).toBe("queued");
    expect(transport.sendIncident(incident(3))).toBe("queued");
    expect(transport.stats().queuedIncidents).toBe(2);

    const second = await startIngestServer({ ...config, port: first.port });
    running.push({ server: second });
    await waitFor("incidents 2 and 3 delivered", () => second.incidents.length === 2);
    expect(second.incidents.map((i) => i.incident_id)).toEqual(["INC-20261101-0002", "INC-20261101-0003"]);
    // The failed dials while the server was down grew the backoff; the welcome reset it.
    expect(transport.stats()).toMatchObject({ queuedIncidents: 0, backoffAttempts: 0, state: "ready" });
  });

  it("delivers parsed execute_runbook frames to onCommand", async () => {
    const server = await startIngestServer(world.serverConfig("commands"));
    const received: ExecuteRunbookFrame[] = [];
    const transport = createTransport(
      agentTransportOptions(world, world.agent, server.url, outboxFor(), {
        onCommand: async (frame) => {
          received.push(frame);
        },
      }),
    );
    running.push({ transport, server });
    transport.start();
    await waitFor("connected", () => server.connected("srv-primary"));
    const sent = server.sendCommand("srv-primary", {
      command_id: "CMD-0000000000000001",
      agent_id: "srv-primary",
      client_id: "clinic-001",
      incident_id: null,
      runbook_id: "RB-BACKUP-001",
      runbook_sha256: "b".repeat(64),
      params: { target: "nightly" },
      issued_at: "2026-11-01T08:00:00.000Z",
      expires_at: "2026-11-01T09:00:00.000Z",
      dry_run: false,
      planner: { kind: "rules", confidence: 1, fallback_reason: null },
      approval: { decision: "not_required", approver: null, decided_at: null },
    });
    expect(sent).toBe(true);
    await waitFor("command delivered", () => received.length === 1);
    expect(received[0]?.command.command_id).toBe("CMD-0000000000000001");
    expect(received[0]?.signature.key_id).toBe(world.controlPlaneKey.keyId);
  });

  it("drops a connection whose pongs stop and reconnects", async () => {
    const server = await startIngestServer(world.serverConfig("keepalive", { autoPong: false }));
    const logger = memoryLogger();
    const transport = createTransport(
      agentTransportOptions(world, world.agent, server.url, outboxFor(), { pingIntervalMs: 50, logger }),
    );
    running.push({ transport, server });
    transport.start();
    await waitFor("two keepalive timeouts", () => transport.stats().keepaliveTimeouts >= 2);
    expect(server.counters.connections).toBeGreaterThanOrEqual(2);
    expect(logger.lines.some((l) => l.msg.includes("no pong"))).toBe(true);
  });

  it("refuses a protocol mismatch and never becomes ready", async () => {
    const server = await startIngestServer(world.serverConfig("mismatch", { protocolVersion: 99 }));
    const outbox = outboxFor();
    outbox.append(3);
    const logger = memoryLogger();
    const transport = createTransport(
      agentTransportOptions(world, world.agent, server.url, outbox, { logger }),
    );
    running.push({ transport, server });
    transport.start();
    await waitFor("two refused attempts", () => transport.stats().connectFailures >= 2);
    expect(transport.stats().welcomes).toBe(0);
    expect(logger.lines.some((l) => l.level === "error" && l.fields?.code === "protocol_mismatch")).toBe(
      true,
    );
    expect(server.counters.accepted).toBe(0);
    expect(outbox.size).toBe(3);
  });

  it("gives up on a connection without welcome after welcomeTimeoutMs", async () => {
    const server = await startIngestServer(world.serverConfig("silent", { welcome: false }));
    const transport = createTransport(
      agentTransportOptions(world, world.agent, server.url, outboxFor(), { welcomeTimeoutMs: 100 }),
    );
    running.push({ transport, server });
    transport.start();
    await waitFor("two welcome timeouts", () => transport.stats().welcomeTimeouts >= 2);
    expect(transport.stats().welcomes).toBe(0);
  });
});
