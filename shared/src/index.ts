/**
 * @msp/shared: the contract between agent, control plane and auditor.
 * Exports are picked by hand; nothing else in the workspace re-implements them.
 */

export { canonicalBytes, canonicalize, type JsonValue } from "./canonical/index.js";
export { type Clock, FakeClock, systemClock } from "./clock/index.js";
export { applyEnvOverrides, loadConfigFile, parseYamlText, readSecretFile } from "./config/index.js";
export {
  decodePublicKey,
  fingerprintOf,
  generateSigningKey,
  KeyCache,
  keyIdOf,
  loadSigningKey,
  publicKeyObject,
  type SigningKey,
  saveSigningKey,
  seedOf,
  signBytes,
  signingKeyFromSeed,
  verifyBytes,
} from "./crypto/index.js";
export {
  ERROR_CODES,
  type ErrorCode,
  isMspError,
  MspError,
  type MspErrorOptions,
  toMspError,
} from "./errors/index.js";
export {
  type BundleProblem,
  type BundleVerdict,
  bundleHash,
  bundleSigningBytes,
  type ChainAnchor,
  type ChainProblem,
  type ChainReport,
  formatBundleId,
  signBundle,
  verifyBundle,
  verifyChain,
} from "./evidence/index.js";
export { canonicalSha256, sha256Hex } from "./hash/index.js";
export {
  HIPAA_CITATIONS,
  HIPAA_CONTROLS,
  HIPAA_RETENTION_YEARS,
  type HipaaControl,
  hipaaControl,
  type SafeguardFamily,
  type Specification,
} from "./hipaa/index.js";
export * as limits from "./limits/index.js";
export { createLogger, type Logger, type LogLevel, silentLogger } from "./log/index.js";
export {
  CHECKPOINT_FORMAT,
  CheckpointAgent,
  type CheckpointProblem,
  type CheckpointVerdict,
  checkpointRoot,
  checkpointSigningBytes,
  DailyCheckpoint,
  signCheckpoint,
  UnsignedCheckpoint,
  verifyCheckpoint,
} from "./merkle/checkpoint.js";
export {
  type InclusionClaim,
  inclusionProof,
  MERKLE_HASH_BYTES,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  rootOfLeafHashes,
  verifyInclusion,
} from "./merkle/index.js";
export {
  ApprovalDecisionRequest,
  CreateApiKeyRequest,
  CreateClinicRequest,
  CreateEnrollmentTokenRequest,
  CreatePacketRequest,
  EvidenceQuery,
  ExecutionRequest,
  IncidentQuery,
  PageQuery,
  RunbookParamsRequest,
} from "./protocol/api.js";
export { AllowedDrift, Baseline, BaselineCheck, BaselineException } from "./protocol/baseline.js";
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
export { AgentConfig, ControlPlaneConfig } from "./protocol/config.js";
export {
  EnrollmentProofBody,
  EnrollmentRequest,
  EnrollmentResponse,
  EnrollmentToken,
  IssuedCertificate,
  RenewalProofBody,
  RenewalRequest,
  TlsPublicKeyPem,
} from "./protocol/enrollment.js";
export { Incident, IncidentId } from "./protocol/incident.js";
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
export { describeIssues, type FieldIssue, parseWith } from "./protocol/parse.js";
export {
  CatalogEntry,
  PostValidation,
  RollbackAction,
  RunbookCatalog,
  RunbookDefinition,
  RunbookParam,
  RunbookStep,
} from "./protocol/runbook.js";
export { PROTOCOL_VERSION } from "./protocol/version.js";
export { type CatalogFile, readRunbookCatalog } from "./runbook/catalog.js";
export {
  checkDeclaredParams,
  checkParamValue,
  type DeclaredParamsCheck,
  describeParamFinding,
  FORBIDDEN_PARAM_CHARS,
  forbiddenCharProblems,
  MAX_PATH_PARAM_CHARS,
  PATH_PARAM_CHARS,
  type ParamFinding,
  type ParamProblem,
  type ParamRule,
  type ParamRules,
  type ParamValue,
  pathShapeProblems,
} from "./runbook/params.js";
export {
  type EnrollmentProofs,
  generateTlsKeyPair,
  sameTlsPublicKey,
  signEnrollmentProof,
  signRenewalProof,
  type TlsKeyPair,
  tlsPrivateKeyFromPem,
  tlsPublicKeyFromPem,
} from "./tls/index.js";
