/**
 * Invariant 2 under attack: forged, replayed and reordered evidence is
 * refused or flagged by the control plane as it arrives, and an altered copy
 * is caught afterwards by the auditor's verifier (msp-verify): a bundle
 * re-signed with a key that is not the agent's, and a bundle whose WORM
 * object no longer holds the bytes that were archived.
 */
import {
  chmodSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canonicalBytes, generateSigningKey, PROTOCOL_VERSION, sha256Hex, signBundle } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { exportEvidence } from "../../control-plane/src/export/index.js";
import type { EvidenceManifest } from "../../control-plane/src/export/manifest.js";
import { verifyEvidenceSet } from "../../control-plane/src/verify/index.js";
import { createLocalWormStore, utcDay, WormQueue } from "../../control-plane/src/worm/index.js";
import {
  type AgentSocket,
  agentChain,
  connectAgent,
  enrollTestAgent,
  startTestControlPlane,
} from "../support/control-plane.js";
import { digest, until } from "./harness.js";

const CLINIC = "clinic-e";
const t = await startTestControlPlane();
const work = mkdtempSync(join(tmpdir(), "msp-security-evidence-"));
afterAll(async () => {
  await t.stop();
  rmSync(work, { recursive: true, force: true });
});
if ((await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "E" })).status !== 201)
  throw new Error("clinic");
const agent = await enrollTestAgent(t, CLINIC, "srv-e");
const chain = agentChain(agent, 8);

async function session(): Promise<AgentSocket> {
  const s = (await connectAgent(t, { certPem: agent.certPem, keyPem: agent.tlsKeyPem })) as AgentSocket;
  s.send({
    type: "hello",
    protocol_version: PROTOCOL_VERSION,
    agent_id: agent.agentId,
    client_id: CLINIC,
    hostname: agent.agentId,
    agent_version: "security",
    last_seq: 0,
    catalog_sha256: "0".repeat(64),
  });
  await s.next("welcome");
  return s;
}
const stored = () =>
  (
    t.cp.db.prepare("SELECT seq FROM evidence_bundles WHERE agent_id = ? ORDER BY seq").all("srv-e") as {
      seq: number;
    }[]
  ).map((r) => r.seq);
const anomalies = async () =>
  (
    await t.api<{ anomalies: { kind: string; seq: number }[] }>(
      "GET",
      `/v1/clinics/${CLINIC}/anomalies`,
      t.adminKey,
    )
  ).body.anomalies;

const s = await session();
afterAll(() => s.close());
for (const b of chain.slice(0, 3)) s.send({ type: "bundle", bundle: b });
for (;;) if (((await s.next("ack")) as { receipt: { up_to_seq: number } }).receipt.up_to_seq === 3) break;
// The WORM uploader works in the background; digests are compared only once it is idle.
const wormIdle = () => until(() => new WormQueue(t.cp.db).counts().pending === 0, "the WORM queue to drain");
await wormIdle();

describe("evidence arriving at the control plane", () => {
  it("refuses a bundle forged with another key, or with the agent's key id over another key's signature", async () => {
    const mallory = generateSigningKey();
    const { signature: _, ...unsigned } = chain[3] as (typeof chain)[number];
    const forged = signBundle(unsigned as never, mallory);
    const borrowedKeyId = {
      ...forged,
      signature: { ...forged.signature, key_id: chain[3]?.signature.key_id },
    };
    for (const bundle of [forged, borrowedKeyId]) {
      const before = digest(t.cp.db);
      s.send({ type: "bundle", bundle });
      expect(await s.next("error")).toMatchObject({ code: "signature_invalid", seq: 4 });
      expect(digest(t.cp.db)).toEqual(before);
    }
    expect(stored()).toEqual([1, 2, 3]);
  });

  it("answers a replayed bundle as a duplicate: acknowledged, never stored twice", async () => {
    const before = digest(t.cp.db);
    s.send({ type: "bundle", bundle: chain[1] });
    expect(await s.next("ack")).toMatchObject({ receipt: { up_to_seq: 3 } });
    expect(stored()).toEqual([1, 2, 3]);
    expect(digest(t.cp.db)).toEqual(before);
  });

  it("flags a reordered chain (gap, then reorder) and refuses a bundle linked to the wrong predecessor", async () => {
    s.send({ type: "bundle", bundle: chain[4] }); // seq 5 before 4: stored, gap 4..4 flagged
    s.send({ type: "bundle", bundle: chain[3] }); // seq 4 late: stored, reorder flagged, gap resolved
    for (;;) if (((await s.next("ack")) as { receipt: { up_to_seq: number } }).receipt.up_to_seq === 5) break;
    expect((await anomalies()).map((a) => [a.kind, a.seq])).toEqual(
      expect.arrayContaining([
        ["gap", 4],
        ["reorder", 4],
      ]),
    );
    // Seq 6 signed by the agent but linked to seq 4 instead of 5: a rewritten order of the chain.
    const { signature: _, ...six } = chain[5] as (typeof chain)[number];
    const relinked = signBundle({ ...six, prev_hash: chain[4]?.prev_hash } as never, agent.evidenceKey);
    s.send({ type: "bundle", bundle: relinked });
    expect(await s.next("error")).toMatchObject({ code: "chain_broken", seq: 6 });
    expect(stored()).toEqual([1, 2, 3, 4, 5]);
    expect((await anomalies()).map((a) => a.kind)).toContain("broken_link");
  });
});

describe("msp-verify on an altered export", () => {
  let exported: string;
  const cpKey = t.cp.signingKey.publicKey.toString("base64");
  const worm = () => {
    if (t.config.worm.kind !== "local") throw new Error("the test deployment uses the local WORM directory");
    return createLocalWormStore({ dir: t.config.worm.dir });
  };

  it("exports the stored evidence once every bundle is in WORM, and the untouched set verifies", async () => {
    await wormIdle();
    exported = join(work, "export");
    const day = utcDay(new Date());
    await exportEvidence({
      db: t.cp.db,
      clinicId: CLINIC,
      from: day,
      to: day,
      outDir: exported,
      controlPlanePublicKey: cpKey,
      objectStore: worm(),
    });
    const report = await verifyEvidenceSet(exported, { controlPlanePublicKey: cpKey, objectStore: worm() });
    expect(report.bundles.map((b) => [b.seq, b.checks.signature.status, b.checks.worm.status])).toEqual(
      [1, 2, 3, 4, 5].map((seq) => [seq, "pass", "pass"]),
    );
  });

  it("fails a bundle re-signed with another key, even with the manifest's hash updated to match", async () => {
    const dir = join(work, "forged");
    cpSync(exported, dir, { recursive: true });
    const file = join(dir, "bundles/srv-e/2.json");
    const { signature: _, ...unsigned } = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    const forged = canonicalBytes(signBundle(unsigned as never, generateSigningKey()));
    writeFileSync(file, forged);
    const manifestFile = join(dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as EvidenceManifest;
    for (const e of manifest.bundles) if (e.seq === 2) e.sha256 = sha256Hex(forged);
    writeFileSync(manifestFile, JSON.stringify(manifest));

    const report = await verifyEvidenceSet(dir, { controlPlanePublicKey: cpKey });
    expect(report.ok).toBe(false);
    expect(report.bundles.filter((b) => !b.ok).map((b) => b.seq)).toContain(2);
    expect(report.bundles.find((b) => b.seq === 2)?.checks.signature.status).toBe("fail");
  });

  it("fails the bundle whose WORM copy was altered, and only that one", async () => {
    const root = t.config.worm.kind === "local" ? t.config.worm.dir : "";
    const manifest = JSON.parse(readFileSync(join(exported, "manifest.json"), "utf8")) as EvidenceManifest;
    const entry = manifest.bundles.find((b) => b.seq === 3);
    if (!entry?.worm) throw new Error("bundle 3 has no WORM object");
    const dir = join(root, "objects", entry.worm.key);
    const version = entry.worm.version_id ?? (readdirSync(dir)[0] as string);
    const file = join(dir, version);
    expect(statSync(file).mode & 0o222).toBe(0); // written read-only; an attacker with the directory changes that
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    const at = bytes.indexOf("backup_status=success");
    bytes[at + 15] = (bytes[at + 15] as number) ^ 0x01;
    writeFileSync(file, bytes);

    const report = await verifyEvidenceSet(exported, { controlPlanePublicKey: cpKey, objectStore: worm() });
    expect(report.ok).toBe(false);
    expect(report.bundles.filter((b) => b.checks.worm.status === "fail").map((b) => b.seq)).toEqual([3]);
    // The exported copy itself is intact: only the archive was touched, and the verifier says where.
    expect(report.bundles.find((b) => b.seq === 3)?.checks.signature.status).toBe("pass");
  });
});
