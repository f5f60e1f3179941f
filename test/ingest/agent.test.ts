/**
 * The agent's real transport (createTransport with an ack-verifying outbox)
 * against the real control-plane ingest, with verify workers, including a
 * control-plane restart that closes and reopens the database mid-stream:
 * nothing acknowledged is lost, nothing is stored twice, the chain verifies.
 */
import { EvidenceBundle, verifyChain } from "@msp/shared";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTransport, type Transport } from "../../agent/src/transport/index.js";
import {
  agentTransportOptions,
  createTransportWorld,
  type TransportWorld,
  waitFor,
} from "../transport/harness.js";
import { MemoryOutbox } from "../transport/memory-outbox.js";
import { dbFileOf, type IngestHarness, startIngestHarness } from "./harness.js";

let world: TransportWorld;
const running: { transport?: Transport; cp?: IngestHarness }[] = [];

beforeAll(() => {
  world = createTransportWorld();
});
afterAll(() => world.cleanup());
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.transport?.stop();
    await r.cp?.stop();
  }
});

function storedChain(cp: IngestHarness): EvidenceBundle[] {
  const bodies = cp.db
    .prepare("SELECT body FROM evidence_bundles WHERE agent_id = ? ORDER BY seq")
    .all("srv-primary") as { body: string }[];
  return bodies.map((r) => EvidenceBundle.parse(JSON.parse(r.body)));
}

describe("agent transport against the control-plane ingest", () => {
  it("streams, survives a control-plane restart, and ends with one verified copy of every bundle", async () => {
    const dbFile = dbFileOf(world, "agent-restart");
    const first = await startIngestHarness(world, { dbFile, workers: 2 });
    const outbox = new MemoryOutbox(
      world.agent.evidenceKey,
      world.controlPlaneKey.publicKey.toString("base64"),
      world.agent.who,
    );
    outbox.append(150);
    const transport = createTransport(agentTransportOptions(world, world.agent, first.url, outbox));
    running.push({ transport });
    transport.start();
    await waitFor("some acked", () => outbox.head().acked_seq >= 20);
    await first.stop();
    const ackedBefore = outbox.head().acked_seq;

    outbox.append(50);
    const second = await startIngestHarness(world, { dbFile, workers: 2, port: first.port });
    running.push({ cp: second });
    await waitFor("all 200 acked", () => outbox.head().acked_seq === 200, 20_000);
    expect(ackedBefore).toBeGreaterThanOrEqual(20);
    expect(outbox.size).toBe(0);
    expect(outbox.refusals).toEqual([]);

    const chain = storedChain(second);
    expect(chain.map((b) => b.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(verifyChain(chain).ok).toBe(true);
    expect(second.store.anomalies({ client_id: "clinic-001" }).items).toEqual([]);
    expect(second.store.counts({ client_id: "clinic-001" })).toEqual({
      total: 200,
      by_kind: { runbook_execution: 200 },
    });
    expect(second.ingest.stats().workers).toBe(2);
    expect(transport.stats()).toMatchObject({ malformedFrames: 0, acksRefused: 0 });
  });
});
