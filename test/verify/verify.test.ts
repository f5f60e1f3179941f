/**
 * Issue 7 acceptance: a real control plane receives bundles from two agents
 * over mTLS across two checkpointed days, the evidence is exported, and
 * `msp-verify` passes on it; then it fails, naming the bundle, when one byte
 * is flipped, when a bundle is withheld (mid-chain and at a chain's end),
 * and when a checkpoint signature is wrong. WORM retention is checked against
 * the control plane's local WORM directory through the same ObjectStore
 * interface the S3 adapter implements. Last, the API's inclusion proof of one
 * bundle verifies against the signed checkpoint and fails on a tampered hash.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canonicalBytes, type DailyCheckpoint, verifyCheckpoint, verifyInclusion } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportEvidence } from "../../control-plane/src/export/index.js";
import type { EvidenceManifest } from "../../control-plane/src/export/manifest.js";
import { main } from "../../control-plane/src/verify/cli.js";
import { verifyEvidenceSet } from "../../control-plane/src/verify/index.js";
import { createLocalWormStore, utcDay, WormQueue } from "../../control-plane/src/worm/index.js";
import { nextDay } from "../../control-plane/src/worm/keys.js";
import {
  type EnrolledAgent,
  enrollTestAgent,
  startTestControlPlane,
  type TestControlPlane,
} from "../support/control-plane.js";
import {
  closeDay as closeDayOf,
  wormBundles as queuedBundles,
  stream as streamBundles,
  until,
} from "./stream.js";

const CLINIC = "clinic-v";
let t: TestControlPlane;
let a: EnrolledAgent;
let b: EnrolledAgent;
let exported: string;
let cpKey: string;
let day1: string;
let day2: string;
const work = mkdtempSync(join(tmpdir(), "msp-verify-"));

const stream = (agent: EnrolledAgent, from: number, n: number) => streamBundles(t, agent, from, n);
const wormBundles = () => queuedBundles(t);
function closeDay(day: string) {
  expect(closeDayOf(t, day)).toEqual([`${CLINIC}/${day}`]);
}

beforeAll(async () => {
  t = await startTestControlPlane();
  expect(
    (await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "Clinic V" })).status,
  ).toBe(201);
  a = await enrollTestAgent(t, CLINIC, "srv-va");
  b = await enrollTestAgent(t, CLINIC, "srv-vb");
  cpKey = t.cp.signingKey.publicKey.toString("base64");
  day1 = utcDay(new Date());
  day2 = nextDay(day1);

  // Day 1: a#1-5, b#1-4; then close day 1 as the WORM loop would once it is over.
  await stream(a, 1, 5);
  await stream(b, 1, 4);
  await until(() => wormBundles() === 9, "9 bundles queued for WORM");
  closeDay(day1);
  // Day 2 (the next open day): a#6-8, b#5-6; then close day 2.
  await stream(a, 6, 3);
  await stream(b, 5, 2);
  await until(() => wormBundles() === 14, "14 bundles queued for WORM");
  closeDay(day2);
  // A restart starts the upload loop at once, which uploads the last checkpoint too.
  await t.restart();
  await until(() => new WormQueue(t.cp.db).counts().pending === 0, "the WORM queue to drain");

  exported = join(work, "export");
  const result = await exportEvidence({
    db: t.cp.db,
    clinicId: CLINIC,
    from: day1,
    to: day2,
    outDir: exported,
    controlPlanePublicKey: cpKey,
    objectStore: store(),
  });
  expect(result.manifest.bundles).toHaveLength(14);
  expect(result.manifest.checkpoints.map((c) => [c.day, c.file !== null])).toEqual([
    [day1, true],
    [day2, true],
  ]);
}, 120_000);

afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

function store() {
  const worm = t.config.worm;
  if (worm.kind !== "local") throw new Error("the test deployment uses the local WORM directory");
  return createLocalWormStore({ dir: worm.dir });
}

/** A fresh copy of the export to damage. */
function copy(name: string): string {
  const dir = join(work, name);
  cpSync(exported, dir, { recursive: true });
  return dir;
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const failing = (r: Awaited<ReturnType<typeof verifyEvidenceSet>>) =>
  r.bundles.filter((x) => !x.ok).map((x) => `${x.agent_id}#${x.seq}`);

describe("msp-verify on a real exported evidence set", () => {
  it("passes: signatures, hashes, chains, both checkpoints and WORM retention", async () => {
    const report = await verifyEvidenceSet(exported, { controlPlanePublicKey: cpKey, objectStore: store() });
    expect(report.errors).toEqual([]);
    expect(failing(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.summary).toMatchObject({ bundles: 14, withheld: 0, checkpoints: 2, checkpoints_failed: 0 });
    expect(report.chains.map((c) => [c.agent_id, c.first_seq, c.last_seq, c.ok])).toEqual([
      ["srv-va", 1, 8, true],
      ["srv-vb", 1, 6, true],
    ]);
    for (const x of report.bundles) {
      expect(Object.values(x.checks).map((c) => c.status)).toEqual(["pass", "pass", "pass", "pass", "pass"]);
    }
    expect(report.checkpoints.every((c) => c.checks.worm.status === "pass")).toBe(true);

    const run = await cli([exported, "--control-plane-key", cpKey]);
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^PASS: 14\/14 bundles verified, 0 withheld/m);
    const json = await cli([exported, "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ ok: true, control_plane_key: { source: "manifest" } });
  });

  it("fails naming the bundle when one byte of it is changed", async () => {
    const dir = copy("flipped");
    const file = join(dir, "bundles/srv-va/3.json");
    const bytes = readFileSync(file);
    const at = bytes.indexOf("backup_status=success");
    bytes[at + 15] = (bytes[at + 15] as number) ^ 0x01;
    writeFileSync(file, bytes);

    const report = await verifyEvidenceSet(dir, { controlPlanePublicKey: cpKey, objectStore: store() });
    expect(report.ok).toBe(false);
    expect(failing(report)).toEqual(["srv-va#3"]);
    const bad = report.bundles.find((x) => x.seq === 3 && x.agent_id === "srv-va");
    expect(bad?.checks.signature.status).toBe("fail");
    expect(bad?.checks.hash.status).toBe("fail");
    expect(bad?.checks.worm.status).toBe("pass"); // WORM still holds the original; the export's copy is what changed

    const run = await cli([dir, "--control-plane-key", cpKey]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/FAIL bundle srv-va#3 \(EB-\d{8}-0003\) bundles\/srv-va\/3\.json: signature/);
    expect(run.out).toMatch(/^FAIL: 13\/14 bundles verified/m);
  });

  it("fails naming the withheld seq when a bundle is removed with its manifest entry", async () => {
    const dir = copy("withheld");
    const manifestFile = join(dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as EvidenceManifest;
    // srv-va#4 shows as a chain gap; srv-vb#6 ends its chain, so only the day-2 checkpoint reveals it.
    manifest.bundles = manifest.bundles.filter(
      (x) => !(x.agent_id === "srv-va" && x.seq === 4) && !(x.agent_id === "srv-vb" && x.seq === 6),
    );
    writeFileSync(manifestFile, JSON.stringify(manifest));
    rmSync(join(dir, "bundles/srv-va/4.json"));
    rmSync(join(dir, "bundles/srv-vb/6.json"));

    const report = await verifyEvidenceSet(dir, { controlPlanePublicKey: cpKey });
    expect(report.ok).toBe(false);
    expect(report.withheld).toEqual([
      { agent_id: "srv-va", seq: 4, day: day1, found_by: "checkpoint" },
      { agent_id: "srv-vb", seq: 6, day: day2, found_by: "checkpoint" },
    ]);
    expect(report.chains.find((c) => c.agent_id === "srv-va")?.problems).toEqual([
      "gap: seq 4 not in the export",
    ]);
    expect(report.checkpoints.map((c) => [c.day, c.checks.reconcile.status])).toEqual([
      [day1, "fail"],
      [day2, "fail"],
    ]);
    // The bundles that are present are not blamed.
    expect(failing(report)).toEqual([]);

    const run = await cli([dir, "--control-plane-key", cpKey]);
    expect(run.code).toBe(1);
    expect(run.out).toContain(`FAIL withheld bundle srv-va#4 (day ${day1})`);
    expect(run.out).toContain(`FAIL withheld bundle srv-vb#6 (day ${day2})`);
  });

  it("fails naming the checkpoint when its signature is wrong", async () => {
    const dir = copy("bad-checkpoint");
    const file = join(dir, `checkpoints/${day2}.json`);
    const cp = JSON.parse(readFileSync(file, "utf8")) as { signature: { value: string } };
    const sig = Buffer.from(cp.signature.value, "base64");
    sig[10] = (sig[10] as number) ^ 0x01;
    cp.signature.value = sig.toString("base64");
    writeFileSync(file, canonicalBytes(cp));

    const report = await verifyEvidenceSet(dir, { controlPlanePublicKey: cpKey });
    expect(report.ok).toBe(false);
    expect(report.checkpoints.map((c) => [c.day, c.ok])).toEqual([
      [day1, true],
      [day2, false],
    ]);
    expect(report.checkpoints[1]?.checks.signature.detail).toBe("the signature does not verify");
    // Day-2 bundles lose their proof of inclusion; day-1 bundles keep theirs.
    expect(failing(report)).toEqual(["srv-va#6", "srv-va#7", "srv-va#8", "srv-vb#5", "srv-vb#6"]);

    const run = await cli([dir, "--control-plane-key", cpKey]);
    expect(run.code).toBe(1);
    expect(run.out).toContain(`FAIL checkpoint ${day2}: signature: the signature does not verify`);
  });

  it("fails every checkpoint against a pinned key that is not the control plane's", async () => {
    const other = Buffer.alloc(32, 7).toString("base64");
    const report = await verifyEvidenceSet(exported, { controlPlanePublicKey: other });
    expect(report.ok).toBe(false);
    expect(report.checkpoints.every((c) => c.checks.signature.status === "fail")).toBe(true);
    expect(report.control_plane_key.note).toMatch(/manifest names a different key/);
  });
});

describe("msp-verify usage", () => {
  it("--help exits 0; a missing directory, a bad key or an unknown flag exit 2", async () => {
    expect((await cli(["--help"])).code).toBe(0);
    expect((await cli([])).code).toBe(2);
    expect((await cli([join(work, "nope")])).code).toBe(2);
    expect((await cli([exported, "--control-plane-key", "not-a-key"])).code).toBe(2);
    const unknown = await cli([exported, "--frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/frobnicate/);
  });

  it("refuses to export into a directory that is not empty and changes nothing", async () => {
    await expect(
      exportEvidence({
        db: t.cp.db,
        clinicId: CLINIC,
        from: day1,
        to: day2,
        outDir: exported,
        controlPlanePublicKey: cpKey,
      }),
    ).rejects.toMatchObject({ code: "invalid_input" });
    await expect(
      exportEvidence({
        db: t.cp.db,
        clinicId: CLINIC,
        from: day2,
        to: day1,
        outDir: join(work, "reversed"),
        controlPlanePublicKey: cpKey,
      }),
    ).rejects.toMatchObject({ code: "invalid_input" });
  });
});

describe("inclusion proofs through the API", () => {
  type Proof = {
    leaf: string;
    leaf_hash: string;
    leaf_index: number;
    tree_size: number;
    audit_path: string[];
    day: string;
    checkpoint: DailyCheckpoint;
    checkpoint_object: { key: string; version_id: string | null };
  };
  let auditor: string;
  beforeAll(async () => {
    const made = await t.api<{ key: string }>("POST", "/v1/api-keys", t.adminKey, {
      name: "auditor-v",
      role: "auditor",
      client_id: CLINIC,
    });
    expect(made.status).toBe(201);
    auditor = made.body.key;
  });

  const claim = (p: Proof, leaf = p.leaf) => ({
    leaf: Buffer.from(leaf, "hex"),
    index: p.leaf_index,
    treeSize: p.tree_size,
    proof: p.audit_path.map((h) => Buffer.from(h, "hex")),
    root: Buffer.from(p.checkpoint.root, "hex"),
  });

  it("proves a bundle is in its day's signed checkpoint, the same one the export holds; a tampered hash fails", async () => {
    const manifest = JSON.parse(readFileSync(join(exported, "manifest.json"), "utf8")) as EvidenceManifest;
    for (const [agent, seq, day, index, size] of [
      ["srv-va", 3, day1, 2, 9],
      ["srv-vb", 6, day2, 4, 5],
    ] as const) {
      const res = await t.api<Proof>("GET", `/v1/clinics/${CLINIC}/evidence/${agent}/${seq}/proof`, auditor);
      expect(res.status).toBe(200);
      const p = res.body;
      const entry = manifest.bundles.find((x) => x.agent_id === agent && x.seq === seq);
      expect(p).toMatchObject({ leaf: entry?.sha256, day, leaf_index: index, tree_size: size });
      expect(verifyCheckpoint(p.checkpoint, cpKey)).toMatchObject({ ok: true });
      expect(canonicalBytes(p.checkpoint)).toEqual(readFileSync(join(exported, `checkpoints/${day}.json`)));
      expect(verifyInclusion(claim(p))).toBe(true);
      const tampered = `${p.leaf.slice(0, 10)}${p.leaf[10] === "a" ? "b" : "a"}${p.leaf.slice(11)}`;
      expect(verifyInclusion(claim(p, tampered))).toBe(false);
      const path = [...p.audit_path];
      path[0] = `${path[0]?.slice(0, 63)}${path[0]?.endsWith("0") ? "1" : "0"}`;
      expect(verifyInclusion(claim({ ...p, audit_path: path }))).toBe(false);
    }
  });

  it("answers 409 checkpoint_pending for a bundle of a day not yet checkpointed, 404 and 400 for bad requests", async () => {
    await stream(a, 9, 1);
    await until(() => wormBundles() === 15, "the 15th bundle queued for WORM");
    const pending = await t.api<{ error: { code: string; retryable: boolean; details: unknown } }>(
      "GET",
      `/v1/clinics/${CLINIC}/evidence/srv-va/9/proof`,
      auditor,
    );
    expect(pending.status).toBe(409);
    expect(pending.body.error).toMatchObject({
      code: "conflict",
      retryable: true,
      details: { status: "checkpoint_pending", day: nextDay(day2) },
    });
    const direct = await t.cp.app.request(`/v1/clinics/${CLINIC}/evidence/srv-va/9/proof`, {
      headers: { authorization: `Bearer ${auditor}` },
    });
    expect(direct.status).toBe(409);
    expect(Number(direct.headers.get("retry-after"))).toBeGreaterThan(0);
    const missing = await t.api("GET", `/v1/clinics/${CLINIC}/evidence/srv-va/99/proof`, auditor);
    expect(missing.status).toBe(404);
    for (const seq of ["0", "1e3", "abc"]) {
      const bad = await t.api("GET", `/v1/clinics/${CLINIC}/evidence/srv-va/${seq}/proof`, auditor);
      expect(bad.status, seq).toBe(400);
    }
    expect((await t.api("GET", `/v1/clinics/${CLINIC}/evidence/srv-va/3/proof`)).status).toBe(401);
  });
});
