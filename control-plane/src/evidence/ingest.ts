/**
 * The ingest pipeline: verify, dedup, store, acknowledge.
 *
 * Submissions are gathered per event-loop tick into a batch. The batch is
 * verified on the worker pool (signatures are the dominant cost), then applied
 * to the chains in submission order in ONE SQLite transaction, and only after
 * that commit are the promises resolved and a signed cumulative receipt made
 * per agent. Verification of the next batch overlaps the commit of this one,
 * but commits stay in order, so an agent's bundles are judged in the order it
 * sent them.
 */
import {
  type Clock,
  type ControlPlaneFrame,
  canonicalBytes,
  MspError,
  type SigningKey,
  signBytes,
} from "@msp/shared";
import type { Db } from "../db/index.js";
import { type AgentIdentity, type ChainHead, ChainWriter, type StoredRow } from "./chain.js";
import { createVerifierPool, type VerifierPool } from "./pool.js";
import type { EvidenceKeys } from "./store.js";
import type { VerifyJob, VerifyResult } from "./verify.js";

/** A signed cumulative ack, as sent to the agent. */
export type Ack = Extract<ControlPlaneFrame, { type: "ack" }>;

/**
 * What became of one submitted bundle; resolved only after its batch committed.
 * `ack` is the agent's cumulative receipt after that batch (shared by every
 * outcome of the agent in the batch, so a sender can skip repeats by identity),
 * or null while nothing from seq 1 on is contiguous.
 */
export type IngestOutcome =
  | { status: "stored" | "duplicate"; seq: number; hash: string; ack: Ack | null }
  | { status: "rejected"; seq: number | null; error: MspError };

/** Options of {@link createIngest}. */
export interface IngestOptions {
  /** A migrated database (EVIDENCE_MIGRATIONS). */
  db: Db;
  keys: EvidenceKeys;
  /** The control-plane key that signs receipts. */
  signingKey: SigningKey;
  clock: Clock;
  /** Verify worker threads; default os.availableParallelism(); 0 verifies inline. */
  workers?: number;
  /** Called after each commit with the rows it stored (WORM uploader, inventory). Must not throw; a throw is counted and reported to `onError`. */
  onStored?: (rows: readonly StoredRow[]) => void;
  /** Receives failures that are not any one bundle's fault (a failed commit, a throwing onStored). */
  onError?: (error: MspError) => void;
  /** Most bundles per batch; default 1024. */
  maxBatch?: number;
}

/** Counters for metrics. */
export interface IngestStats {
  submitted: number;
  stored: number;
  duplicate: number;
  rejected: number;
  batches: number;
  commitFailures: number;
  onStoredErrors: number;
  /** Worker threads alive. */
  workers: number;
  /** Submissions not yet resolved. */
  pending: number;
}

/** The running pipeline. */
export interface Ingest {
  /** The key id receipts are signed with (for the welcome frame). */
  readonly keyId: string;
  /** Submits a bundle (any JSON value; it is parsed with the shared schema). */
  submit(who: AgentIdentity, bundle: unknown): Promise<IngestOutcome>;
  /** Submits the raw text of a bundle frame, so parsing happens on the worker too. */
  submitFrame(who: AgentIdentity, frameText: string): Promise<IngestOutcome>;
  /** The agent's chain head (for welcome.acked_seq). */
  head(agentId: string): ChainHead;
  /** A freshly signed receipt for the agent's current head, or null when nothing is acknowledged yet. */
  ackFor(who: AgentIdentity): Ack | null;
  stats(): IngestStats;
  /** Resolves when every submission so far is committed and answered; later submissions are refused. */
  drain(): Promise<void>;
  /** Drains, then stops the workers. */
  close(): Promise<void>;
}

interface Pending {
  who: AgentIdentity;
  job: VerifyJob | null;
  refusal: VerifyResult | null;
  resolve: (o: IngestOutcome) => void;
}

/** Starts the worker pool and returns the pipeline. Throws `config_invalid` for bad options. */
export async function createIngest(options: IngestOptions): Promise<Ingest> {
  const { availableParallelism } = await import("node:os");
  const workers = options.workers ?? availableParallelism();
  const maxBatch = options.maxBatch ?? 1024;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new MspError("config_invalid", `ingest maxBatch must be a positive integer, got ${maxBatch}`);
  }
  const pool: VerifierPool = await createVerifierPool(workers);
  const writer = new ChainWriter(options.db, options.clock);
  const key = options.signingKey;
  const stats = {
    submitted: 0,
    stored: 0,
    duplicate: 0,
    rejected: 0,
    batches: 0,
    commitFailures: 0,
    onStoredErrors: 0,
  };
  let queue: Pending[] = [];
  let scheduled = false;
  let draining = false;
  let unresolved = 0;
  let commits: Promise<void> = Promise.resolve();

  const report = (e: unknown, what: string) => {
    const err = e instanceof MspError ? e : new MspError("internal", what, { cause: e });
    options.onError?.(err);
  };

  const ackFor = (who: AgentIdentity): Ack | null => {
    const head = writer.head(who.agent_id);
    if (head.acked_seq === 0) return null;
    const receipt = {
      agent_id: who.agent_id,
      client_id: who.client_id,
      up_to_seq: head.acked_seq,
      head_hash: head.head_hash,
      stored_at: options.clock.now().toISOString(),
    };
    const value = signBytes(key, canonicalBytes(receipt)).toString("base64");
    return { type: "ack", receipt, signature: { alg: "ed25519", key_id: key.keyId, value } };
  };

  const commit = (batch: Pending[], results: VerifyResult[]) => {
    stats.batches++;
    const items = batch.map((p, i) => ({ who: p.who, result: p.refusal ?? (results[i] as VerifyResult) }));
    let applied: ReturnType<ChainWriter["apply"]>;
    try {
      applied = writer.apply(items);
    } catch (e) {
      stats.commitFailures++;
      report(e, "evidence commit failed");
      const error = new MspError("unavailable", "the evidence store could not commit; resend later", {
        cause: e,
      });
      for (const p of batch) p.resolve({ status: "rejected", seq: null, error });
      return;
    }
    const acks = new Map<string, Ack | null>();
    for (const p of batch) {
      if (applied.touched.has(p.who.agent_id) && !acks.has(p.who.agent_id)) {
        acks.set(p.who.agent_id, ackFor(p.who));
      }
    }
    if (applied.stored.length > 0 && options.onStored !== undefined) {
      try {
        options.onStored(applied.stored);
      } catch (e) {
        stats.onStoredErrors++;
        report(e, "onStored failed");
      }
    }
    batch.forEach((p, i) => {
      const o = applied.outcomes[i];
      if (o === undefined) return;
      if (o.status === "rejected") {
        stats.rejected++;
        p.resolve(o);
      } else {
        stats[o.status]++;
        p.resolve({ ...o, ack: acks.get(p.who.agent_id) ?? null });
      }
    });
  };

  const flush = () => {
    scheduled = false;
    while (queue.length > 0) {
      const batch = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
      if (batch === queue) queue = [];
      const jobs = batch.filter((p) => p.job !== null).map((p) => p.job as VerifyJob);
      const verified = pool.verify(jobs);
      commits = commits.then(async () => {
        const out = await verified;
        let j = 0;
        const results = batch.map((p) =>
          p.job === null ? (p.refusal as VerifyResult) : (out[j++] as VerifyResult),
        );
        commit(batch, results);
      });
    }
  };

  const enqueue = (who: AgentIdentity, make: (key: string) => VerifyJob): Promise<IngestOutcome> => {
    if (draining) {
      return Promise.resolve({
        status: "rejected",
        seq: null,
        error: new MspError("unavailable", "the control plane is shutting down; resend later"),
      });
    }
    stats.submitted++;
    unresolved++;
    const agentKey = options.keys.evidenceKeyOf(who.agent_id);
    return new Promise<IngestOutcome>((resolve) => {
      const done = (o: IngestOutcome) => {
        unresolved--;
        resolve(o);
      };
      const refusal: VerifyResult | null =
        agentKey === undefined
          ? { ok: false, code: "forbidden", message: `agent ${who.agent_id} is not enrolled`, seq: null }
          : null;
      queue.push({ who, job: refusal === null ? make(agentKey as string) : null, refusal, resolve: done });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };

  const drain = async () => {
    draining = true;
    if (scheduled) flush();
    await commits;
  };

  return {
    keyId: key.keyId,
    submit: (who, bundle) => enqueue(who, (k) => ({ ...who, key: k, bundle })),
    submitFrame: (who, frameText) => enqueue(who, (k) => ({ ...who, key: k, frameText })),
    head: (agentId) => writer.head(agentId),
    ackFor,
    stats: () => ({ ...stats, workers: pool.size, pending: unresolved }),
    drain,
    async close() {
      await drain();
      await pool.close();
    },
  };
}
