/**
 * The CPU-heavy half of ingest, runnable on the main thread or in a worker:
 * parse a bundle (or a whole bundle frame's text) with the shared schema,
 * check it belongs to the connected agent, check the signature, and produce
 * the canonical form and its sha256 that the store keeps.
 *
 * The shared functions are passed in rather than imported because a worker
 * started from TypeScript source must load `@msp/shared` from source too (the
 * package's dist may be stale or absent in a fresh checkout), while the built
 * control plane loads the package; see `pool.ts`.
 *
 * It composes the shared primitives instead of calling `verifyBundle` so the
 * one canonicalisation done here serves the signature check, the hash, the
 * stored body and the WORM copy: canonicalisation is the second-largest cost
 * after the signature (about a fifth of a verify worker's time when it was
 * done twice).
 */
import type * as Shared from "@msp/shared";

/** The shared functions a verifier needs. */
export type VerifierDeps = Pick<
  typeof Shared,
  | "EvidenceBundle"
  | "KeyCache"
  | "canonicalize"
  | "decodePublicKey"
  | "describeIssues"
  | "keyIdOf"
  | "sha256Hex"
  | "verifyBytes"
>;

/** One bundle to check: either a parsed-JSON value or the raw text of a `{"type":"bundle",...}` frame. */
export interface VerifyJob {
  agent_id: string;
  client_id: string;
  /** The agent's enrolled evidence public key (base64). */
  key: string;
  bundle?: unknown;
  frameText?: string;
}

/** The drift results of a drift_check bundle, reduced to what the store indexes. */
export interface DriftSummary {
  check_id: string;
  status: string;
}

/** A bundle that passed every check, with what the store needs to keep it. */
export interface VerifiedBundle {
  ok: true;
  seq: number;
  bundle_id: string;
  kind: string;
  created_at: string;
  prev_hash: string;
  key_id: string;
  hash: string;
  /** The RFC 8785 canonical form of the signed bundle (what `hash` covers). */
  canonical: string;
  drift: DriftSummary[] | null;
}

/** Why a bundle was refused before the chain was consulted. */
export interface RefusedBundle {
  ok: false;
  code: "invalid_input" | "forbidden" | "signature_invalid";
  message: string;
  seq: number | null;
  /** Set when the bundle names another agent or clinic: what it claimed. */
  foreign?: { agent_id: string; client_id: string };
}

/** Outcome of one {@link VerifyJob}. */
export type VerifyResult = VerifiedBundle | RefusedBundle;

/**
 * The signed bytes (the canonical bundle without `signature`, as shared's
 * `bundleSigningBytes`) and the canonical form of the whole bundle (as
 * `canonicalBytes`), from ONE canonicalisation: each top-level member is
 * serialised once and both forms are joined from the same parts. JCS sorts
 * members by name, and a sorted list stays sorted with one member left out,
 * so the results are byte-identical to the shared functions (verify.test.ts
 * checks it); a mismatch could only fail verification, never pass a bad one.
 */
export function signingAndCanonical(
  canonicalize: (value: unknown) => string,
  bundle: object,
): { signing: Buffer; canonical: string } {
  const record = bundle as Record<string, unknown>;
  const keys = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort();
  const all: string[] = [];
  const unsigned: string[] = [];
  for (const k of keys) {
    const member = `${JSON.stringify(k)}:${canonicalize(record[k])}`;
    all.push(member);
    if (k !== "signature") unsigned.push(member);
  }
  return { signing: Buffer.from(`{${unsigned.join(",")}}`, "utf8"), canonical: `{${all.join(",")}}` };
}

/** Builds the verify function; it keeps its own KeyObject cache, so create one per thread. */
export function createVerifier(deps: VerifierDeps): (job: VerifyJob) => VerifyResult {
  const keys = new deps.KeyCache(10_000);
  const keyIds = new Map<string, string>();
  const keyIdFor = (key: string): string => {
    let id = keyIds.get(key);
    if (id === undefined) {
      id = deps.keyIdOf(deps.decodePublicKey(key));
      if (keyIds.size >= 10_000) keyIds.clear();
      keyIds.set(key, id);
    }
    return id;
  };

  return (job) => {
    let input: unknown = job.bundle;
    if (job.frameText !== undefined) {
      let frame: unknown;
      try {
        frame = JSON.parse(job.frameText);
      } catch {
        return { ok: false, code: "invalid_input", message: "malformed frame: not JSON", seq: null };
      }
      const keys = typeof frame === "object" && frame !== null ? Object.keys(frame) : [];
      const f = frame as { type?: unknown; bundle?: unknown };
      // The envelope check BundleFrame (a strict object) would make; the bundle itself is parsed below.
      if (keys.length !== 2 || f.type !== "bundle" || !("bundle" in f)) {
        return {
          ok: false,
          code: "invalid_input",
          message: "malformed frame: not a bundle frame",
          seq: null,
        };
      }
      input = f.bundle;
    }
    const parsed = deps.EvidenceBundle.safeParse(input);
    if (!parsed.success) {
      const first = deps.describeIssues(parsed.error)[0];
      const seq = (input as { seq?: unknown } | null)?.seq;
      return {
        ok: false,
        code: "invalid_input",
        message: `malformed bundle: ${first?.path}: ${first?.message}`.slice(0, 2000),
        seq: typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0 ? seq : null,
      };
    }
    const b = parsed.data;
    if (b.agent_id !== job.agent_id || b.client_id !== job.client_id) {
      return {
        ok: false,
        code: "forbidden",
        message: `bundle seq ${b.seq} names agent ${b.agent_id} of ${b.client_id}, not the connected agent`,
        seq: b.seq,
        foreign: { agent_id: b.agent_id, client_id: b.client_id },
      };
    }
    const expected = keyIdFor(job.key);
    if (b.signature.key_id !== expected) {
      return {
        ok: false,
        code: "signature_invalid",
        message: `bundle seq ${b.seq} is signed by key ${b.signature.key_id}, expected ${expected}`,
        seq: b.seq,
      };
    }
    const sig = Buffer.from(b.signature.value, "base64");
    const { signing, canonical } = signingAndCanonical(deps.canonicalize, b);
    if (!deps.verifyBytes(job.key, signing, sig, keys)) {
      return {
        ok: false,
        code: "signature_invalid",
        message: `bundle seq ${b.seq} (${b.bundle_id}): signature does not verify`,
        seq: b.seq,
      };
    }
    return {
      ok: true,
      seq: b.seq,
      bundle_id: b.bundle_id,
      kind: b.kind,
      created_at: b.created_at,
      prev_hash: b.prev_hash,
      key_id: b.signature.key_id,
      hash: deps.sha256Hex(canonical),
      canonical,
      drift:
        b.kind === "drift_check" && b.drift !== null
          ? b.drift.results.map((r) => ({ check_id: r.check_id, status: r.status }))
          : null,
    };
  };
}
