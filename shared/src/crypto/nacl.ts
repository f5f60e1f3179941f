/**
 * The independent second ed25519 implementation (tweetnacl, pure JavaScript).
 *
 * It has no Node dependencies so the dashboard can verify bundle signatures in
 * the browser without trusting the server, and the interop tests use it to
 * prove node:crypto and tweetnacl agree byte for byte. It is ~110x slower than
 * node:crypto, so nothing on a hot path uses it.
 */
import nacl from "tweetnacl";

/** Signs bytes with a 32-byte seed; returns the 64-byte detached signature. */
export function naclSign(seed: Uint8Array, data: Uint8Array): Uint8Array {
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return nacl.sign.detached(data, pair.secretKey);
}

/** The 32-byte public key for a seed. */
export function naclPublicKey(seed: Uint8Array): Uint8Array {
  return nacl.sign.keyPair.fromSeed(seed).publicKey;
}

/** Verifies a detached signature; false for any malformed input. */
export function naclVerify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  return nacl.sign.detached.verify(data, signature, publicKey);
}
