import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isMspError } from "../errors/index.js";
import {
  inclusionProof,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  rootOfLeafHashes,
  verifyInclusion,
} from "./index.js";

// The Certificate Transparency reference tree: eight leaves and the RFC 6962
// roots of its first n leaves, as published with the CT reference implementation.
const LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map((h) => Buffer.from(h, "hex"));
const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
// Audit paths from the same reference: leaf 0 and leaf 5 of 8, leaf 2 of 3.
const PATHS: { index: number; size: number; proof: string[] }[] = [
  {
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
];

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// RFC 6962 MTH written as the RFC states it (recursive split at the largest
// power of two below n), so the bottom-up implementation is checked against the definition.
function referenceRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return createHash("sha256").digest();
  if (leaves.length === 1) return merkleLeafHash(leaves[0] as Buffer);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return merkleNodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

describe("merkle tree (RFC 6962)", () => {
  it("matches the reference roots for every prefix of the CT tree, and sha256('') when empty", () => {
    expect(hex(merkleRoot([]))).toBe(EMPTY_ROOT);
    for (let n = 1; n <= LEAVES.length; n++) expect(hex(merkleRoot(LEAVES.slice(0, n)))).toBe(ROOTS[n - 1]);
  });

  it("prefixes leaves with 0x00 and nodes with 0x01", () => {
    expect(hex(merkleLeafHash(Buffer.alloc(0)))).toBe(ROOTS[0]);
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    const expected = createHash("sha256")
      .update(Buffer.from([1]))
      .update(a)
      .update(b)
      .digest("hex");
    expect(hex(merkleNodeHash(a, b))).toBe(expected);
  });

  it("agrees with the recursive definition for every size up to 70", () => {
    const leaves = Array.from({ length: 70 }, (_, i) => Buffer.from([i, i * 3, 7]));
    for (let n = 0; n <= leaves.length; n++) {
      expect(hex(merkleRoot(leaves.slice(0, n)))).toBe(hex(referenceRoot(leaves.slice(0, n))));
    }
  });

  it("rootOfLeafHashes equals merkleRoot over the unhashed leaves", () => {
    expect(hex(rootOfLeafHashes(LEAVES.map(merkleLeafHash)))).toBe(ROOTS[7]);
  });

  it("produces the reference audit paths, and they verify", () => {
    for (const { index, size, proof } of PATHS) {
      const leaves = LEAVES.slice(0, size);
      expect(inclusionProof(leaves, index).map(hex)).toEqual(proof);
      const root = Buffer.from(ROOTS[size - 1] as string, "hex");
      const claim = { leaf: leaves[index] as Buffer, index, treeSize: size, root };
      expect(verifyInclusion({ ...claim, proof: proof.map((p) => Buffer.from(p, "hex")) })).toBe(true);
    }
  });

  it("gives a single-leaf tree an empty path that verifies", () => {
    const leaf = Buffer.from("only");
    expect(inclusionProof([leaf], 0)).toEqual([]);
    expect(verifyInclusion({ leaf, index: 0, treeSize: 1, proof: [], root: merkleRoot([leaf]) })).toBe(true);
  });

  it("verifies every leaf of every tree size up to 33, and rejects the proof at any other index", () => {
    const leaves = Array.from({ length: 33 }, (_, i) => Buffer.from(`leaf-${i}`));
    for (let n = 1; n <= leaves.length; n++) {
      const tree = leaves.slice(0, n);
      const root = merkleRoot(tree);
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(tree, i);
        expect(verifyInclusion({ leaf: tree[i] as Buffer, index: i, treeSize: n, proof, root })).toBe(true);
        const other = (i + 1) % n;
        if (other !== i) {
          expect(verifyInclusion({ leaf: tree[i] as Buffer, index: other, treeSize: n, proof, root })).toBe(
            false,
          );
        }
      }
    }
  });

  it("rejects a wrong leaf, root, size, truncated or extended proof, and bad lengths without throwing", () => {
    const tree = LEAVES;
    const root = merkleRoot(tree);
    const proof = inclusionProof(tree, 3);
    const good = { leaf: tree[3] as Buffer, index: 3, treeSize: 8, proof, root };
    expect(verifyInclusion(good)).toBe(true);
    expect(verifyInclusion({ ...good, leaf: Buffer.from("x") })).toBe(false);
    expect(verifyInclusion({ ...good, root: merkleRoot(tree.slice(0, 7)) })).toBe(false);
    // The size fixes the path's shape; sizes 5-8 share leaf 3's shape, which the signed size pins down.
    expect(verifyInclusion({ ...good, treeSize: 4 })).toBe(false);
    expect(verifyInclusion({ ...good, treeSize: 9 })).toBe(false);
    expect(verifyInclusion({ ...good, proof: proof.slice(0, 2) })).toBe(false);
    expect(verifyInclusion({ ...good, proof: [...proof, Buffer.alloc(32)] })).toBe(false);
    expect(verifyInclusion({ ...good, proof: [Buffer.alloc(31), ...proof.slice(1)] })).toBe(false);
    expect(verifyInclusion({ ...good, root: Buffer.alloc(31) })).toBe(false);
    expect(verifyInclusion({ ...good, index: -1 })).toBe(false);
    expect(verifyInclusion({ ...good, index: 8 })).toBe(false);
    expect(verifyInclusion({ ...good, index: 1.5 })).toBe(false);
  });

  it("refuses a proof request for an index outside the tree with invalid_input", () => {
    for (const bad of [-1, 8, 2.5, Number.NaN]) {
      try {
        inclusionProof(LEAVES, bad);
        expect.unreachable();
      } catch (e) {
        expect(isMspError(e, "invalid_input")).toBe(true);
      }
    }
    expect(() => inclusionProof([], 0)).toThrow(/outside a tree of 0 leaves/);
  });
});
