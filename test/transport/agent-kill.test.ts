/**
 * Invariant 1 across agent crashes: a real agent process (SQLite outbox +
 * transport) is SIGKILLed while appending with the control plane down, so
 * bundles are pending; after a restart with the control plane up, every
 * bundle it reported as produced arrives exactly once, in order, as one chain.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { seedOf, verifyBundle, verifyChain } from "@msp/shared";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readStoredBundles } from "../support/ingest-server.js";
import { createTransportWorld, spawnIngestServer, spawnTs, type TransportWorld, waitFor } from "./harness.js";

let world: TransportWorld;
beforeAll(() => {
  world = createTransportWorld();
});
afterAll(() => world.cleanup());

it("replays every pending bundle once after the agent is SIGKILLed", async () => {
  const config = world.serverConfig("agent-kill");
  // Start the server once to learn a free port, then stop it: the agent starts while it is down.
  const probe = await spawnIngestServer(config, world.dir);
  const port = probe.port;
  await probe.kill("SIGKILL");

  const childConfig = (produce: number) => {
    const file = join(world.dir, `agent-${produce}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        dbPath: join(world.dir, "agent", "outbox.sqlite"),
        evidenceSeed: seedOf(world.agent.evidenceKey).toString("base64"),
        controlPlanePublicKey: world.controlPlaneKey.publicKey.toString("base64"),
        url: `wss://127.0.0.1:${port}/v1/agent`,
        ca: world.pki.ca.cert.toString(),
        cert: world.agent.tls.cert.toString(),
        key: world.agent.tls.key.toString(),
        who: world.agent.who,
        produce,
      }),
    );
    return file;
  };

  const printed: number[] = [];
  const first = await spawnTs(join(import.meta.dirname, "agent-child.ts"), [childConfig(100_000)]);
  first.child.stdout?.on("data", (d: Buffer) => {
    for (const m of d.toString("utf8").matchAll(/seq=(\d+)/g)) printed.push(Number(m[1]));
  });
  await waitFor("150 durable appends", () => printed.length >= 150, 20_000);
  await first.kill("SIGKILL");
  const producedBeforeKill = Math.max(...printed);

  const server = await spawnIngestServer({ ...config, port }, world.dir);
  try {
    const second = await spawnTs(join(import.meta.dirname, "agent-child.ts"), [childConfig(20)]);
    const head = second.ready.head as { last_seq: number };
    // The restarted outbox holds at least every bundle the killed process reported, and continues the chain.
    expect(head.last_seq).toBeGreaterThanOrEqual(producedBeforeKill);
    const total = head.last_seq + 20;
    await waitFor(
      `all ${total} bundles stored`,
      () => readStoredBundles(config.dataDir, "srv-primary").length >= total,
      30_000,
    );
    await second.kill("SIGTERM");

    const stored = readStoredBundles(config.dataDir, "srv-primary");
    expect(stored.map((b) => b.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(verifyChain(stored).problems).toEqual([]);
    const pub = world.agent.evidenceKey.publicKey.toString("base64");
    expect(stored.every((b) => verifyBundle(b, pub).ok)).toBe(true);
    for (const seq of printed) expect(stored[seq - 1]?.seq).toBe(seq);
  } finally {
    await server.kill("SIGKILL");
  }
}, 90_000);
