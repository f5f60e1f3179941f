import { describe, expect, it } from "vitest";
import { signedChain, unsignedBundle } from "../../../test/support/bundles.js";
import { canonicalBytes } from "../canonical/index.js";
import { generateSigningKey } from "../crypto/index.js";
import { naclVerify } from "../crypto/nacl.js";
import { type EvidenceBundle, GENESIS_HASH } from "../protocol/bundle.js";
import {
  bundleHash,
  bundleSigningBytes,
  formatBundleId,
  signBundle,
  verifyBundle,
  verifyChain,
} from "./index.js";

const key = generateSigningKey();
const pub = key.publicKey.toString("base64");

describe("single bundle verification", () => {
  it("signs over the canonical form without the signature, verifiable by tweetnacl too", () => {
    const b = signBundle(unsignedBundle(1, GENESIS_HASH), key);
    expect(b.signature.key_id).toBe(key.keyId);
    const verdict = verifyBundle(b, pub);
    expect(verdict.ok).toBe(true);
    const { signature, ...rest } = b;
    expect(bundleSigningBytes(b)).toEqual(canonicalBytes(rest));
    expect(naclVerify(key.publicKey, bundleSigningBytes(b), Buffer.from(signature.value, "base64"))).toBe(
      true,
    );
  });

  it("detects one tampered byte anywhere in the signed content", () => {
    const b = signBundle(unsignedBundle(3, GENESIS_HASH), key);
    const tampered = structuredClone(b) as EvidenceBundle;
    const action = tampered.actions_taken[0];
    if (action === undefined) throw new Error("fixture has an action");
    action.exit_code = 1;
    expect(verifyBundle(tampered, pub)).toMatchObject({
      ok: false,
      problem: "signature_invalid",
      seq: 3,
      message: expect.stringMatching(/seq 3 .*signature does not verify/),
    });
  });

  it("names a bundle signed by another key", () => {
    const other = generateSigningKey();
    const b = signBundle(unsignedBundle(2, GENESIS_HASH), other);
    expect(verifyBundle(b, pub)).toMatchObject({ ok: false, problem: "key_mismatch", seq: 2 });
  });

  it("rejects a signature from another key that claims our key id", () => {
    const other = generateSigningKey();
    const b = signBundle(unsignedBundle(2, GENESIS_HASH), other);
    const forged = { ...b, signature: { ...b.signature, key_id: key.keyId } };
    expect(verifyBundle(forged, pub)).toMatchObject({ ok: false, problem: "signature_invalid" });
  });

  it("reports schema problems with the field path instead of throwing", () => {
    const b = signBundle(unsignedBundle(1, GENESIS_HASH), key);
    expect(verifyBundle({ ...b, extra: 1 }, pub)).toMatchObject({
      ok: false,
      problem: "schema",
      message: expect.stringMatching(/unknown field\(s\): extra/),
    });
    expect(verifyBundle({ ...b, seq: "1" }, pub)).toMatchObject({
      ok: false,
      problem: "schema",
      message: expect.stringMatching(/^seq: /),
    });
  });

  it("refuses to sign a bundle that does not match the schema", () => {
    expect(() => signBundle({ ...unsignedBundle(1, GENESIS_HASH), kind: "drift_check" }, key)).toThrow(
      /drift: required for kind drift_check/,
    );
  });

  it("formats seeds-style bundle ids", () => {
    expect(formatBundleId(new Date("2025-11-01T23:59:00Z"), 9)).toBe("EB-20251101-0009");
    expect(formatBundleId(new Date("2025-11-01T00:00:00Z"), 12345)).toBe("EB-20251101-12345");
  });
});

describe("chain verification", () => {
  const chain = signedChain(key, 6);

  it("accepts an intact chain and reports its head", () => {
    const report = verifyChain(chain);
    expect(report).toMatchObject({ ok: true, count: 6, first_seq: 1, last_seq: 6, problems: [] });
    expect(report.head_hash).toBe(bundleHash(chain[5] as EvidenceBundle));
  });

  it("detects a missing seq and names it", () => {
    const withGap = chain.filter((b) => b.seq !== 4);
    const report = verifyChain(withGap);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: "gap",
        missing_from: 4,
        missing_to: 4,
        message: "gap: seq 4 is missing",
      }),
    ]);
  });

  it("detects a range of missing seqs and a missing head of chain", () => {
    const report = verifyChain(chain.slice(3));
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: "gap",
        missing_from: 1,
        missing_to: 3,
        message: "gap: seq 1..3 are missing",
      }),
    ]);
    expect(verifyChain(chain.slice(3), { seq: 3, hash: bundleHash(chain[2] as EvidenceBundle) }).ok).toBe(
      true,
    );
  });

  it("detects reordering with the seq numbers involved", () => {
    const [b1, b2, b3, b4, b5, b6] = chain as [
      EvidenceBundle,
      EvidenceBundle,
      EvidenceBundle,
      EvidenceBundle,
      EvidenceBundle,
      EvidenceBundle,
    ];
    const report = verifyChain([b1, b2, b4, b3, b5, b6]);
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: "reorder",
        seq: 3,
        after_seq: 4,
        message: "reordered: seq 3 arrived after seq 4",
      }),
    ]);
  });

  it("detects a fork: two different bundles with one seq", () => {
    const b3 = chain[2] as EvidenceBundle;
    const alt = signBundle(unsignedBundle(3, b3.prev_hash, { hostname: "srv-other" }), key);
    const report = verifyChain([...chain.slice(0, 3), alt, ...chain.slice(3)]);
    const fork = report.problems.find((p) => p.kind === "fork");
    expect(fork).toMatchObject({ seq: 3, message: "fork: 2 different bundles claim seq 3" });
    // The fork is the only finding: seq 4's link is not judged against either branch.
    expect(report.problems).toHaveLength(1);
  });

  it("detects a rewritten bundle through the next bundle's broken link", () => {
    const rewritten = signBundle(
      unsignedBundle(2, (chain[1] as EvidenceBundle).prev_hash, { hostname: "srv-rewritten" }),
      key,
    );
    const report = verifyChain([chain[0] as EvidenceBundle, rewritten, ...chain.slice(2)]);
    expect(report.problems).toEqual([expect.objectContaining({ kind: "broken_link", seq: 3 })]);
    expect(report.problems[0]?.message).toMatch(/^broken link: seq 3 has prev_hash .* \(hash of seq 2\)$/);
  });

  it("detects duplicates and bundles of another agent", () => {
    const dup = verifyChain([...chain, chain[5] as EvidenceBundle]);
    expect(dup.problems).toEqual([expect.objectContaining({ kind: "duplicate", seq: 6 })]);
    const foreign = signBundle(
      unsignedBundle(7, bundleHash(chain[5] as EvidenceBundle), { agent_id: "srv-other" }),
      key,
    );
    expect(verifyChain([...chain, foreign]).problems).toEqual([
      expect.objectContaining({ kind: "foreign", seq: 7, agent_id: "srv-other" }),
    ]);
  });
});
