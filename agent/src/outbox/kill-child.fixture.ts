/**
 * Child process for `kill.test.ts`: appends evidence (and applies acks) in a
 * loop and prints each result only after it resolved, so the parent knows
 * which seqs and acks the outbox had promised when it sent SIGKILL.
 *
 * Environment: OUTBOX_DB (path), AGENT_SEED and CP_SEED (hex ed25519 seeds),
 * ACKS=1 to interleave acks.
 * Output lines: `seq N` after append N resolved, `ack N` after an ack up to N applied.
 */
import { bundleHash, type EvidenceBundle, signingKeyFromSeed, systemClock } from "@msp/shared";
import { driftDraft, runbookDraft, signedAck, TEST_IDENTITY } from "./fixtures.js";
import { createOutbox } from "./index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const cpKey = signingKeyFromSeed(Buffer.from(env("CP_SEED"), "hex"));
const outbox = createOutbox({
  dbPath: env("OUTBOX_DB"),
  signingKey: signingKeyFromSeed(Buffer.from(env("AGENT_SEED"), "hex")),
  identity: TEST_IDENTITY,
  maxBytes: 1 << 30,
  clock: systemClock,
  controlPlanePublicKey: cpKey.publicKey.toString("base64"),
});

const acks = process.env.ACKS === "1";
const recent: EvidenceBundle[] = [];
for (let i = 0; ; i++) {
  const bundle = await outbox.append(
    i % 3 === 0 ? runbookDraft("runbook_execution", 1500) : driftDraft(1500),
  );
  process.stdout.write(`seq ${bundle.seq}\n`);
  recent.push(bundle);
  // Every 7th append, ack all but the newest 3, so kills also land inside ack transactions.
  if (acks && recent.length >= 10 && i % 7 === 0) {
    const target = recent[recent.length - 4] as EvidenceBundle;
    const receipt = {
      agent_id: TEST_IDENTITY.agent_id,
      client_id: TEST_IDENTITY.client_id,
      up_to_seq: target.seq,
      head_hash: bundleHash(target),
      stored_at: new Date().toISOString(),
    };
    const result = outbox.applyAck(signedAck(cpKey, receipt));
    if (!result.ok) throw new Error(`child ack refused: ${result.message}`);
    process.stdout.write(`ack ${target.seq}\n`);
    recent.splice(0, recent.length - 3);
  }
}
