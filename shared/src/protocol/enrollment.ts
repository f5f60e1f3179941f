/**
 * Agent enrollment and certificate renewal over HTTPS (`POST /v1/enroll`,
 * `POST /v1/agents/renew`). An operator creates a one-time token for a clinic;
 * the agent presents it with two fresh public keys (its ed25519 evidence key
 * and its P-256 TLS key) and proves it holds both private keys by signing the
 * canonical `EnrollmentProofBody` with each. The control plane's internal CA
 * answers with a short-lived client certificate bound to the clinic and agent
 * (SAN URI `urn:msp:clinic:<clinic>:agent:<agent>`), and pins its own ed25519
 * key in the answer so the agent can verify acks and commands from then on.
 */
import { z } from "zod";
import { AgentId, ClinicId, Hostname, KeyId, PublicKeyB64, SignatureB64, Timestamp } from "./common.js";

/** One-time enrollment token as the operator hands it to the clinic: `msp_enr_` + 43 base64url characters. */
export const EnrollmentToken = z.string().regex(/^msp_enr_[A-Za-z0-9_-]{43}$/, "not an enrollment token");

/** A P-256 public key as SPKI PEM. */
export const TlsPublicKeyPem = z
  .string()
  .max(1024)
  .regex(
    /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/,
    "must be an SPKI PEM public key",
  );

/** DER ECDSA-SHA256 signature, base64. */
const EcdsaSignatureB64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]{80,100}={0,2}$/, "must be a base64 ECDSA signature");

/** What both proof-of-possession signatures cover (RFC 8785 canonical JSON). */
export const EnrollmentProofBody = z.strictObject({
  purpose: z.literal("msp-enroll-v1"),
  token: EnrollmentToken,
  agent_id: AgentId,
  evidence_public_key: PublicKeyB64,
  tls_public_key: TlsPublicKeyPem,
});
export type EnrollmentProofBody = z.infer<typeof EnrollmentProofBody>;

/** Body of `POST /v1/enroll`. */
export const EnrollmentRequest = z.strictObject({
  token: EnrollmentToken,
  agent_id: AgentId,
  hostname: Hostname,
  agent_version: z.string().max(64),
  evidence_public_key: PublicKeyB64,
  tls_public_key: TlsPublicKeyPem,
  /** ed25519 signature by the evidence key over the canonical proof body. */
  evidence_proof: SignatureB64,
  /** ECDSA P-256 SHA-256 signature by the TLS key over the canonical proof body. */
  tls_proof: EcdsaSignatureB64,
});
export type EnrollmentRequest = z.infer<typeof EnrollmentRequest>;

/** A client certificate issued to one agent. */
export const IssuedCertificate = z.strictObject({
  certificate_pem: z.string().max(8192),
  /** The internal CA certificate(s) the agent must trust for the server and present with. */
  ca_pem: z.string().max(16_384),
  serial: z.string().regex(/^[0-9a-f]{2,40}$/),
  not_before: Timestamp,
  not_after: Timestamp,
});
export type IssuedCertificate = z.infer<typeof IssuedCertificate>;

/** Answer to a successful enrollment. */
export const EnrollmentResponse = z.strictObject({
  agent_id: AgentId,
  client_id: ClinicId,
  certificate: IssuedCertificate,
  /** The control plane's ed25519 key, to pin in the agent config. */
  control_plane_public_key: PublicKeyB64,
  control_plane_key_id: KeyId,
  /** Where the agent connects its WebSocket. */
  ws_url: z.string().regex(/^wss:\/\/[^\s]+$/),
});
export type EnrollmentResponse = z.infer<typeof EnrollmentResponse>;

/** What the renewal proof covers: a new TLS key, signed by that key. */
export const RenewalProofBody = z.strictObject({
  purpose: z.literal("msp-renew-v1"),
  agent_id: AgentId,
  tls_public_key: TlsPublicKeyPem,
});
export type RenewalProofBody = z.infer<typeof RenewalProofBody>;

/** Body of `POST /v1/agents/renew`, sent over mTLS with the still-valid current certificate. */
export const RenewalRequest = z.strictObject({
  tls_public_key: TlsPublicKeyPem,
  tls_proof: EcdsaSignatureB64,
});
export type RenewalRequest = z.infer<typeof RenewalRequest>;
