/**
 * The agent's half of enrollment and renewal: making the P-256 TLS key pair
 * and signing the proof-of-possession bodies with it (and, at enrollment, with
 * the ed25519 evidence key too). The control plane checks these in
 * `verify-proof.ts`.
 * Shared so the agent (which signs) and the control plane (which checks and
 * issues) use one implementation.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { canonicalBytes } from "../canonical/index.js";
import { type SigningKey, signBytes } from "../crypto/index.js";
import { MspError } from "../errors/index.js";
import { EnrollmentProofBody, RenewalProofBody, TlsPublicKeyPem } from "../protocol/enrollment.js";
import { parseWith } from "../protocol/parse.js";

/** The OpenSSL / node:crypto name of NIST P-256, the only curve the TLS keys may use. */
const P256 = "prime256v1";

/** A TLS key pair as PEM: SPKI public key and unencrypted PKCS#8 private key. */
export interface TlsKeyPair {
  publicKeyPem: string;
  privateKeyPem: string;
}

/** Generates the agent's (or server's) P-256 TLS key pair. */
export function generateTlsKeyPair(): TlsKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: P256 });
  return {
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

function requireP256(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== P256) {
    const kind =
      key.asymmetricKeyType === "ec" ? `EC ${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType;
    throw new MspError("invalid_input", `${what} must be an ECDSA P-256 key, got ${kind}`);
  }
  return key;
}

/**
 * Imports an SPKI PEM public key, refusing anything but P-256. Only the
 * `BEGIN PUBLIC KEY` form is accepted: node would otherwise quietly derive a
 * public key from a private key or certificate handed in by mistake.
 */
export function tlsPublicKeyFromPem(pem: string): KeyObject {
  parseWith(TlsPublicKeyPem, pem, "TLS public key");
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem", type: "spki" });
  } catch (e) {
    throw new MspError("invalid_input", "TLS public key is not a valid SPKI PEM key", { cause: e });
  }
  return requireP256(key, "TLS public key");
}

/** Imports a PKCS#8 (or SEC1) PEM private key, refusing anything but P-256. */
export function tlsPrivateKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (e) {
    throw new MspError("invalid_input", "TLS private key is not a valid PEM private key", { cause: e });
  }
  return requireP256(key, "TLS private key");
}

/** True when both keys are the same P-256 public key (compared as SPKI DER). */
export function sameTlsPublicKey(a: KeyObject, b: KeyObject): boolean {
  // Either side may be a private key; its public half is what is compared.
  const spki = (k: KeyObject) =>
    (k.type === "private" ? createPublicKey(k) : k).export({ format: "der", type: "spki" });
  return spki(a).equals(spki(b));
}

function ecdsaSign(data: Buffer, privateKey: KeyObject): string {
  return sign("sha256", data, { key: privateKey, dsaEncoding: "der" }).toString("base64");
}

/** The two proof-of-possession signatures an `EnrollmentRequest` carries. */
export interface EnrollmentProofs {
  /** ed25519 by the evidence key, base64. */
  evidence_proof: string;
  /** DER ECDSA P-256 SHA-256 by the TLS key, base64. */
  tls_proof: string;
}

/**
 * Signs the canonical enrollment proof body with both keys. Refuses keys that
 * do not match the public keys named in the body, since such a request could
 * only be rejected by the control plane.
 */
export function signEnrollmentProof(
  body: EnrollmentProofBody,
  evidenceSigningKey: SigningKey,
  tlsPrivateKeyPem: string,
): EnrollmentProofs {
  const parsed = parseWith(EnrollmentProofBody, body, "enrollment proof body");
  if (evidenceSigningKey.publicKey.toString("base64") !== parsed.evidence_public_key) {
    throw new MspError("invalid_input", "evidence signing key does not match evidence_public_key");
  }
  const tlsKey = tlsPrivateKeyFromPem(tlsPrivateKeyPem);
  if (!sameTlsPublicKey(tlsPublicKeyFromPem(parsed.tls_public_key), tlsKey)) {
    throw new MspError("invalid_input", "TLS private key does not match tls_public_key");
  }
  const bytes = canonicalBytes(parsed);
  return {
    evidence_proof: signBytes(evidenceSigningKey, bytes).toString("base64"),
    tls_proof: ecdsaSign(bytes, tlsKey),
  };
}

/** Signs the canonical renewal proof body with the new TLS key; returns `tls_proof`. */
export function signRenewalProof(body: RenewalProofBody, tlsPrivateKeyPem: string): string {
  const parsed = parseWith(RenewalProofBody, body, "renewal proof body");
  const tlsKey = tlsPrivateKeyFromPem(tlsPrivateKeyPem);
  if (!sameTlsPublicKey(tlsPublicKeyFromPem(parsed.tls_public_key), tlsKey)) {
    throw new MspError("invalid_input", "TLS private key does not match tls_public_key");
  }
  return ecdsaSign(canonicalBytes(parsed), tlsKey);
}
