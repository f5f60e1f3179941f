/**
 * A real S3 with Object Lock for tests: a throwaway single-node Ceph cluster
 * and RADOS Gateway on 127.0.0.1, built by `radosgw.sh` in a temporary
 * directory. Start one per test file in `beforeAll` (about 12 s) and `stop()`
 * it in `afterAll`; `stopGateway()`/`startGateway()` stop and restart only
 * radosgw on the same port, which is an S3 outage as the uploader sees it.
 *
 * Needs the Debian packages radosgw, ceph-mon, ceph-osd and uuid-runtime.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./radosgw.sh", import.meta.url));

/** A running cluster. */
export interface RadosGw {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The temporary directory holding the cluster. */
  dir: string;
  /** Stops radosgw only (mon and OSD keep the data); S3 calls fail to connect until `startGateway`. */
  stopGateway(): Promise<void>;
  /** Starts radosgw again on the same port and waits until it answers HTTP. */
  startGateway(): Promise<void>;
  /** Stops every daemon and removes the directory. */
  stop(): Promise<void>;
}

function run(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [SCRIPT, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`radosgw.sh ${args[0]} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

// radosgw listens before its stores are ready; any HTTP answer means it serves requests.
async function waitForHttp(endpoint: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`radosgw at ${endpoint} did not answer: ${String(e)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Builds and starts a cluster; see the module comment. */
export async function startRadosGw(): Promise<RadosGw> {
  const dir = mkdtempSync(join(tmpdir(), "msp-radosgw-"));
  let out: string;
  try {
    out = await run(["start", dir], 120_000);
  } catch (e) {
    await run(["stop", dir], 30_000).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const info = JSON.parse(out.trim().split("\n").at(-1) ?? "") as {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
  };
  // The daemons run in their own sessions; if the test process exits without stop(), still stop them.
  const onExit = () => {
    try {
      execFileSync("bash", [SCRIPT, "stop", dir], { stdio: "ignore", timeout: 30_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  process.once("exit", onExit);
  try {
    await waitForHttp(info.endpoint, 60_000);
  } catch (e) {
    process.removeListener("exit", onExit);
    onExit();
    throw e;
  }
  return {
    ...info,
    dir,
    async stopGateway() {
      await run(["stop-rgw", dir], 30_000);
    },
    async startGateway() {
      await run(["start-rgw", dir], 90_000);
      await waitForHttp(info.endpoint, 60_000);
    },
    async stop() {
      process.removeListener("exit", onExit);
      try {
        await run(["stop", dir], 60_000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
