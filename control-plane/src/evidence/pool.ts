/**
 * A small pool of worker threads that run the verifier, so ingest can use
 * more than one core: signature checks are about half of the server's time.
 * With `size` 0 it verifies inline on the calling thread.
 *
 * Workers are started from whichever form this module runs in: from the built
 * dist the compiled `verify-worker.js`; from TypeScript source (vitest, tsx)
 * an eval shim that registers tsx's loader inside the worker and imports
 * `verify-worker.ts`, with `@msp/shared` taken from source as well, because
 * the package's dist may be stale or absent. A worker that dies hands its
 * jobs to the inline verifier, so a crash costs speed, never a bundle.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import * as shared from "@msp/shared";
import { MspError } from "@msp/shared";
import { createVerifier, type VerifyJob, type VerifyResult } from "./verify.js";

/** Verifies batches of jobs; results come back in job order. */
export interface VerifierPool {
  /** Worker threads currently alive (0 when verifying inline). */
  readonly size: number;
  verify(jobs: readonly VerifyJob[]): Promise<VerifyResult[]>;
  /** Terminates the workers; pending batches finish inline. */
  close(): Promise<void>;
}

interface Slot {
  worker: Worker;
  pending: Map<number, { jobs: readonly VerifyJob[]; resolve: (r: VerifyResult[]) => void }>;
  load: number;
  alive: boolean;
}

const FROM_SOURCE = import.meta.url.endsWith(".ts");

function startWorker(): Worker {
  if (!FROM_SOURCE) {
    return new Worker(new URL("./verify-worker.js", import.meta.url), {
      workerData: { shared: "@msp/shared" },
    });
  }
  const require = createRequire(import.meta.url);
  const tsxApi = pathToFileURL(require.resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const entry = new URL("./verify-worker.ts", import.meta.url).href;
  const sharedSrc = new URL("../../../shared/src/index.ts", import.meta.url).href;
  const shim = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(shim, { eval: true, workerData: { shared: sharedSrc } });
}

/** Starts `size` workers (0 = inline) and waits until each has loaded; throws `config_invalid` for a bad size. */
export async function createVerifierPool(size: number): Promise<VerifierPool> {
  if (!Number.isInteger(size) || size < 0 || size > 64) {
    throw new MspError("config_invalid", `verify workers must be an integer in 0..64, got ${size}`);
  }
  const inline = createVerifier(shared);
  const slots: Slot[] = [];
  let nextId = 1;

  const retire = (slot: Slot) => {
    if (!slot.alive) return;
    slot.alive = false;
    for (const p of slot.pending.values()) p.resolve(p.jobs.map(inline));
    slot.pending.clear();
  };

  const started = Array.from({ length: size }, async () => {
    const worker = startWorker();
    const slot: Slot = { worker, pending: new Map(), load: 0, alive: true };
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown) =>
        reject(new MspError("internal", "a verify worker failed to start", { cause: e }));
      worker.once("error", fail);
      worker.once("message", () => {
        worker.off("error", fail);
        resolve();
      });
    });
    worker.on("message", (msg: { id: number; results: VerifyResult[] }) => {
      const p = slot.pending.get(msg.id);
      if (p === undefined) return;
      slot.pending.delete(msg.id);
      slot.load -= p.jobs.length;
      p.resolve(msg.results);
    });
    worker.on("error", () => retire(slot));
    worker.on("exit", () => retire(slot));
    slots.push(slot);
  });
  try {
    await Promise.all(started);
  } catch (e) {
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw e;
  }

  const send = (slot: Slot, jobs: readonly VerifyJob[]) =>
    new Promise<VerifyResult[]>((resolve) => {
      const id = nextId++;
      slot.pending.set(id, { jobs, resolve });
      slot.load += jobs.length;
      slot.worker.postMessage({ id, jobs });
    });

  return {
    get size() {
      return slots.filter((s) => s.alive).length;
    },
    async verify(jobs) {
      const live = slots.filter((s) => s.alive);
      if (live.length === 0 || jobs.length === 0) return jobs.map(inline);
      // Split into one chunk per worker, least-loaded first, so a tick's batch uses every core.
      live.sort((a, b) => a.load - b.load);
      const per = Math.ceil(jobs.length / live.length);
      const parts: Promise<VerifyResult[]>[] = [];
      for (let i = 0, w = 0; i < jobs.length; i += per, w++) {
        parts.push(send(live[w] as Slot, jobs.slice(i, i + per)));
      }
      return (await Promise.all(parts)).flat();
    },
    async close() {
      const all = slots.splice(0);
      for (const s of all) retire(s);
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
