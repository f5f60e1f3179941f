/**
 * Issue 7, msp-verify's retention check against a real S3: a control plane
 * whose WORM storage is a Ceph RADOS Gateway bucket with Object Lock receives
 * bundles over mTLS, checkpoints the day and uploads everything; the export
 * is verified by the `msp-verify` command with S3 read credentials. It passes;
 * it fails naming the bundle when the version the export names has no lock,
 * has been deleted, never existed, or is locked for less than the required
 * retention. The proof route serves the checkpoint read back from the
 * bucket. (A COMPLIANCE-locked version itself cannot be deleted or
 * shortened, as test/worm/s3.test.ts proves, so these cases use versions
 * written beside it.)
 */
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ControlPlaneConfig,
  canonicalBytes,
  loadConfigFile,
  sha256Hex,
  systemClock,
  verifyInclusion,
} from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initDeployment } from "../../control-plane/src/cli/init.js";
import { exportEvidence } from "../../control-plane/src/export/index.js";
import type { EvidenceManifest } from "../../control-plane/src/export/manifest.js";
import { main } from "../../control-plane/src/verify/cli.js";
import {
  type BundleInclusionProof,
  type ObjectStore,
  utcDay,
  WormQueue,
} from "../../control-plane/src/worm/index.js";
import { createS3Client, createS3ObjectStore, type S3StoreOptions } from "../../control-plane/src/worm/s3.js";
import {
  createTestBucket,
  putUnlockedVersion,
  tryDeleteVersion,
} from "../../control-plane/src/worm/testkit.js";
import { enrollTestAgent, startTestControlPlane, type TestControlPlane } from "../support/control-plane.js";
import { type RadosGw, startRadosGw } from "../support/radosgw.js";
import { closeDay, stream, until, wormBundles } from "./stream.js";

const CLINIC = "clinic-s3";
const BUCKET = "msp-evidence-verify";
let gw: RadosGw;
let client: ReturnType<typeof createS3Client>;
let store: ObjectStore;
let t: TestControlPlane;
let cpKey: string;
let day: string;
let exported: string;
let s3Args: string[];
const work = mkdtempSync(join(tmpdir(), "msp-verify-s3-"));

beforeAll(async () => {
  gw = await startRadosGw();
  const options: S3StoreOptions = {
    bucket: BUCKET,
    region: gw.region,
    endpoint: gw.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
    requestTimeoutMs: 10_000,
  };
  client = createS3Client(options);
  await createTestBucket(client, BUCKET, true);
  store = createS3ObjectStore(options, client);

  // A deployment whose worm section points at the bucket, with the keys in 0600 files as in production.
  const dir = join(work, "cp");
  const { adminKey } = await initDeployment({
    dir,
    host: "127.0.0.1",
    port: 0,
    publicUrl: "https://127.0.0.1:0",
    clock: systemClock,
  });
  const keyFile = join(work, "s3-key-id");
  const secretFile = join(work, "s3-secret");
  writeFileSync(keyFile, gw.accessKeyId, { mode: 0o600 });
  writeFileSync(secretFile, gw.secretAccessKey, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  chmodSync(secretFile, 0o600);
  const configFile = join(dir, "control-plane.yaml");
  const config = loadConfigFile(ControlPlaneConfig, configFile);
  const worm = {
    kind: "s3" as const,
    bucket: BUCKET,
    region: gw.region,
    endpoint: gw.endpoint,
    force_path_style: true,
    access_key_id_file: keyFile,
    secret_access_key_file: secretFile,
  };
  // JSON is YAML: the file stays one strict config document.
  writeFileSync(configFile, JSON.stringify({ ...config, worm }, null, 2));
  t = await startTestControlPlane({ dir, adminKey });
  expect(t.config.worm.kind).toBe("s3");
  cpKey = t.cp.signingKey.publicKey.toString("base64");

  expect(
    (await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "Clinic S3" })).status,
  ).toBe(201);
  const agent = await enrollTestAgent(t, CLINIC, "srv-s3");
  day = utcDay(new Date());
  await stream(t, agent, 1, 6);
  await until(() => wormBundles(t) === 6, "6 bundles queued for WORM");
  expect(closeDay(t, day)).toEqual([`${CLINIC}/${day}`]);
  // A restart starts the upload loop at once, so the checkpoint uploads without waiting for the idle timer.
  await t.restart();
  await until(() => new WormQueue(t.cp.db).counts().pending === 0, "the WORM queue to drain", 60_000);
  expect(new WormQueue(t.cp.db).counts()).toEqual({ pending: 0, uploaded: 7, failed: 0 });

  exported = join(work, "export");
  const result = await exportEvidence({
    db: t.cp.db,
    clinicId: CLINIC,
    from: day,
    to: day,
    outDir: exported,
    controlPlanePublicKey: cpKey,
    objectStore: store,
  });
  expect(result.manifest.bundles.every((b) => b.worm?.version_id)).toBe(true);
  s3Args = [
    "--control-plane-key",
    cpKey,
    "--s3-bucket",
    BUCKET,
    "--s3-endpoint",
    gw.endpoint,
    "--s3-region",
    gw.region,
    "--s3-access-key-file",
    keyFile,
    "--s3-secret-key-file",
    secretFile,
  ];
}, 240_000);

afterAll(async () => {
  await t?.stop();
  client?.destroy();
  await gw?.stop();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

async function verify(dir: string): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main([dir, ...s3Args], { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

/** A copy of the export whose manifest names `versionId` for bundle `seq`. */
function pointAt(name: string, seq: number, versionId: string): string {
  const dir = join(work, name);
  cpSync(exported, dir, { recursive: true });
  const file = join(dir, "manifest.json");
  const manifest = JSON.parse(readFileSync(file, "utf8")) as EvidenceManifest;
  const entry = manifest.bundles.find((b) => b.seq === seq);
  if (entry?.worm == null) throw new Error(`bundle ${seq} has no WORM location`);
  entry.worm.version_id = versionId;
  writeFileSync(file, JSON.stringify(manifest, null, 2));
  return dir;
}

const bundle = (seq: number) => {
  const manifest = JSON.parse(readFileSync(join(exported, "manifest.json"), "utf8")) as EvidenceManifest;
  const entry = manifest.bundles.find((b) => b.seq === seq);
  if (entry?.worm == null) throw new Error(`bundle ${seq} has no WORM location`);
  return { entry, key: entry.worm.key, body: readFileSync(join(exported, entry.file)) };
};

const failedBundles = (out: string) => [...out.matchAll(/^FAIL bundle (\S+) /gm)].map((m) => m[1]);

describe("msp-verify with S3 read credentials against radosgw", () => {
  it("passes: every bundle and the checkpoint are locked in COMPLIANCE for at least 6 years", async () => {
    const run = await verify(exported);
    expect(run.err).toBe("");
    expect(run.out).toMatch(/^PASS: 6\/6 bundles verified, 0 withheld/m);
    expect(run.code).toBe(0);
  });

  it("serves a bundle's inclusion proof with the checkpoint read back from the bucket", async () => {
    const manifest = JSON.parse(readFileSync(join(exported, "manifest.json"), "utf8")) as EvidenceManifest;
    const stored = manifest.checkpoints[0];
    const res = await t.api<BundleInclusionProof>(
      "GET",
      `/v1/clinics/${CLINIC}/evidence/srv-s3/5/proof`,
      t.adminKey,
    );
    expect(res.status).toBe(200);
    const p = res.body;
    // The queue dropped the checkpoint's body after the upload: this copy came from radosgw.
    expect(p.checkpoint_object).toEqual({ key: stored?.worm.key, version_id: stored?.worm.version_id });
    expect(canonicalBytes(p.checkpoint)).toEqual(readFileSync(join(exported, stored?.file ?? "")));
    const claim = {
      leaf: Buffer.from(p.leaf, "hex"),
      index: p.leaf_index,
      treeSize: p.tree_size,
      proof: p.audit_path.map((h) => Buffer.from(h, "hex")),
      root: Buffer.from(p.checkpoint.root, "hex"),
    };
    expect(p).toMatchObject({ leaf_index: 4, tree_size: 6 });
    expect(verifyInclusion(claim)).toBe(true);
    expect(verifyInclusion({ ...claim, leaf: Buffer.from(bundle(4).entry.sha256, "hex") })).toBe(false);
  });

  it("fails naming the bundle whose named version has no lock, and again once that version is deleted", async () => {
    const { key, body, entry } = bundle(2);
    expect(sha256Hex(body)).toBe(entry.sha256);
    const unlocked = await putUnlockedVersion(client, BUCKET, key, body);
    expect(await store.retention(key, unlocked)).toBeNull();
    const dir = pointAt("unlocked", 2, unlocked);

    const before = await verify(dir);
    expect(before.code).toBe(1);
    expect(failedBundles(before.out)).toEqual(["srv-s3#2"]);
    expect(before.out).toContain(`worm: ${key} version ${unlocked} does not exist or is not locked`);

    // Without a lock S3 lets the version be deleted: exactly what COMPLIANCE mode prevents.
    expect(await tryDeleteVersion(client, BUCKET, key, unlocked)).toBeNull();
    const after = await verify(dir);
    expect(after.code).toBe(1);
    expect(failedBundles(after.out)).toEqual(["srv-s3#2"]);
    expect(after.out).toMatch(/^FAIL: 5\/6 bundles verified/m);
  });

  it("fails naming the bundle whose version id does not exist", async () => {
    const run = await verify(pointAt("missing-version", 4, "no-such-version-0123456789"));
    expect(run.code).toBe(1);
    expect(failedBundles(run.out)).toEqual(["srv-s3#4"]);
    expect(run.out).toMatch(/FAIL bundle srv-s3#4 .*worm: evidence\/clinic-s3\/srv-s3\/.*no-such-version/);
  });

  it("fails naming the bundle whose version is locked for less than the required retention", async () => {
    const { key, body, entry } = bundle(3);
    const short = new Date(Date.now() + 86_400_000);
    const { versionId } = await store.put({
      key,
      body,
      sha256: entry.sha256,
      retainUntil: short,
      contentType: "application/json",
    });
    expect((await store.retention(key, versionId))?.mode).toBe("COMPLIANCE");
    const run = await verify(pointAt("short-retention", 3, versionId));
    expect(run.code).toBe(1);
    expect(failedBundles(run.out)).toEqual(["srv-s3#3"]);
    expect(run.out).toMatch(/is retained until \S+, before the required \S+/);

    // The correctly archived version of the same key still passes.
    expect((await verify(exported)).code).toBe(0);
  });
});
