/**
 * The planner: incident -> runbook id (by a model or by rules) -> plan ->
 * approval when needed -> signed command. The model can only name a runbook
 * that the incident's event type triggers; everything it says is checked, and
 * every decision is logged (see decision.ts).
 */
import type { Migration } from "../db/index.js";
import { PLANNING_LOG_MIGRATION } from "./log.js";
import { PLANS_MIGRATION } from "./plans.js";

export {
  buildSignedCommand,
  type ExecuteRunbook,
  MAX_COMMAND_TTL_SECONDS,
  type SignedCommandOptions,
} from "./command.js";
export {
  createPlanner,
  DEFAULT_APPROVAL_THRESHOLD,
  type LlmCircuit,
  type PendingDecision,
  type PlanDecision,
  type Planner,
  type PlannerOptions,
} from "./decision.js";
export {
  createLlmClient,
  type LlmAnswer,
  type LlmClient,
  type LlmOptions,
  type LlmOutcome,
  RAW_EXCERPT_CHARS,
} from "./llm.js";
export {
  createPlanningLog,
  MAX_LOG_QUERY_LIMIT,
  type PlanningLog,
  type PlanningLogEntry,
  type PlanningLogQuery,
} from "./log.js";
export { checkParam, checkParams, missingRequired, type ParamCheck } from "./params.js";
export { createPlanStore, type Plan, type PlanStatus, type PlanStore } from "./plans.js";
export { buildAnswerSchema, buildMessages, buildResponseFormat, PROMPT_VERSION } from "./prompt.js";
export { applicableRunbooks, planByRules, RULE_CONFIDENCE, type RulePlan, type SiteParams } from "./rules.js";

/** The planner's tables (planning log, then plans, which reference it), for `migrate`. */
export const PLANNER_MIGRATIONS: readonly Migration[] = [PLANNING_LOG_MIGRATION, PLANS_MIGRATION];
