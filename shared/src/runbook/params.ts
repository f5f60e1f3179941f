/**
 * The rules a runbook's parameter declarations state, checked in one place.
 * The agent (before a step runs), the planner (before it proposes a command)
 * and the guardrails (before a command is signed) all check parameters
 * against the same declarations: undeclared names, missing required values,
 * the declared type, an integer's range, a string's `max_length` and anchored
 * `pattern`, an enum's values. Those rules live here.
 *
 * What is not in a declaration stays with its caller and comes in through
 * options: which characters a string may never contain (the guardrails scan
 * more than the agent), what a path must look like and where it may lie (only
 * the agent can resolve roots), and any rule on an accepted value (the
 * guardrails' service allow-list). Problems are returned as findings, never
 * thrown: a refused value is an expected outcome.
 */
import type { RunbookParam } from "../protocol/runbook.js";

/** A checked value, with defaults applied and text forms converted when allowed. */
export type ParamValue = string | number | boolean;

/** Which declared rule a value broke. */
export type ParamRule =
  | "not_an_object"
  | "unknown_param"
  | "missing_param"
  | "wrong_type"
  | "too_long"
  | "pattern_mismatch"
  | "bad_pattern"
  | "out_of_range"
  | "not_allowed";

/** A problem a caller's own rule found; `C` is the caller's set of codes. */
export interface ParamProblem<C extends string = never> {
  code: ParamRule | C;
  reason: string;
}

/**
 * One problem with one parameter. `param` is the name as given (null when the
 * parameter set itself is not an object). For `unknown_param`,
 * `missing_param` and `not_an_object` the reason is a sentence that names the
 * parameter; otherwise it says what is wrong with the value, and
 * {@link describeParamFinding} puts the name in front.
 */
export interface ParamFinding<C extends string = never> extends ParamProblem<C> {
  param: string | null;
  /** True when the value that failed was the declaration's default, not a supplied one. */
  fromDefault: boolean;
}

/** Options of {@link checkDeclaredParams} and {@link checkParamValue}. */
export interface ParamRules<C extends string = never> {
  /**
   * Whether integer and boolean parameters accept their text forms (`"14"`,
   * `"true"`). An operator's form sends text; a model that writes `"30"` for
   * an integer is wrong, not close, so the planner says no.
   */
  acceptText: boolean;
  /**
   * `apply`: a missing value takes its declared default and a missing
   * required one is a finding (what will actually run). `given`: only the
   * values given are checked, in the order given (a proposal the agent will
   * complete with defaults).
   */
  defaults: "apply" | "given";
  /**
   * The caller's content rules for a string value, run after its type and
   * `max_length` pass and before its pattern; `maxLength` is the declaration's.
   */
  screenString: (value: string, maxLength: number) => readonly ParamProblem<C>[];
  /**
   * The caller's rules for a non-empty path value (shape, configured roots):
   * the value to use (for example made canonical), or its problems.
   */
  checkPath: (value: string, root: string) => { value: string } | readonly ParamProblem<C>[];
  /** The caller's rule on a value that passed its declaration; problems keep it out of the result. */
  accept?: (name: string, value: ParamValue) => readonly ParamProblem<C>[];
}

/** Outcome of {@link checkDeclaredParams}: the values to use, or every finding. */
export type DeclaredParamsCheck<C extends string = never> =
  | { ok: true; values: Record<string, ParamValue> }
  | { ok: false; findings: ParamFinding<C>[] };

const INTEGER_TEXT = /^-?\d{1,15}$/;

/**
 * Checks a parameter set against a runbook's declarations. Every problem is
 * reported, not only the first: undeclared names first, then each declared
 * parameter in declaration order (in `given` mode, each given name in order).
 */
export function checkDeclaredParams<C extends string = never>(
  declared: Readonly<Record<string, RunbookParam>>,
  given: unknown,
  rules: ParamRules<C>,
): DeclaredParamsCheck<C> {
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    const reason = "parameters must be an object of name -> value";
    return { ok: false, findings: [{ param: null, code: "not_an_object", reason, fromDefault: false }] };
  }
  const input = given as Record<string, unknown>;
  const findings: ParamFinding<C>[] = [];
  const values: Record<string, ParamValue> = {};
  const unknown = (name: string): ParamFinding<C> => ({
    param: name,
    code: "unknown_param",
    reason: `${quote(name)} is not a declared parameter`,
    fromDefault: false,
  });
  const check = (name: string, decl: RunbookParam, raw: unknown, fromDefault: boolean): void => {
    let checked = checkParamValue(decl, raw, rules);
    if (!Array.isArray(checked) && rules.accept !== undefined) {
      const refused = rules.accept(name, (checked as { value: ParamValue }).value);
      if (refused.length > 0) checked = refused;
    }
    if (Array.isArray(checked)) {
      for (const p of checked as readonly ParamProblem<C>[])
        findings.push({ param: name, ...p, fromDefault });
    } else values[name] = (checked as { value: ParamValue }).value;
  };

  if (rules.defaults === "given") {
    for (const [name, raw] of Object.entries(input)) {
      const decl = Object.hasOwn(declared, name) ? declared[name] : undefined;
      if (decl === undefined) findings.push(unknown(name));
      else check(name, decl, raw, false);
    }
  } else {
    for (const name of Object.keys(input)) {
      if (!Object.hasOwn(declared, name)) findings.push(unknown(name));
    }
    for (const [name, decl] of Object.entries(declared)) {
      const supplied = Object.hasOwn(input, name) && input[name] !== undefined;
      const raw = supplied ? input[name] : decl.default;
      if (raw === undefined) {
        if (decl.required) {
          findings.push({
            param: name,
            code: "missing_param",
            reason: `${name} is required`,
            fromDefault: false,
          });
        }
        continue;
      }
      check(name, decl, raw, !supplied);
    }
  }
  return findings.length === 0 ? { ok: true, values } : { ok: false, findings };
}

/**
 * Checks one value against its declaration: the value to use, or its
 * problems (one for a declared rule; a caller's rule may report several).
 */
export function checkParamValue<C extends string = never>(
  decl: RunbookParam,
  raw: unknown,
  rules: Pick<ParamRules<C>, "acceptText" | "screenString" | "checkPath">,
): { value: ParamValue } | readonly ParamProblem<C>[] {
  const one = (code: ParamRule, reason: string): ParamProblem<C>[] => [{ code, reason }];
  switch (decl.type) {
    case "string": {
      if (typeof raw !== "string") return one("wrong_type", "must be a string");
      if (raw.length > decl.max_length) return one("too_long", `longer than ${decl.max_length} characters`);
      const screened = rules.screenString(raw, decl.max_length);
      if (screened.length > 0) return screened;
      const re = anchored(decl.pattern);
      if (re === null) return one("bad_pattern", "the runbook's pattern does not compile");
      if (!re.test(raw)) return one("pattern_mismatch", `${quote(raw)} does not match ${decl.pattern}`);
      return { value: raw };
    }
    case "integer": {
      const n = rules.acceptText && typeof raw === "string" && INTEGER_TEXT.test(raw) ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isSafeInteger(n)) return one("wrong_type", "must be an integer");
      if (n < decl.min || n > decl.max)
        return one("out_of_range", `${n} is outside ${decl.min}..${decl.max}`);
      return { value: n };
    }
    case "boolean": {
      if (raw === true || (rules.acceptText && raw === "true")) return { value: true };
      if (raw === false || (rules.acceptText && raw === "false")) return { value: false };
      return one("wrong_type", "must be true or false");
    }
    case "enum": {
      const reason = `must be one of ${decl.values.join(", ")}`;
      if (typeof raw !== "string") return one("wrong_type", reason);
      if (!decl.values.includes(raw)) return one("not_allowed", reason);
      return { value: raw };
    }
    case "path": {
      if (typeof raw !== "string" || raw.length === 0) return one("wrong_type", "must be a non-empty path");
      return rules.checkPath(raw, decl.root);
    }
  }
}

/** A finding as one line of text: `name: reason`, `name (default): reason`, or the reason alone when it names the parameter. */
export function describeParamFinding(f: ParamFinding<string>): string {
  if (f.param === null || f.code === "unknown_param" || f.code === "missing_param") return f.reason;
  return `${f.param}${f.fromDefault ? " (default)" : ""}: ${f.reason}`;
}

/**
 * Characters refused in every string or path parameter that reaches a root
 * script's environment, whatever the runbook's pattern allows: control
 * characters and shell metacharacters. Values travel through the environment,
 * never command text, but a script that one day interpolates a value
 * carelessly must still not be injectable.
 */
export const FORBIDDEN_PARAM_CHARS = /[\p{Cc};&|`$<>\\'"*?!{}[\]()]/u;
/** Characters a path parameter may contain. */
export const PATH_PARAM_CHARS = /^[A-Za-z0-9._@%+=:,/ -]+$/;
/** Longest path parameter the agent accepts. */
export const MAX_PATH_PARAM_CHARS = 4096;

/** Problems of a path's shape: length, characters, absolute, no `..` segment. Roots are the caller's. */
export function pathShapeProblems(raw: string): ParamProblem<"bad_path">[] {
  if (raw.length > MAX_PATH_PARAM_CHARS)
    return [{ code: "too_long", reason: `longer than ${MAX_PATH_PARAM_CHARS} characters` }];
  if (FORBIDDEN_PARAM_CHARS.test(raw) || !PATH_PARAM_CHARS.test(raw))
    return [{ code: "bad_path", reason: "contains a character not allowed in a path parameter" }];
  if (!raw.startsWith("/")) return [{ code: "bad_path", reason: "must be an absolute path" }];
  if (raw.split("/").includes("..")) return [{ code: "bad_path", reason: 'must not contain ".." segments' }];
  return [];
}

/** The metacharacter screen for a string parameter, as {@link ParamRules.screenString} wants it. */
export function forbiddenCharProblems(raw: string): ParamProblem<"forbidden_character">[] {
  return FORBIDDEN_PARAM_CHARS.test(raw)
    ? [{ code: "forbidden_character", reason: "contains a shell metacharacter or control character" }]
    : [];
}

const MAX_CACHED_PATTERNS = 512;
const patterns = new Map<string, RegExp | null>();

/**
 * The declaration's pattern compiled once and anchored whatever the YAML
 * wrote; null when it does not compile. The cache is bounded because
 * declarations can arrive from outside (a catalog upload).
 */
function anchored(source: string): RegExp | null {
  let re = patterns.get(source);
  if (re === undefined) {
    try {
      re = new RegExp(`^(?:${source})$`, "u");
    } catch {
      re = null;
    }
    if (patterns.size >= MAX_CACHED_PATTERNS) patterns.clear();
    patterns.set(source, re);
  }
  return re;
}

/** A caller-supplied name or value for a message: JSON-quoted (control characters escaped) and cut short. */
function quote(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}
