/**
 * The runbook executor capability: load the pinned library, validate
 * parameters, run steps with timeouts, retries and rollback, journal every
 * run, and produce one evidence draft per execution. Exports are picked by
 * hand; the environment contract scripts are written against is documented in
 * `./environment.ts`.
 */

export { SCRIPT_PATH } from "./environment.js";
export {
  createExecutor,
  type Executor,
  type ExecutorConfig,
  type ExecutorOptions,
  type RunRequest,
} from "./executor.js";
export {
  type CriterionResult,
  type Expr,
  ExpressionSyntaxError,
  evaluateExpression,
  parseExpression,
} from "./expression.js";
export type { ApprovalRecord, IncidentRef, RunTrigger } from "./journal.js";
export {
  type LoadedRunbook,
  loadRunbookLibrary,
  type RefusedRunbook,
  type RunbookInfo,
  type RunbookLibrary,
} from "./library.js";
export { type ParamCheck, type ParamValue, validateParams } from "./params.js";
export type { ProcessResult, ProcessRunner, ProcessSpec } from "./process.js";
