/**
 * Helpers of the msp-verify acceptance tests: stream an agent's bundles over
 * mTLS as the agent does, wait for the WORM queue, and close a day the way
 * the WORM loop does once it is over.
 */
import { PROTOCOL_VERSION } from "@msp/shared";
import { runCheckpoints, WormQueue } from "../../control-plane/src/worm/index.js";
import { nextDay } from "../../control-plane/src/worm/keys.js";
import {
  type AgentSocket,
  agentChain,
  connectAgent,
  type EnrolledAgent,
  type TestControlPlane,
} from "../support/control-plane.js";

/** Sends seqs from..from+n-1 of the agent's chain (signing is deterministic) and waits for the ack. */
export async function stream(
  t: TestControlPlane,
  agent: EnrolledAgent,
  from: number,
  n: number,
): Promise<void> {
  const s = (await connectAgent(t, { certPem: agent.certPem, keyPem: agent.tlsKeyPem })) as AgentSocket;
  if ("refused" in s) throw new Error("refused");
  s.send({
    type: "hello",
    protocol_version: PROTOCOL_VERSION,
    agent_id: agent.agentId,
    client_id: agent.clientId,
    hostname: agent.agentId,
    agent_version: "test",
    last_seq: from - 1,
    catalog_sha256: "0".repeat(64),
  });
  await s.next("welcome");
  const chain = agentChain(agent, from + n - 1).slice(from - 1);
  for (const bundle of chain) s.send({ type: "bundle", bundle });
  for (;;) {
    const ack = (await s.next("ack")) as { receipt: { up_to_seq: number } };
    if (ack.receipt.up_to_seq >= from + n - 1) break;
  }
  await s.close();
}

/** Polls `cond` every 50 ms for up to `ms`. */
export async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Bundles in the WORM queue. */
export const wormBundles = (t: TestControlPlane): number =>
  (t.cp.db.prepare("SELECT count(*) AS n FROM worm_bundles").get() as { n: number }).n;

/**
 * Closes a day as the WORM loop does once the day is over, with the clock one
 * second into the next day. The checkpoint is then queued "at" that future
 * instant; it is made due now so the real-time upload loop takes it. Returns
 * the checkpoints created (`client_id/day`).
 */
export function closeDay(t: TestControlPlane, day: string): string[] {
  const at = new Date(`${nextDay(day)}T00:00:01.000Z`);
  const run = runCheckpoints(new WormQueue(t.cp.db), t.cp.signingKey, at, t.config.retention_years);
  t.cp.db
    .prepare("UPDATE worm_objects SET next_attempt_at = ? WHERE kind = 'checkpoint' AND state = 'pending'")
    .run(Date.now());
  return run.created;
}
