/**
 * `msp-agent verify-outbox`: re-checks everything the outbox holds, as an
 * auditor would, without trusting the hashes and counters it stored.
 *
 * Rows are read in batches and each batch is chained onto the previous one
 * with verifyChain's anchor, so a 100,000-bundle backlog is verified in
 * bounded memory. Like the shared verifiers, this never throws for bad
 * evidence: it reports every problem with its seq.
 */
import {
  type BundleProblem,
  type ChainAnchor,
  type ChainReport,
  type EvidenceBundle,
  KeyCache,
  verifyBundle,
  verifyChain,
} from "@msp/shared";
import { readMeta, type Statements } from "./store.js";

const BATCH = 1000;

/** One stored bundle that failed its own checks. */
export interface StoredBundleProblem {
  seq: number;
  problem: BundleProblem | "unparseable" | "hash_mismatch" | "seq_mismatch" | "foreign";
  message: string;
}

/** What verify-outbox prints. `ok` only if every list of problems is empty. */
export interface IntegrityReport {
  ok: boolean;
  /** Rows checked. */
  rows: number;
  /** The acked head the stored chain must continue from. */
  anchor: ChainAnchor;
  /** Per-bundle problems: schema, signing key, signature, stored hash. */
  bundles: StoredBundleProblem[];
  /** Links between the stored bundles, starting at the anchor. */
  chain: ChainReport;
  /** Disagreements between the rows and the persisted head and byte counter. */
  head: string[];
}

/**
 * Verifies every stored bundle's signature with `publicKeyB64` and the chain
 * from the acked anchor, and compares the result with the persisted head.
 */
export function verifyStored(st: Statements, publicKeyB64: string): IntegrityReport {
  const meta = readMeta(st);
  const anchor: ChainAnchor = { seq: meta.acked_seq, hash: meta.acked_hash };
  const cache = new KeyCache(1);
  const bundles: StoredBundleProblem[] = [];
  const problems: ChainReport["problems"] = [];
  let rows = 0;
  let bytes = 0;
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  let headHash: string | null = null;
  let cursor = anchor;
  let after = 0;

  for (;;) {
    const batch = st.rowsAfter.all(after, BATCH);
    if (batch.length === 0) break;
    const parsed: EvidenceBundle[] = [];
    for (const row of batch) {
      rows++;
      bytes += row.bytes;
      after = row.seq;
      let value: unknown;
      try {
        value = JSON.parse(row.body);
      } catch {
        bundles.push({
          seq: row.seq,
          problem: "unparseable",
          message: `row seq ${row.seq} is not valid JSON`,
        });
        continue;
      }
      const verdict = verifyBundle(value, publicKeyB64, cache);
      if (!verdict.ok) {
        bundles.push({ seq: row.seq, problem: verdict.problem, message: verdict.message });
        continue;
      }
      if (verdict.bundle.seq !== row.seq) {
        const message = `row seq ${row.seq} holds a bundle with seq ${verdict.bundle.seq}`;
        bundles.push({ seq: row.seq, problem: "seq_mismatch", message });
      }
      if (verdict.bundle.agent_id !== meta.agent_id || verdict.bundle.client_id !== meta.client_id) {
        const message = `row seq ${row.seq} belongs to agent ${verdict.bundle.agent_id} of ${verdict.bundle.client_id}`;
        bundles.push({ seq: row.seq, problem: "foreign", message });
      }
      if (verdict.hash !== row.hash) {
        bundles.push({
          seq: row.seq,
          problem: "hash_mismatch",
          message: `row seq ${row.seq}: stored hash differs`,
        });
      }
      parsed.push(verdict.bundle);
    }
    // The next batch is anchored on this one's head, so links across batch borders are checked too.
    const report = verifyChain(parsed, cursor);
    problems.push(...report.problems);
    if (report.last_seq !== null && report.head_hash !== null) {
      firstSeq ??= report.first_seq;
      lastSeq = report.last_seq;
      headHash = report.head_hash;
      cursor = { seq: report.last_seq, hash: report.head_hash };
    }
  }

  const head: string[] = [];
  const expectedHeadSeq = lastSeq ?? anchor.seq;
  const expectedHeadHash = headHash ?? anchor.hash;
  if (expectedHeadSeq !== meta.last_seq) {
    head.push(`persisted head is seq ${meta.last_seq}, but the stored chain ends at seq ${expectedHeadSeq}`);
  } else if (expectedHeadHash !== meta.last_hash) {
    head.push(`persisted head hash of seq ${meta.last_seq} differs from the stored bundle's hash`);
  }
  if (bytes !== meta.stored_bytes) {
    head.push(`persisted byte counter is ${meta.stored_bytes}, rows hold ${bytes}`);
  }

  const chain: ChainReport = {
    ok: problems.length === 0,
    agent_id: meta.agent_id,
    count: rows,
    first_seq: firstSeq,
    last_seq: lastSeq,
    head_hash: headHash,
    problems,
  };
  return { ok: bundles.length === 0 && chain.ok && head.length === 0, rows, anchor, bundles, chain, head };
}
