/**
 * Parameter checks on the control plane. Parameters reach a root shell
 * script's environment on the agent, and some of them may come from a model or
 * from incident details written by whoever controls a clinic server, so every
 * value is checked here against the runbook's declaration before a plan is
 * made: undeclared names, wrong types, out-of-range numbers, strings outside
 * their anchored pattern, enum values not listed and malformed paths are all
 * refused.
 *
 * The declaration rules are the shared ones (@msp/shared checkDeclaredParams),
 * as on the agent and in the guardrails. What differs here: text forms such as
 * `"30"` for an integer are refused, defaults are left for the agent to
 * apply, and only a path's shape is checked, since the agent alone can tell
 * whether a path lies inside a configured root. The forbidden character set
 * is the agent's, so the planner never proposes a value the agent would
 * refuse for its characters.
 */
import {
  checkDeclaredParams,
  checkParamValue,
  forbiddenCharProblems,
  type ParamFinding,
  type ParamProblem,
  type ParamRules,
  type ParamValue,
  type ParamValues,
  pathShapeProblems,
  type RunbookDefinition,
  type RunbookParam,
} from "@msp/shared";

export type { ParamValue };

/** Outcome of {@link checkParams}: the values to send, or every problem found. */
export type ParamCheck = { ok: true; values: ParamValues } | { ok: false; problems: string[] };

/**
 * The shared declaration rules as the planner applies them: no text forms,
 * the agent's forbidden characters, and a path's shape only.
 */
const RULES: ParamRules<"forbidden_character" | "bad_path"> = {
  acceptText: false,
  defaults: "given",
  screenString: forbiddenCharProblems,
  checkPath: (raw) => {
    const shape = pathShapeProblems(raw);
    return shape.length === 0 ? { value: raw } : shape.map(inPlannerWords);
  },
};

/** The planner has always said "not allowed in a path" (the agent: "in a path parameter"). */
function inPlannerWords<C extends string>(p: ParamProblem<C>): ParamProblem<C> {
  return p.reason.startsWith("contains a character not allowed")
    ? { ...p, reason: "contains a character not allowed in a path" }
    : p;
}

/**
 * Checks one value against its declaration. Returns the value to use, or a
 * problem in words. Strings are never coerced into numbers or booleans here:
 * a model or a detail that says `"30"` for an integer is wrong, not close.
 */
export function checkParam(decl: RunbookParam, raw: unknown): { value: ParamValue } | string {
  const checked = checkParamValue(decl, raw, RULES);
  if (!Array.isArray(checked)) return checked as { value: ParamValue };
  const first = (checked as readonly ParamProblem<string>[])[0];
  return first === undefined ? "is not valid" : reasonOf(decl, first);
}

/** The planner's own wording, kept: its pattern mismatch has never quoted the value. */
function reasonOf(decl: RunbookParam | undefined, p: ParamProblem<string>): string {
  return p.code === "pattern_mismatch" && decl?.type === "string"
    ? `does not match ${decl.pattern}`
    : p.reason;
}

/**
 * Checks a whole parameter set supplied by a planner (model output): every
 * name must be declared and every value must pass. Defaults are not filled
 * in; the agent applies them, so the command carries only what was chosen.
 */
export function checkParams(definition: Pick<RunbookDefinition, "params">, given: unknown): ParamCheck {
  const checked = checkDeclaredParams(definition.params, given, RULES);
  if (checked.ok) return { ok: true, values: checked.values };
  return { ok: false, problems: checked.findings.map((f) => problemText(definition, f)) };
}

function problemText(definition: Pick<RunbookDefinition, "params">, f: ParamFinding<string>): string {
  if (f.param === null) return f.reason;
  if (f.code === "unknown_param")
    return `${JSON.stringify(f.param.slice(0, 40))} is not a declared parameter`;
  const decl = Object.hasOwn(definition.params, f.param) ? definition.params[f.param] : undefined;
  return `${f.param}: ${reasonOf(decl, f)}`;
}

/** Required parameters that have neither a value in `values` nor a declared default. */
export function missingRequired(
  definition: Pick<RunbookDefinition, "params">,
  values: Readonly<Record<string, unknown>>,
): string[] {
  return Object.entries(definition.params)
    .filter(([name, decl]) => decl.required && decl.default === undefined && !Object.hasOwn(values, name))
    .map(([name]) => name);
}
