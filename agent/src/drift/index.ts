/**
 * Drift checks: the agent compares its host with a versioned HIPAA baseline on
 * a schedule, seals one signed evidence bundle per cycle and raises incidents
 * for failing checks. The factory and its injected boundaries (Exec,
 * SystemInfo, Clock, EvidenceSink) are all a caller needs.
 */
export type { CheckContext, CheckOf, CheckOutcome } from "./context.js";
export {
  type CreateExecOptions,
  createExec,
  type Exec,
  type ExecMissing,
  type ExecOptions,
  type ExecResult,
  isMissing,
} from "./exec.js";
export { loadBaseline } from "./load-baseline.js";
export { createDriftRunner, type DriftCycle, type DriftRunner, type DriftRunnerOptions } from "./runner.js";
export { createSystemInfo, type FsUsage, type SystemInfo } from "./sysinfo.js";
