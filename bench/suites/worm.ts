/**
 * WORM evidence storage: how fast the uploader writes locked objects to a real
 * S3 with Object Lock (Ceph RADOS Gateway on 127.0.0.1, started by the suite),
 * and what a clinic's daily checkpoint costs at 100,000 bundles a day (the
 * RFC 6962 root alone, and the whole build: SQLite read, tree, signature,
 * queue insert). Uploads are one at a time in queue order, as the uploader
 * runs them, each a HEAD then a PUT with COMPLIANCE retention and Content-MD5.
 */
import { performance } from "node:perf_hooks";
import { migrate, openDatabase } from "../../control-plane/src/db/index.js";
import {
  createWormUploader,
  queueCheckpoint,
  WORM_MIGRATIONS,
  WormQueue,
} from "../../control-plane/src/worm/index.js";
import { createS3Client, createS3ObjectStore } from "../../control-plane/src/worm/s3.js";
import { createTestBucket } from "../../control-plane/src/worm/testkit.js";
import {
  canonicalBytes,
  FakeClock,
  sha256Hex,
  signingKeyFromSeed,
  systemClock,
} from "../../shared/src/index.js";
import { checkpointRoot } from "../../shared/src/merkle/checkpoint.js";
import { startRadosGw } from "../../test/support/radosgw.js";
import { measureOps, type Row, type Suite, threadTimes } from "../lib.js";

/** Bundles per clinic-day the checkpoint figures are taken at (issue 7). */
const DAY_BUNDLES = 100_000;

/** Figure names, shared by rows and comparisons. */
export const F = {
  uploads: "uploads to radosgw, sequential (HEAD + PUT, COMPLIANCE)",
  uploadMs: "upload latency, mean",
  enqueue: "enqueue (validate + SQLite insert, 2 KB body)",
  root: "checkpoint root over 100,000 bundle hashes",
  build: "checkpoint build for 100,000 bundles (SQLite read + root + sign + queue)",
} as const;

/** The WORM suite. */
export const wormSuite: Suite = {
  name: "worm",
  title: "WORM evidence storage",
  description:
    "Uploads go to a single-node Ceph RGW (memstore OSD) on this machine, so they measure the uploader and " +
    "RGW's request path, not a network or disks. Checkpoint figures use 100,000 random bundle hashes for one " +
    "clinic-day; both are thread CPU time (per core), the root as a median of rounds, the full build once.",
  async run(opts) {
    const rows: Row[] = [];
    rows.push(...(await uploadRows(opts.quick)));

    const hashes = Array.from({ length: DAY_BUNDLES }, (_, i) => sha256Hex(`bundle-${i}`));
    const rootOps = await measureOps(() => checkpointRoot(hashes), { ...opts, clock: "thread" });
    rows.push({ figure: F.root, value: 1000 / rootOps, unit: "ms" });
    rows.push(...buildRows(hashes));
    return rows;
  },
};

async function uploadRows(quick: boolean): Promise<Row[]> {
  const gw = await startRadosGw();
  const client = createS3Client({
    bucket: "unused",
    region: gw.region,
    endpoint: gw.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
  });
  try {
    await createTestBucket(client, "worm-bench", true);
    const store = createS3ObjectStore(
      { bucket: "worm-bench", region: gw.region, endpoint: gw.endpoint, forcePathStyle: true },
      client,
    );
    const db = openDatabase(":memory:");
    migrate(db, WORM_MIGRATIONS);
    const uploader = createWormUploader({
      db,
      store,
      clock: systemClock,
      signingKey: signingKeyFromSeed(Buffer.alloc(32, 9)),
    });
    await uploader.checkStorage();
    const n = quick ? 40 : 400;
    const warm = 10;
    const filler = "x".repeat(1900);
    const bundles = Array.from({ length: warm + n }, (_, i) => {
      const body = canonicalBytes({ seq: i + 1, filler });
      return {
        client_id: "clinic-bench",
        agent_id: "agent-bench",
        seq: i + 1,
        bundle_id: `EB-20260101-${String(i + 1).padStart(4, "0")}`,
        sha256: sha256Hex(body),
        created_at: new Date().toISOString(),
        body,
      };
    });
    // Untimed first uploads: a new bucket's first requests are several times slower than the rest.
    for (const b of bundles.slice(0, warm)) uploader.enqueue(b);
    await uploader.pump();
    const t0 = performance.now();
    for (const b of bundles.slice(warm)) uploader.enqueue(b);
    const enqueueMs = performance.now() - t0;
    const t1 = performance.now();
    const result = await uploader.pump();
    const uploadMs = performance.now() - t1;
    if (result.uploaded !== n) throw new Error(`worm suite: uploaded ${result.uploaded} of ${n}`);
    db.close();
    return [
      { figure: F.uploads, value: (n / uploadMs) * 1000, unit: "objects/s" },
      { figure: F.uploadMs, value: uploadMs / n, unit: "ms" },
      { figure: F.enqueue, value: (n / enqueueMs) * 1000, unit: "ops/s" },
    ];
  } finally {
    client.destroy();
    await gw.stop();
  }
}

function buildRows(hashes: readonly string[]): Row[] {
  const db = openDatabase(":memory:");
  migrate(db, WORM_MIGRATIONS);
  const queue = new WormQueue(db);
  const day = "2026-01-01";
  db.transaction(() => {
    for (const [i, sha256] of hashes.entries()) {
      // Bodies are irrelevant to the checkpoint; the bundle rows need an object row each.
      const objectId = queue.insertObject({
        client_id: "clinic-bench",
        kind: "bundle",
        object_key: `evidence/clinic-bench/agent-${i % 10}/${day}/${String(i).padStart(12, "0")}.json`,
        sha256,
        content_type: "application/json",
        retain_until: "2032-01-01T00:00:00.000Z",
        body: Buffer.from("{}"),
        enqueued_at: new Date(`${day}T12:00:00.000Z`),
      });
      queue.insertBundle({
        client_id: "clinic-bench",
        agent_id: `agent-${i % 10}`,
        seq: i + 1,
        bundle_id: `EB-20260101-${String(i + 1).padStart(6, "0")}`,
        sha256,
        created_at: `${day}T12:00:00.000Z`,
        received_day: day,
        object_id: objectId,
      });
    }
  })();
  const clock = new FakeClock("2026-01-02T00:00:05.000Z");
  // Thread CPU time where Linux provides it, so the one-shot figure is per core on a busy machine too.
  const cpu0 = threadTimes();
  const t0 = performance.now();
  const cp = db.transaction(() =>
    queueCheckpoint(queue, signingKeyFromSeed(Buffer.alloc(32, 9)), "clinic-bench", day, clock.now(), 6),
  )();
  const cpu1 = threadTimes();
  const ms = cpu0 !== null && cpu1 !== null ? cpu1.cpuMs - cpu0.cpuMs : performance.now() - t0;
  db.close();
  if (cp.bundle_count !== hashes.length) throw new Error("worm suite: checkpoint missed bundles");
  return [{ figure: F.build, value: ms, unit: "ms" }];
}
