/**
 * WORM against a real S3 with Object Lock: Ceph RADOS Gateway on 127.0.0.1,
 * which enforces COMPLIANCE mode. The shared ObjectStore cases, then the
 * acceptance tests of issue 7: retention is set and read back, deleting a
 * version and shortening its retention are refused, re-uploading a bundle
 * makes no second version, an S3 outage mid-run loses nothing, and a bucket
 * without Object Lock is refused at startup.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openDatabase } from "../../control-plane/src/db/index.js";
import {
  createWormUploader,
  type ObjectStore,
  WORM_MIGRATIONS,
  type WormBundle,
  type WormUploader,
} from "../../control-plane/src/worm/index.js";
import { createS3Client, createS3ObjectStore, type S3StoreOptions } from "../../control-plane/src/worm/s3.js";
import {
  createTestBucket,
  listVersionIds,
  tryChangeRetention,
  tryDeleteVersion,
} from "../../control-plane/src/worm/testkit.js";
import {
  bundleHash,
  canonicalBytes,
  type EvidenceBundle,
  generateSigningKey,
  systemClock,
} from "../../shared/src/index.js";
import { signedChain } from "../support/bundles.js";
import { type RadosGw, startRadosGw } from "../support/radosgw.js";
import { objectStoreCases, type StoreUnderTest } from "./object-store-cases.js";

let gw: RadosGw;
// The SDK is the control plane's dependency, not the test workspace's: its client type comes through.
let client: ReturnType<typeof createS3Client>;
const agentKey = generateSigningKey();
const controlPlaneKey = generateSigningKey();

const options = (bucket: string): S3StoreOptions => ({
  bucket,
  region: gw.region,
  endpoint: gw.endpoint,
  forcePathStyle: true,
  credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
  requestTimeoutMs: 5_000,
});

async function lockedStore(bucket: string): Promise<ObjectStore> {
  await createTestBucket(client, bucket, true);
  return createS3ObjectStore(options(bucket), client);
}

function toWorm(b: EvidenceBundle): WormBundle {
  return {
    client_id: b.client_id,
    agent_id: b.agent_id,
    seq: b.seq,
    bundle_id: b.bundle_id,
    sha256: bundleHash(b),
    created_at: b.created_at,
    body: canonicalBytes(b),
  };
}

function uploaderFor(store: ObjectStore): WormUploader {
  const db = openDatabase(":memory:");
  migrate(db, WORM_MIGRATIONS);
  return createWormUploader({
    db,
    store,
    clock: systemClock,
    signingKey: controlPlaneKey,
    backoff: { initialMs: 100, maxMs: 1_000 },
    idleMs: 1_000,
  });
}

beforeAll(async () => {
  gw = await startRadosGw();
  client = createS3Client({
    bucket: "unused",
    region: gw.region,
    endpoint: gw.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
  });
}, 180_000);

afterAll(async () => {
  client?.destroy();
  await gw?.stop();
}, 120_000);

describe("S3 on radosgw: shared ObjectStore cases", () => {
  let fixture: StoreUnderTest;
  beforeAll(async () => {
    const store = await lockedStore("worm-cases");
    await createTestBucket(client, "worm-cases-unlocked", false);
    fixture = { store, unlocked: createS3ObjectStore(options("worm-cases-unlocked"), client) };
  });
  objectStoreCases(() => fixture);
});

describe("S3 WORM uploader on radosgw", () => {
  const chain = signedChain(agentKey, 4);

  it("uploads with COMPLIANCE retention of bundle time + 6 years, read back with GetObjectRetention", async () => {
    const store = await lockedStore("worm-retention");
    const uploader = uploaderFor(store);
    await uploader.checkStorage();
    const keys = chain.map((b) => uploader.enqueue(toWorm(b)).key);
    expect(await uploader.pump()).toEqual({ uploaded: 4, failed: 0, retryAt: null });
    for (const [i, key] of keys.entries()) {
      const b = chain[i] as EvidenceBundle;
      const versionId = uploader.versionOf(key);
      expect(versionId).not.toBeNull();
      const retention = await store.retention(key, versionId ?? undefined);
      const expected = new Date(b.created_at);
      expected.setUTCFullYear(expected.getUTCFullYear() + 6);
      expect(retention).toEqual({ mode: "COMPLIANCE", retainUntil: expected });
      expect(await store.get(key)).toEqual(canonicalBytes(b));
      expect((await store.head(key))?.sha256).toBe(bundleHash(b));
    }
  });

  it("refuses to delete the version or shorten its retention, in either lock mode", async () => {
    const store = await lockedStore("worm-tamper");
    const uploader = uploaderFor(store);
    const { key } = uploader.enqueue(toWorm(chain[0] as EvidenceBundle));
    await uploader.pump();
    const versionId = uploader.versionOf(key) as string;
    const before = await store.retention(key, versionId);

    expect(await tryDeleteVersion(client, "worm-tamper", key, versionId)).toMatchObject({
      code: "forbidden",
    });
    const sooner = new Date(Date.now() + 60_000);
    for (const mode of ["COMPLIANCE", "GOVERNANCE"] as const) {
      expect(await tryChangeRetention(client, "worm-tamper", key, versionId, mode, sooner)).toMatchObject({
        code: "forbidden",
      });
    }
    expect(await store.retention(key, versionId)).toEqual(before);
    expect(await store.get(key, versionId)).toEqual(canonicalBytes(chain[0] as EvidenceBundle));
    expect(await listVersionIds(client, "worm-tamper", key)).toEqual([versionId]);
  });

  it("makes no second version when the same bundle is uploaded again, even from a fresh queue", async () => {
    const store = await lockedStore("worm-idempotent");
    const first = uploaderFor(store);
    const b = toWorm(chain[1] as EvidenceBundle);
    const { key } = first.enqueue(b);
    await first.pump();
    expect(first.enqueue(b).status).toBe("duplicate");
    await first.pump();
    // A control plane that lost its queue (restored database) uploads the same bundle again.
    const second = uploaderFor(store);
    second.enqueue(b);
    expect(await second.pump()).toMatchObject({ uploaded: 1, failed: 0 });
    expect(second.versionOf(key)).toBe(first.versionOf(key));
    expect(await listVersionIds(client, "worm-idempotent", key)).toEqual([first.versionOf(key)]);
  });

  it("refuses at startup a bucket without Object Lock, and one that does not exist", async () => {
    await createTestBucket(client, "worm-no-lock", false);
    const noLock = uploaderFor(createS3ObjectStore(options("worm-no-lock"), client));
    const { key } = noLock.enqueue(toWorm(chain[2] as EvidenceBundle));
    await expect(noLock.start()).rejects.toMatchObject({
      code: "config_invalid",
      message: expect.stringContaining("does not have Object Lock enabled"),
    });
    await expect(noLock.pump()).rejects.toMatchObject({ code: "config_invalid" });
    expect(await listVersionIds(client, "worm-no-lock", key)).toEqual([]);
    expect(noLock.counts().pending).toBe(1);
    const missing = uploaderFor(createS3ObjectStore(options("worm-does-not-exist"), client));
    await expect(missing.start()).rejects.toMatchObject({ code: "config_invalid" });
  });

  it("rides out radosgw stopping mid-run: uploads resume when it returns and none is lost", async () => {
    const store = await lockedStore("worm-outage");
    const uploader = uploaderFor(store);
    const bundles = signedChain(agentKey, 30).map(toWorm);
    await uploader.start();
    const keys: string[] = [];
    const producer = (async () => {
      for (const b of bundles) {
        keys.push(uploader.enqueue(b).key);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();
    await waitFor(() => uploader.counts().uploaded >= 3, 20_000);
    await gw.stopGateway();
    await producer;
    await waitFor(() => uploader.counts().pending > 0, 20_000);
    const stuck = uploader.counts();
    expect(stuck.uploaded).toBeLessThan(bundles.length);
    await gw.startGateway();
    await waitFor(() => uploader.counts().uploaded === bundles.length, 60_000);
    await uploader.stop();
    expect(uploader.counts()).toEqual({ pending: 0, uploaded: bundles.length, failed: 0 });
    for (const [i, key] of keys.entries()) {
      expect((await store.head(key))?.sha256).toBe(bundles[i]?.sha256);
      expect(await listVersionIds(client, "worm-outage", key)).toHaveLength(1);
    }
  }, 150_000);
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(cond()).toBe(true);
}
