/**
 * Worker-thread entry of the verifier pool (see `pool.ts`). It loads the
 * shared package from the specifier the pool passes in `workerData.shared`
 * (the source file under tsx, the package when built), then answers each
 * `{ id, jobs }` message with `{ id, results }` in job order.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createVerifier, type VerifierDeps, type VerifyJob } from "./verify.js";

const port = parentPort;
if (port === null) throw new Error("verify-worker.ts must run in a worker thread");
const specifier = (workerData as { shared: string }).shared;
const shared = (await import(specifier)) as VerifierDeps;
const verify = createVerifier(shared);
port.on("message", (msg: { id: number; jobs: VerifyJob[] }) => {
  port.postMessage({ id: msg.id, results: msg.jobs.map(verify) });
});
port.postMessage({ ready: true });
