/**
 * Invariant 1 across control-plane crashes: the stub runs as its own process
 * and is SIGKILLed twice while the agent streams and keeps producing; each
 * time it restarts on the same port and data directory. Afterwards the stored
 * file holds every seq exactly once, in order, as one valid chain, and the
 * agent's outbox is empty only because every bundle was acked.
 */
import { verifyBundle, verifyChain } from "@msp/shared";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTransport } from "../../agent/src/transport/index.js";
import { readStoredBundles } from "../support/ingest-server.js";
import {
  agentTransportOptions,
  createTransportWorld,
  pause,
  spawnIngestServer,
  type TransportWorld,
  waitFor,
} from "./harness.js";
import { MemoryOutbox } from "./memory-outbox.js";

let world: TransportWorld;
beforeAll(() => {
  world = createTransportWorld();
});
afterAll(() => world.cleanup());

it("delivers every bundle exactly once and in order when the control plane is SIGKILLed mid-stream", async () => {
  const TOTAL = 300;
  const config = world.serverConfig("crash");
  const storedCount = () => readStoredBundles(config.dataDir, "srv-primary").length;
  let server = await spawnIngestServer(config, world.dir);
  const port = server.port;
  const outbox = new MemoryOutbox(
    world.agent.evidenceKey,
    world.controlPlaneKey.publicKey.toString("base64"),
    world.agent.who,
  );
  const transport = createTransport(
    agentTransportOptions(world, world.agent, `wss://127.0.0.1:${port}/v1/agent`, outbox, {
      sendWindow: 8,
      backoff: { initialMs: 20, maxMs: 150 },
    }),
  );

  // The agent keeps producing evidence throughout, as drift checks would during an outage.
  let producing = true;
  const producer = (async () => {
    while (producing && outbox.head().last_seq < TOTAL) {
      outbox.append(Math.min(5, TOTAL - outbox.head().last_seq));
      transport.notify();
      await pause(5);
    }
  })();

  try {
    transport.start();
    for (const killAt of [60, 160]) {
      await waitFor(`${killAt} bundles stored`, () => storedCount() >= killAt, 15_000);
      await server.kill("SIGKILL");
      const atKill = { stored: storedCount(), acked: outbox.head().acked_seq };
      expect(atKill.acked).toBeLessThan(TOTAL); // really mid-stream
      await pause(100);
      server = await spawnIngestServer({ ...config, port }, world.dir);
    }
    await waitFor("every bundle acked", () => outbox.head().acked_seq === TOTAL, 20_000);
  } finally {
    producing = false;
    await producer;
    await transport.stop();
    await server.kill("SIGTERM");
  }

  const stored = readStoredBundles(config.dataDir, "srv-primary");
  expect(stored.map((b) => b.seq)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
  const report = verifyChain(stored);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  const key = world.agent.evidenceKey.publicKey.toString("base64");
  expect(stored.every((b) => verifyBundle(b, key).ok)).toBe(true);
  expect(outbox.size).toBe(0);
  expect(outbox.refusals.filter((r) => r !== "stale")).toEqual([]);
  expect(transport.stats().welcomes).toBeGreaterThanOrEqual(3);
});
