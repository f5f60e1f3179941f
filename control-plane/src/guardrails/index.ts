/**
 * Guardrails: what stands between an incident and a signed command. In the
 * pipeline's order: the validator (incident as received, then the planner's
 * proposed parameters), the rate limiter (cooldown, clinic and global
 * budgets), and circuit breakers (per runbook, and for the LLM). Each is its
 * own factory taking only what it needs; rate limits and breakers persist in
 * SQLite through {@link GUARDRAIL_MIGRATIONS}.
 */

export {
  BREAKER_NAMES,
  type BreakerDecision,
  type BreakerOptions,
  type BreakerRefusal,
  type BreakerSnapshot,
  type BreakerStateName,
  type Breakers,
  type BreakersOptions,
  type CircuitBreaker,
  circuitOpenError,
  createBreakers,
} from "./breaker.js";
export {
  type BreakerRecord,
  type BreakerStore,
  memoryBreakerStore,
  sqliteBreakerStore,
} from "./breaker-store.js";
export { GUARDRAIL_MIGRATIONS } from "./migrations.js";
export { type ContentProblem, DANGEROUS_PATTERNS, type DangerousPattern, scanString } from "./patterns.js";
export {
  createRateLimiter,
  type LimitHit,
  type RateAction,
  type RateDecision,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitName,
  type RateLimits,
  type RateRefusal,
  type RateState,
  rateLimitedError,
  type WindowState,
} from "./rate-limit.js";
export {
  createValidator,
  type Finding,
  type FindingCode,
  type Validated,
  type Validator,
  type ValidatorOptions,
} from "./validator.js";
