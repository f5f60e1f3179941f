/**
 * @msp/agent: what tests, benchmarks and embedders use. Exports are picked by
 * hand; the CLI (`cli/main.ts`) is the product entry point and is not
 * exported.
 */

export { createLogger, type Logger, type LogLevel } from "@msp/shared";
export {
  type AutonomyDecision,
  type AutonomyExecutor,
  createOfflineAutonomy,
  derivedParams,
  type OfflineAutonomy,
  type OfflineAutonomyOptions,
} from "./autonomy/index.js";
export {
  type CommandExecutor,
  type CommandHandler,
  type CommandHandlerOptions,
  type CommandOutcome,
  createCommandHandler,
} from "./command/index.js";
export {
  createDaemon,
  type Daemon,
  type DaemonOptions,
  type DaemonStats,
  type DaemonTransportTuning,
} from "./daemon/index.js";
export {
  certificateWindow,
  type EnrollOptions,
  type EnrollResult,
  enroll,
  enrollmentPaths,
  generateTlsKey,
  needsRenewal,
  type RenewOptions,
  renew,
  renewalUrl,
  type TlsKey,
} from "./enroll/index.js";
export type { BundleDraft, EvidenceSink } from "./evidence/index.js";
export { createOutbox, type Outbox, type OutboxOptions } from "./outbox/index.js";
export { type AgentParts, agentParts, loadAgentConfig } from "./runtime/agent.js";
export {
  type AgentState,
  type CommandLedger,
  type CooldownStore,
  openAgentState,
  type SeenCommand,
} from "./state/index.js";
export { createTransport, type Transport, type TransportOptions } from "./transport/index.js";
export { AGENT_VERSION } from "./version.js";
