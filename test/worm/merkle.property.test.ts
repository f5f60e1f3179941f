/**
 * Property tests of the RFC 6962 tree in shared/src/merkle (the unit tests
 * beside it hold the RFC test vectors): random leaf lists, random indices,
 * random tampering. fast-check lives in the test workspace, hence this file.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  inclusionProof,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  verifyInclusion,
} from "../../shared/src/merkle/index.js";

// MTH exactly as RFC 6962 section 2.1 defines it, recursion and all.
function definitionRoot(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) return createHash("sha256").digest();
  if (leaves.length === 1) return merkleLeafHash(leaves[0] as Uint8Array);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return merkleNodeHash(definitionRoot(leaves.slice(0, k)), definitionRoot(leaves.slice(k)));
}

const leaf = fc.uint8Array({ minLength: 0, maxLength: 40 });
const leaves = fc.array(leaf, { minLength: 0, maxLength: 150 });
// Distinct leaves, so "the proof of leaf i does not prove leaf j" is a real claim.
const distinctTree = fc
  .uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 16 }), {
    minLength: 1,
    maxLength: 130,
    selector: (b) => Buffer.from(b).toString("hex"),
  })
  .chain((tree) => fc.record({ tree: fc.constant(tree), index: fc.nat({ max: tree.length - 1 }) }));

describe("merkle properties (fast-check)", () => {
  it("the bottom-up root equals the RFC's recursive definition", () => {
    fc.assert(
      fc.property(leaves, (ls) => {
        expect(merkleRoot(ls).equals(definitionRoot(ls))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("every audit path verifies and is no longer than ceil(log2 n)", () => {
    fc.assert(
      fc.property(distinctTree, ({ tree, index }) => {
        const root = merkleRoot(tree);
        const proof = inclusionProof(tree, index);
        expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(tree.length)));
        const leafBytes = tree[index] as Uint8Array;
        expect(verifyInclusion({ leaf: leafBytes, index, treeSize: tree.length, proof, root })).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("a proof proves nothing else: another leaf, another index, a flipped bit, a changed root", () => {
    fc.assert(
      fc.property(distinctTree, fc.nat(), fc.nat(), ({ tree, index }, other, bit) => {
        const n = tree.length;
        const root = merkleRoot(tree);
        const proof = inclusionProof(tree, index);
        const claim = { leaf: tree[index] as Uint8Array, index, treeSize: n, proof, root };
        if (n > 1) {
          const j = (index + 1 + (other % (n - 1))) % n;
          expect(verifyInclusion({ ...claim, leaf: tree[j] as Uint8Array })).toBe(false);
          expect(verifyInclusion({ ...claim, index: j })).toBe(false);
        }
        if (proof.length > 0) {
          const at = bit % proof.length;
          const flipped = proof.map((p, i) => {
            if (i !== at) return p;
            const copy = Buffer.from(p);
            copy[bit % 32] = (copy[bit % 32] as number) ^ (1 << (bit % 8));
            return copy;
          });
          expect(verifyInclusion({ ...claim, proof: flipped })).toBe(false);
        }
        expect(verifyInclusion({ ...claim, root: merkleRoot([...tree, Buffer.from("extra")]) })).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it("changing, dropping, adding or swapping leaves changes the root", () => {
    fc.assert(
      fc.property(distinctTree, ({ tree, index }) => {
        const root = merkleRoot(tree);
        const changed = tree.map((l, i) => (i === index ? Buffer.concat([l, Buffer.from([0])]) : l));
        expect(merkleRoot(changed).equals(root)).toBe(false);
        expect(merkleRoot(tree.filter((_, i) => i !== index)).equals(root)).toBe(false);
        expect(merkleRoot([...tree, tree[index] as Uint8Array]).equals(root)).toBe(false);
        if (tree.length > 1) {
          const swapped: Uint8Array[] = [...tree];
          const j = (index + 1) % tree.length;
          [swapped[index], swapped[j]] = [swapped[j] as Uint8Array, swapped[index] as Uint8Array];
          expect(merkleRoot(swapped).equals(root)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
