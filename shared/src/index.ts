/**
 * @msp/shared: the contract between agent, control plane and auditor.
 * Exports are picked by hand; nothing else in the workspace re-implements them.
 */
export { type Clock, FakeClock, systemClock } from "./clock/index.js";
export { ERROR_CODES, type ErrorCode, MspError, type MspErrorOptions, isMspError, toMspError } from "./errors/index.js";
export { type JsonValue, canonicalBytes, canonicalize } from "./canonical/index.js";
export { canonicalSha256, sha256Hex } from "./hash/index.js";
export {
  KeyCache,
  type SigningKey,
  decodePublicKey,
  fingerprintOf,
  generateSigningKey,
  keyIdOf,
  loadSigningKey,
  publicKeyObject,
  saveSigningKey,
  seedOf,
  signBytes,
  signingKeyFromSeed,
  verifyBytes,
} from "./crypto/index.js";
export {
  HIPAA_CITATIONS,
  HIPAA_CONTROLS,
  HIPAA_RETENTION_YEARS,
  type HipaaControl,
  type SafeguardFamily,
  type Specification,
  hipaaControl,
} from "./hipaa/index.js";
export * as limits from "./limits/index.js";
export { PROTOCOL_VERSION } from "./protocol/version.js";
export { type FieldIssue, describeIssues, parseWith } from "./protocol/parse.js";
export {
  AgentId,
  Citation,
  ClinicId,
  EventType,
  Hostname,
  KeyId,
  PublicKeyB64,
  RunbookId,
  Severity,
  Sha256,
  Signature,
  SignatureB64,
  Timestamp,
} from "./protocol/common.js";
export { Incident, IncidentId } from "./protocol/incident.js";
export {
  CatalogEntry,
  PostValidation,
  RollbackAction,
  RunbookCatalog,
  RunbookDefinition,
  RunbookParam,
  RunbookStep,
} from "./protocol/runbook.js";
export {
  ActionTaken,
  BundleId,
  BundleKind,
  DriftResult,
  DriftSection,
  EvidenceBundle,
  ExecutionSummary,
  GENESIS_HASH,
  OutputCapture,
  StepResult,
  UnsignedBundle,
} from "./protocol/bundle.js";
export {
  AckFrame,
  AgentFrame,
  BundleFrame,
  CommandStatusFrame,
  ControlPlaneFrame,
  ErrorFrame,
  ExecuteRunbookFrame,
  HelloFrame,
  IncidentFrame,
  ParamValues,
  Receipt,
  RunbookCommand,
  WelcomeFrame,
} from "./protocol/messages.js";
export { AgentConfig, ControlPlaneConfig } from "./protocol/config.js";
export { applyEnvOverrides, loadConfigFile, parseYamlText, readSecretFile } from "./config/index.js";
export {
  type BundleProblem,
  type BundleVerdict,
  type ChainAnchor,
  type ChainProblem,
  type ChainReport,
  bundleHash,
  bundleSigningBytes,
  formatBundleId,
  signBundle,
  verifyBundle,
  verifyChain,
} from "./evidence/index.js";
