/**
 * The control plane's check that an enrolling or renewing agent holds the
 * private keys it asks us to certify. Without it, anyone holding a leaked
 * enrollment token (or a stolen client certificate) could get a certificate
 * bound to a key they observed but do not own, or to someone else's evidence
 * key. Both proofs sign the RFC 8785 canonical form of the proof body, which
 * is rebuilt here from the request rather than taken from the wire.
 */
import { type KeyObject, verify } from "node:crypto";
import {
  AgentId,
  canonicalBytes,
  type EnrollmentProofBody,
  EnrollmentRequest,
  MspError,
  parseWith,
  type RenewalProofBody,
  RenewalRequest,
  tlsPublicKeyFromPem,
  verifyBytes,
} from "@msp/shared";

function ecdsaVerifies(key: KeyObject, data: Buffer, signatureB64: string): boolean {
  try {
    return verify("sha256", data, { key, dsaEncoding: "der" }, Buffer.from(signatureB64, "base64"));
  } catch {
    // A signature that is not valid DER is a failed proof, not a server error.
    return false;
  }
}

/** The body both enrollment proofs cover, rebuilt from the request's own fields. */
export function enrollmentProofBodyOf(request: EnrollmentRequest): EnrollmentProofBody {
  return {
    purpose: "msp-enroll-v1",
    token: request.token,
    agent_id: request.agent_id,
    evidence_public_key: request.evidence_public_key,
    tls_public_key: request.tls_public_key,
  };
}

/**
 * Checks both proofs of an enrollment request. Throws `invalid_input` for a
 * malformed request or a TLS key that is not P-256, and `signature_invalid`
 * unless the ed25519 evidence proof and the ECDSA TLS proof both verify.
 * Returns the parsed request.
 */
export function verifyEnrollmentProof(request: EnrollmentRequest): EnrollmentRequest {
  const parsed = parseWith(EnrollmentRequest, request, "enrollment request");
  const tlsKey = tlsPublicKeyFromPem(parsed.tls_public_key);
  const bytes = canonicalBytes(enrollmentProofBodyOf(parsed));
  const failed: string[] = [];
  if (!verifyBytes(parsed.evidence_public_key, bytes, Buffer.from(parsed.evidence_proof, "base64"))) {
    failed.push("evidence_proof");
  }
  if (!ecdsaVerifies(tlsKey, bytes, parsed.tls_proof)) failed.push("tls_proof");
  if (failed.length > 0) {
    throw new MspError("signature_invalid", `enrollment proof does not verify: ${failed.join(", ")}`, {
      details: { failed },
    });
  }
  return parsed;
}

/**
 * Checks a renewal request's proof for `agentId`, which the caller takes from
 * the still-valid client certificate the request arrived with (never from the
 * body). Throws `invalid_input` for malformed input and `signature_invalid`
 * when the new key's signature does not verify. Returns the parsed request.
 */
export function verifyRenewalProof(agentId: string, request: RenewalRequest): RenewalRequest {
  const agent = parseWith(AgentId, agentId, "agent id");
  const parsed = parseWith(RenewalRequest, request, "renewal request");
  const tlsKey = tlsPublicKeyFromPem(parsed.tls_public_key);
  const body: RenewalProofBody = {
    purpose: "msp-renew-v1",
    agent_id: agent,
    tls_public_key: parsed.tls_public_key,
  };
  if (!ecdsaVerifies(tlsKey, canonicalBytes(body), parsed.tls_proof)) {
    throw new MspError("signature_invalid", "renewal proof does not verify: tls_proof", {
      details: { failed: ["tls_proof"] },
    });
  }
  return parsed;
}
