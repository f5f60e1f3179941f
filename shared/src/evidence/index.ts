/**
 * Signing and verifying evidence bundles, one at a time and as a chain.
 *
 * Verification never throws for bad evidence: it returns a verdict naming what
 * is wrong and where (which seq), because an auditor needs the whole report,
 * not the first failure.
 */
import { canonicalBytes } from "../canonical/index.js";
import {
  decodePublicKey,
  type KeyCache,
  keyIdOf,
  type SigningKey,
  signBytes,
  verifyBytes,
} from "../crypto/index.js";
import { MspError } from "../errors/index.js";
import { sha256Hex } from "../hash/index.js";
import { EvidenceBundle, GENESIS_HASH, UnsignedBundle } from "../protocol/bundle.js";
import { describeIssues } from "../protocol/parse.js";

/** sha256 of a signed bundle's full canonical form: the value the next bundle's prev_hash carries. */
export function bundleHash(bundle: EvidenceBundle): string {
  return sha256Hex(canonicalBytes(bundle));
}

/** The bytes a bundle signature covers: the canonical bundle without `signature`. */
export function bundleSigningBytes(bundle: UnsignedBundle | EvidenceBundle): Buffer {
  const { signature: _omit, ...unsigned } = bundle as EvidenceBundle;
  return canonicalBytes(unsigned);
}

/** Validates and signs a bundle. Throws `invalid_input` if the bundle does not match the schema. */
export function signBundle(unsigned: UnsignedBundle, key: SigningKey): EvidenceBundle {
  const parsed = UnsignedBundle.safeParse(unsigned);
  if (!parsed.success) {
    const first = describeIssues(parsed.error)[0];
    throw new MspError(
      "invalid_input",
      `bundle does not match the schema: ${first?.path}: ${first?.message}`,
      {
        details: { issues: describeIssues(parsed.error) },
      },
    );
  }
  const value = signBytes(key, bundleSigningBytes(parsed.data)).toString("base64");
  return { ...parsed.data, signature: { alg: "ed25519", key_id: key.keyId, value } };
}

/** Formats an EB-YYYYMMDD-NNNN id from a date and a daily counter. */
export function formatBundleId(at: Date, counter: number): string {
  const day = at.toISOString().slice(0, 10).replaceAll("-", "");
  return `EB-${day}-${String(counter).padStart(4, "0")}`;
}

/** Why a single bundle failed verification. */
export type BundleProblem = "schema" | "key_mismatch" | "signature_invalid";

/** Outcome of {@link verifyBundle}. */
export type BundleVerdict =
  | { ok: true; bundle: EvidenceBundle; hash: string }
  | { ok: false; problem: BundleProblem; message: string; seq: number | null };

/**
 * Checks one bundle: it matches the schema, names the expected key, and its
 * signature verifies over the canonical bytes.
 */
export function verifyBundle(input: unknown, publicKeyB64: string, cache?: KeyCache): BundleVerdict {
  const seqOf = (v: unknown) =>
    typeof v === "object" && v !== null && typeof (v as { seq?: unknown }).seq === "number"
      ? (v as { seq: number }).seq
      : null;
  const parsed = EvidenceBundle.safeParse(input);
  if (!parsed.success) {
    const first = describeIssues(parsed.error)[0];
    return { ok: false, problem: "schema", message: `${first?.path}: ${first?.message}`, seq: seqOf(input) };
  }
  const bundle = parsed.data;
  const expectedKeyId = keyIdOf(decodePublicKey(publicKeyB64));
  if (bundle.signature.key_id !== expectedKeyId) {
    return {
      ok: false,
      problem: "key_mismatch",
      message: `bundle seq ${bundle.seq} is signed by key ${bundle.signature.key_id}, expected ${expectedKeyId}`,
      seq: bundle.seq,
    };
  }
  const sig = Buffer.from(bundle.signature.value, "base64");
  if (!verifyBytes(publicKeyB64, bundleSigningBytes(bundle), sig, cache)) {
    return {
      ok: false,
      problem: "signature_invalid",
      message: `bundle seq ${bundle.seq} (${bundle.bundle_id}): signature does not verify`,
      seq: bundle.seq,
    };
  }
  return { ok: true, bundle, hash: bundleHash(bundle) };
}

/** A problem found in a chain, with the seq numbers involved. */
export type ChainProblem =
  | { kind: "gap"; missing_from: number; missing_to: number; message: string }
  | { kind: "reorder"; seq: number; after_seq: number; message: string }
  | { kind: "fork"; seq: number; hashes: string[]; message: string }
  | { kind: "duplicate"; seq: number; message: string }
  | {
      kind: "broken_link";
      seq: number;
      expected_prev_hash: string;
      actual_prev_hash: string;
      message: string;
    }
  | { kind: "foreign"; seq: number; agent_id: string; message: string };

/** Outcome of {@link verifyChain}. */
export interface ChainReport {
  ok: boolean;
  agent_id: string | null;
  count: number;
  first_seq: number | null;
  last_seq: number | null;
  /** Hash of the highest-seq bundle (the chain head), or null for an empty chain. */
  head_hash: string | null;
  problems: ChainProblem[];
}

/** Where a chain segment starts, when it does not start at seq 1. */
export interface ChainAnchor {
  /** The seq before the first expected bundle (0 for a full chain). */
  seq: number;
  /** The hash of the bundle at `seq` (GENESIS_HASH for a full chain). */
  hash: string;
}

/**
 * Checks the links between bundles of one agent, given in the order they were
 * received or stored. Signatures are checked separately with {@link verifyBundle};
 * this reports gaps, reordering, forks (two different bundles with one seq),
 * duplicates, broken prev_hash links and bundles of another agent.
 */
export function verifyChain(
  bundles: readonly EvidenceBundle[],
  anchor: ChainAnchor = { seq: 0, hash: GENESIS_HASH },
): ChainReport {
  const problems: ChainProblem[] = [];
  const agentId = bundles[0]?.agent_id ?? null;

  for (let i = 1; i < bundles.length; i++) {
    const prev = bundles[i - 1] as EvidenceBundle;
    const cur = bundles[i] as EvidenceBundle;
    if (cur.seq < prev.seq) {
      problems.push({
        kind: "reorder",
        seq: cur.seq,
        after_seq: prev.seq,
        message: `reordered: seq ${cur.seq} arrived after seq ${prev.seq}`,
      });
    }
  }

  // Group by seq to find forks and duplicates, keeping one representative per seq.
  const bySeq = new Map<number, { bundle: EvidenceBundle; hash: string }[]>();
  for (const b of bundles) {
    if (agentId !== null && b.agent_id !== agentId) {
      problems.push({
        kind: "foreign",
        seq: b.seq,
        agent_id: b.agent_id,
        message: `seq ${b.seq} belongs to agent ${b.agent_id}, not ${agentId}`,
      });
      continue;
    }
    const list = bySeq.get(b.seq) ?? [];
    list.push({ bundle: b, hash: bundleHash(b) });
    bySeq.set(b.seq, list);
  }
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  const forked = new Set<number>();
  for (const seq of seqs) {
    const list = bySeq.get(seq) ?? [];
    const hashes = [...new Set(list.map((e) => e.hash))];
    if (hashes.length > 1) {
      forked.add(seq);
      problems.push({
        kind: "fork",
        seq,
        hashes,
        message: `fork: ${hashes.length} different bundles claim seq ${seq}`,
      });
    } else if (list.length > 1) {
      problems.push({
        kind: "duplicate",
        seq,
        message: `duplicate: seq ${seq} appears ${list.length} times`,
      });
    }
  }

  let expectedSeq = anchor.seq + 1;
  let prevHash: string | null = anchor.hash;
  for (const seq of seqs) {
    const entry = (bySeq.get(seq) ?? [])[0];
    if (entry === undefined) continue;
    if (seq < expectedSeq) {
      problems.push({
        kind: "duplicate",
        seq,
        message: `seq ${seq} is at or before the anchor seq ${anchor.seq}`,
      });
      continue;
    }
    if (seq > expectedSeq) {
      problems.push({
        kind: "gap",
        missing_from: expectedSeq,
        missing_to: seq - 1,
        message:
          expectedSeq === seq - 1
            ? `gap: seq ${expectedSeq} is missing`
            : `gap: seq ${expectedSeq}..${seq - 1} are missing`,
      });
      prevHash = null; // the link across a gap cannot be checked
    }
    if (prevHash !== null && entry.bundle.prev_hash !== prevHash) {
      problems.push({
        kind: "broken_link",
        seq,
        expected_prev_hash: prevHash,
        actual_prev_hash: entry.bundle.prev_hash,
        message: `broken link: seq ${seq} has prev_hash ${entry.bundle.prev_hash.slice(0, 12)}..., expected ${prevHash.slice(0, 12)}... (hash of seq ${seq - 1})`,
      });
    }
    // After a fork the true predecessor is unknown, so the next link is not judged against either branch.
    prevHash = forked.has(seq) ? null : entry.hash;
    expectedSeq = seq + 1;
  }

  const last = seqs.at(-1);
  return {
    ok: problems.length === 0,
    agent_id: agentId,
    count: bundles.length,
    first_seq: seqs[0] ?? null,
    last_seq: last ?? null,
    head_hash: last === undefined ? null : ((bySeq.get(last) ?? [])[0]?.hash ?? null),
    problems,
  };
}
