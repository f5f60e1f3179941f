/**
 * Fault suite, WORM storage going away: the control plane (child process)
 * uploads every stored bundle to a real S3 Object Lock bucket (Ceph RADOS
 * Gateway on 127.0.0.1); radosgw is stopped in the middle of the uploads and
 * started again. Ingest must not depend on S3 (agents keep being acked while
 * it is down), and once it is back every stored bundle must reach the bucket
 * exactly once, by the uploader's own retries, with the evidence chain intact.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../control-plane/src/db/index.js";
import { createS3Client } from "../../control-plane/src/worm/s3.js";
import { createTestBucket, listVersionIds } from "../../control-plane/src/worm/testkit.js";
import { type RadosGw, startRadosGw } from "../support/radosgw.js";
import {
  createDeployment,
  type Deployment,
  drained,
  enrollAgent,
  expectEvidenceIntact,
  FAST_TRANSPORT,
  type Proc,
  scratchDir,
  spawnAgent,
  storedCount,
  until,
} from "./harness.js";

const RUNBOOKS = resolve(import.meta.dirname, "..", "..", "runbooks");
const CLINIC = "clinic-worm";
const BUCKET = "faults-worm";

let gw: RadosGw;
let work: string;
let dep: Deployment;
const running: Proc[] = [];

/** WORM upload rows of bundle objects by state, from the control plane's database. */
function uploads(): Record<string, number> {
  const db = openDatabase(join(dep.dataDir, "control-plane.db"));
  try {
    const rows = db
      .prepare<[], { state: string; n: number }>(
        "SELECT state, COUNT(*) AS n FROM worm_objects WHERE kind = 'bundle' GROUP BY state",
      )
      .all();
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  gw = await startRadosGw();
  work = scratchDir("msp-faults-worm-");
  const client = createS3Client({
    bucket: BUCKET,
    region: gw.region,
    endpoint: gw.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
  });
  await createTestBucket(client, BUCKET, true);
  const idFile = join(work, "s3-access-key-id");
  const secretFile = join(work, "s3-secret-access-key");
  writeFileSync(idFile, gw.accessKeyId, { mode: 0o600 });
  writeFileSync(secretFile, gw.secretAccessKey, { mode: 0o600 });
  dep = await createDeployment(join(work, "cp"), RUNBOOKS, {
    MSP_CP__WORM: JSON.stringify({
      kind: "s3",
      bucket: BUCKET,
      region: gw.region,
      endpoint: gw.endpoint,
      force_path_style: true,
      access_key_id_file: idFile,
      secret_access_key_file: secretFile,
    }),
  });
  running.push(await dep.serve());
}, 240_000);

afterAll(async () => {
  for (const p of running) await p.kill("SIGKILL");
  await gw?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe("fault suite: WORM storage outage", () => {
  it("radosgw stopped and restarted during uploads: ingest goes on, every bundle reaches the bucket once", async () => {
    const agent = await enrollAgent(dep, work, CLINIC, "srv-worm", RUNBOOKS, (c) => ({
      ...c,
      check_interval_seconds: 86_400,
    }));
    const backlog = 400;
    const proc = await spawnAgent(agent, { backlog, transport: FAST_TRANSPORT });
    running.push(proc);
    await until("some uploads done", () => ((uploads().uploaded ?? 0) >= 50 ? true : undefined));
    await gw.stopGateway();
    // Ingest does not wait for S3: the agent is acked while the gateway is down.
    await drained(agent, backlog + 1, proc);
    const during = uploads();
    expect(during.pending ?? 0).toBeGreaterThan(0);
    expect(storedCount(dep, agent.agentId)).toBe(backlog + 1);

    await gw.startGateway();
    await until(
      "every bundle uploaded after the gateway returned",
      () => (uploads().uploaded === backlog + 1 ? true : undefined),
      120_000,
      () => JSON.stringify(uploads()),
    );
    expect(uploads()).toEqual({ uploaded: backlog + 1 });
    await proc.kill("SIGTERM");
    await expectEvidenceIntact(dep, agent);

    // Spot checks in the bucket itself: each object there once, as exactly one version.
    const client = createS3Client({
      bucket: BUCKET,
      region: gw.region,
      endpoint: gw.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: gw.accessKeyId, secretAccessKey: gw.secretAccessKey },
    });
    const db = openDatabase(join(dep.dataDir, "control-plane.db"));
    const keys = db
      .prepare<[], { object_key: string }>(
        "SELECT object_key FROM worm_objects WHERE kind = 'bundle' ORDER BY id",
      )
      .all()
      .map((r) => r.object_key);
    db.close();
    expect(new Set(keys).size).toBe(backlog + 1);
    for (const key of keys.filter((_, i) => i % 100 === 0 || i === keys.length - 1)) {
      expect(await listVersionIds(client, BUCKET, key)).toHaveLength(1);
    }
  }, 240_000);
});
