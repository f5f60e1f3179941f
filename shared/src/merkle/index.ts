/**
 * RFC 6962 Merkle trees (section 2.1, restated in RFC 9162 section 2.1): the
 * structure behind the daily per-clinic checkpoint, which lets an auditor prove
 * that a day's evidence is complete, not only that each bundle is unaltered.
 *
 * Leaves are hashed as sha256(0x00 || leaf) and interior nodes as
 * sha256(0x01 || left || right). The two prefixes keep a leaf from ever being
 * passed off as an interior node (a second-preimage attack on plain trees), and
 * an unpaired node is promoted rather than duplicated, so no two different leaf
 * lists share a root (the duplication flaw of Bitcoin's tree, CVE-2012-2459).
 *
 * RFC 6962 defines the tree recursively, splitting n leaves at the largest power
 * of two below n. Building it bottom-up, pairing neighbours and carrying an odd
 * last node up unchanged, yields exactly the same tree; that form runs without
 * recursion, so 100,000 leaves cost one pass per level and no deep stack.
 */
import { hash } from "node:crypto";
import { MspError } from "../errors/index.js";

/** Bytes in every hash of the tree (sha256). */
export const MERKLE_HASH_BYTES = 32;

// One-shot crypto.hash over a prefixed copy is about twice as fast as a
// createHash object per node, which is most of a 100,000-leaf checkpoint.
const sha256 = (data: Uint8Array): Buffer => hash("sha256", data, "buffer");
const nodeScratch = Buffer.alloc(1 + 2 * MERKLE_HASH_BYTES);

/** The hash of one leaf: sha256(0x00 || leaf). */
export function merkleLeafHash(leaf: Uint8Array): Buffer {
  const input = Buffer.allocUnsafe(1 + leaf.length);
  input[0] = 0x00;
  input.set(leaf, 1);
  return sha256(input);
}

/** The hash of an interior node: sha256(0x01 || left || right). */
export function merkleNodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length === MERKLE_HASH_BYTES && right.length === MERKLE_HASH_BYTES) {
    nodeScratch[0] = 0x01;
    nodeScratch.set(left, 1);
    nodeScratch.set(right, 1 + MERKLE_HASH_BYTES);
    return sha256(nodeScratch);
  }
  const input = Buffer.allocUnsafe(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/**
 * The Merkle Tree Hash (RFC 6962 MTH) of a list of leaves. The empty list has
 * the root sha256(""), as the RFC defines, so an empty day still has a root.
 */
export function merkleRoot(leaves: readonly Uint8Array[]): Buffer {
  return rootOfLeafHashes(leaves.map(merkleLeafHash));
}

/** The root over already-hashed leaves (each from {@link merkleLeafHash}). */
export function rootOfLeafHashes(leafHashes: readonly Uint8Array[]): Buffer {
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  let level: Uint8Array[] = [...leafHashes];
  while (level.length > 1) level = nextLevel(level);
  return Buffer.from(level[0] as Uint8Array);
}

function nextLevel(level: readonly Uint8Array[]): Uint8Array[] {
  const up: Uint8Array[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) {
    up.push(merkleNodeHash(level[i] as Uint8Array, level[i + 1] as Uint8Array));
  }
  // An odd last node moves up unchanged: RFC 6962's split puts it in the right subtree alone.
  if (level.length % 2 === 1) up.push(level[level.length - 1] as Uint8Array);
  return up;
}

/**
 * The audit path of leaf `index` (RFC 6962 section 2.1.1 PATH(m, D[n])):
 * the sibling hashes from the leaf up to the root. Throws `invalid_input` for an
 * index outside the tree.
 */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Buffer[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new MspError("invalid_input", `leaf index ${index} is outside a tree of ${leaves.length} leaves`, {
      details: { index, treeSize: leaves.length },
    });
  }
  const proof: Buffer[] = [];
  let level: Uint8Array[] = leaves.map(merkleLeafHash);
  let i = index;
  while (level.length > 1) {
    const sibling = i % 2 === 1 ? i - 1 : i + 1;
    // The last node of an odd level has no sibling: it is promoted and the path skips the level.
    if (sibling < level.length) proof.push(Buffer.from(level[sibling] as Uint8Array));
    level = nextLevel(level);
    i = Math.floor(i / 2);
  }
  return proof;
}

/** What {@link verifyInclusion} checks: that `leaf` sits at `index` of the tree of `treeSize` with `root`. */
export interface InclusionClaim {
  leaf: Uint8Array;
  index: number;
  treeSize: number;
  proof: readonly Uint8Array[];
  root: Uint8Array;
}

/**
 * Verifies an audit path with the algorithm of RFC 9162 section 2.1.3.2,
 * which needs only the proof, never the other leaves. Returns false (never
 * throws) for a wrong proof, a wrong root, an index outside the tree, or hashes
 * of the wrong length, because an auditor's tool reports rather than crashes.
 */
export function verifyInclusion(claim: InclusionClaim): boolean {
  const { index, treeSize, proof, root } = claim;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize)) return false;
  if (index < 0 || index >= treeSize) return false;
  if (root.length !== MERKLE_HASH_BYTES) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r: Buffer = merkleLeafHash(claim.leaf);
  for (const p of proof) {
    if (p.length !== MERKLE_HASH_BYTES || sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = merkleNodeHash(p, r);
      // Levels where this node had no right sibling contribute no proof element.
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}
