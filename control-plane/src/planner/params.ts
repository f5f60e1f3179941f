/**
 * Parameter checks on the control plane. Parameters reach a root shell
 * script's environment on the agent, and some of them may come from a model or
 * from incident details written by whoever controls a clinic server, so every
 * value is checked here against the runbook's declaration before a plan is
 * made: undeclared names, wrong types, out-of-range numbers, strings outside
 * their anchored pattern, enum values not listed and malformed paths are all
 * refused.
 *
 * The agent checks again with its own validator, and it alone can tell
 * whether a path lies inside a configured root; this side checks a path's
 * shape (absolute, no `..`, a conservative character set). The forbidden
 * character set is the agent's, so the planner never proposes a value the
 * agent would refuse for its characters.
 */
import type { ParamValues, RunbookDefinition, RunbookParam } from "@msp/shared";

/** A single checked value. */
export type ParamValue = string | number | boolean;

/** Outcome of {@link checkParams}: the values to send, or every problem found. */
export type ParamCheck = { ok: true; values: ParamValues } | { ok: false; problems: string[] };

/** Characters refused in every string or path parameter, whatever the runbook's pattern allows (as on the agent). */
const FORBIDDEN = /[\p{Cc};&|`$<>\\'"*?!{}[\]()]/u;
/** Characters a path parameter may contain (as on the agent). */
const PATH_CHARS = /^[A-Za-z0-9._@%+=:,/ -]+$/;
const MAX_PATH_CHARS = 4096;

/**
 * Checks one value against its declaration. Returns the value to use, or a
 * problem in words. Strings are never coerced into numbers or booleans here:
 * a model or a detail that says `"30"` for an integer is wrong, not close.
 */
export function checkParam(decl: RunbookParam, raw: unknown): { value: ParamValue } | string {
  switch (decl.type) {
    case "string": {
      if (typeof raw !== "string") return "must be a string";
      if (raw.length > decl.max_length) return `longer than ${decl.max_length} characters`;
      if (FORBIDDEN.test(raw)) return "contains a shell metacharacter or control character";
      if (!anchored(decl.pattern).test(raw)) return `does not match ${decl.pattern}`;
      return { value: raw };
    }
    case "integer": {
      if (typeof raw !== "number" || !Number.isSafeInteger(raw)) return "must be an integer";
      if (raw < decl.min || raw > decl.max) return `${raw} is outside ${decl.min}..${decl.max}`;
      return { value: raw };
    }
    case "boolean":
      return typeof raw === "boolean" ? { value: raw } : "must be true or false";
    case "enum":
      return typeof raw === "string" && decl.values.includes(raw)
        ? { value: raw }
        : `must be one of ${decl.values.join(", ")}`;
    case "path": {
      if (typeof raw !== "string" || raw.length === 0) return "must be a non-empty path";
      if (raw.length > MAX_PATH_CHARS) return `longer than ${MAX_PATH_CHARS} characters`;
      if (FORBIDDEN.test(raw) || !PATH_CHARS.test(raw)) return "contains a character not allowed in a path";
      if (!raw.startsWith("/")) return "must be an absolute path";
      if (raw.split("/").includes("..")) return 'must not contain ".." segments';
      return { value: raw };
    }
  }
}

const patterns = new Map<string, RegExp>();

/** The declaration's pattern compiled once, anchored whatever the YAML wrote (as the agent does). */
function anchored(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (re === undefined) {
    re = new RegExp(`^(?:${pattern})$`, "u");
    patterns.set(pattern, re);
  }
  return re;
}

/**
 * Checks a whole parameter set supplied by a planner (model output): every
 * name must be declared and every value must pass. Defaults are not filled
 * in; the agent applies them, so the command carries only what was chosen.
 */
export function checkParams(definition: Pick<RunbookDefinition, "params">, given: unknown): ParamCheck {
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    return { ok: false, problems: ["parameters must be an object of name -> value"] };
  }
  const problems: string[] = [];
  const values: Record<string, ParamValue> = {};
  for (const [name, raw] of Object.entries(given as Record<string, unknown>)) {
    const decl = Object.hasOwn(definition.params, name) ? definition.params[name] : undefined;
    if (decl === undefined) {
      problems.push(`${JSON.stringify(name.slice(0, 40))} is not a declared parameter`);
      continue;
    }
    const checked = checkParam(decl, raw);
    if (typeof checked === "string") problems.push(`${name}: ${checked}`);
    else values[name] = checked.value;
  }
  return problems.length === 0 ? { ok: true, values } : { ok: false, problems };
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
