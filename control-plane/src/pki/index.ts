/**
 * The control plane's internal certificate authority: ECDSA P-256 X.509
 * certificates built with our own DER encoder (no X.509 library), the
 * proof-of-possession checks for enrollment and renewal, and reading an
 * agent's identity back from its verified client certificate.
 */
export {
  CA_VALIDITY_DAYS,
  type CertificateAuthority,
  type CertificateAuthorityOptions,
  CLOCK_SKEW_MS,
  type ClientCertificateRequest,
  createCertificateAuthority,
  MAX_LEAF_DAYS,
  openCertificateAuthority,
  type ServerCertificate,
  type ServerCertificateRequest,
} from "./authority.js";
export {
  type AgentCertificateIdentity,
  agentSanUri,
  identityFromCertificate,
  type PeerCertificateLike,
} from "./identity.js";
export {
  CA_CERT_FILE,
  CA_KEY_FILE,
  type CertificateAuthorityStoreOptions,
  loadOrCreateCertificateAuthority,
} from "./store.js";
export { enrollmentProofBodyOf, verifyEnrollmentProof, verifyRenewalProof } from "./verify-proof.js";
