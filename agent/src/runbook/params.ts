/**
 * Parameter validation. A command's parameters come from the network (a
 * planner that may be an LLM, an operator's request) and end up in a root
 * shell script's environment, so every value is checked against the runbook's
 * declaration before any step runs: undeclared names, missing required
 * values, wrong types, out-of-range numbers, strings outside their anchored
 * pattern and paths outside their configured roots are all refused.
 *
 * Values travel to scripts only through the environment (never command
 * text), but shell metacharacters and control characters are refused in
 * every string anyway: a script that one day interpolates a value carelessly
 * must still not be injectable.
 */
import { lstatSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { RunbookDefinition, RunbookParam } from "@msp/shared";

/** A validated parameter value, with defaults applied and paths made canonical. */
export type ParamValue = string | number | boolean;

/** Outcome of {@link validateParams}: the values to use, or every problem found. */
export type ParamCheck =
  | { ok: true; values: Readonly<Record<string, ParamValue>> }
  | { ok: false; problems: string[] };

/** Characters refused in every string or path parameter, whatever the runbook's pattern allows. */
const FORBIDDEN = /[\p{Cc};&|`$<>\\'"*?!{}[\]()]/u;
/** Characters a path parameter may contain. */
const PATH_CHARS = /^[A-Za-z0-9._@%+=:,/ -]+$/;
const MAX_PATH_CHARS = 4096;
const INTEGER_TEXT = /^-?\d{1,15}$/;

/**
 * Checks `params` against the runbook's declarations. `pathRoots` is the
 * agent's `path_roots` config. Exported for the transport, which refuses a
 * forged or malformed command with the same rules before accepting it.
 */
export function validateParams(
  definition: Pick<RunbookDefinition, "params">,
  params: unknown,
  pathRoots: Readonly<Record<string, readonly string[]>>,
): ParamCheck {
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    return { ok: false, problems: ["parameters must be an object of name -> value"] };
  }
  const given = params as Record<string, unknown>;
  const problems: string[] = [];
  const values: Record<string, ParamValue> = {};
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(definition.params, name)) problems.push(`${show(name)} is not a declared parameter`);
  }
  for (const [name, decl] of Object.entries(definition.params)) {
    const supplied = Object.hasOwn(given, name) && given[name] !== undefined;
    const raw = supplied ? given[name] : decl.default;
    if (raw === undefined) {
      if (decl.required) problems.push(`${name} is required`);
      continue;
    }
    const checked = checkOne(decl, raw, pathRoots);
    if (typeof checked === "string") problems.push(`${name}${supplied ? "" : " (default)"}: ${checked}`);
    else values[name] = checked.value;
  }
  return problems.length === 0 ? { ok: true, values } : { ok: false, problems };
}

function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

function checkOne(
  decl: RunbookParam,
  raw: unknown,
  pathRoots: Readonly<Record<string, readonly string[]>>,
): { value: ParamValue } | string {
  switch (decl.type) {
    case "string": {
      if (typeof raw !== "string") return "must be a string";
      if (raw.length > decl.max_length) return `longer than ${decl.max_length} characters`;
      if (FORBIDDEN.test(raw)) return "contains a shell metacharacter or control character";
      if (!new RegExp(`^(?:${decl.pattern})$`, "u").test(raw))
        return `${show(raw)} does not match ${decl.pattern}`;
      return { value: raw };
    }
    case "integer": {
      const n = typeof raw === "string" && INTEGER_TEXT.test(raw) ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isSafeInteger(n)) return "must be an integer";
      if (n < decl.min || n > decl.max) return `${n} is outside ${decl.min}..${decl.max}`;
      return { value: n };
    }
    case "boolean": {
      if (raw === true || raw === "true") return { value: true };
      if (raw === false || raw === "false") return { value: false };
      return "must be true or false";
    }
    case "enum": {
      if (typeof raw !== "string" || !decl.values.includes(raw))
        return `must be one of ${decl.values.join(", ")}`;
      return { value: raw };
    }
    case "path":
      return checkPath(raw, decl.root, pathRoots);
  }
}

function checkPath(
  raw: unknown,
  root: string,
  pathRoots: Readonly<Record<string, readonly string[]>>,
): { value: string } | string {
  if (typeof raw !== "string" || raw.length === 0) return "must be a non-empty path";
  if (raw.length > MAX_PATH_CHARS) return `longer than ${MAX_PATH_CHARS} characters`;
  if (FORBIDDEN.test(raw) || !PATH_CHARS.test(raw))
    return "contains a character not allowed in a path parameter";
  if (!isAbsolute(raw)) return "must be an absolute path";
  if (raw.split("/").includes("..")) return 'must not contain ".." segments';
  const roots = Object.hasOwn(pathRoots, root) ? pathRoots[root] : undefined;
  if (roots === undefined || roots.length === 0)
    return `path root set "${root}" is not configured on this agent`;
  const canonical = canonicalPath(raw);
  if (canonical === null) return "cannot be resolved";
  for (const r of roots) {
    const base = canonicalPath(r);
    if (base === null) continue;
    const rel = relative(base, canonical);
    if (rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel)))
      return { value: canonical };
  }
  return `${show(raw)} resolves to ${show(canonical)}, outside the "${root}" roots (${roots.join(", ")})`;
}

/**
 * path.resolve, then realpath of the longest existing prefix with the
 * missing rest appended: a symlink inside a root that points outside it is
 * followed, so it cannot smuggle a target out of the root.
 */
function canonicalPath(p: string): string | null {
  let existing = resolve(p);
  const rest: string[] = [];
  // lstat, not exists: a dangling symlink must count as present (and then fail realpath), not as missing.
  while (!present(existing)) {
    const parent = dirname(existing);
    if (parent === existing) return null;
    rest.unshift(existing.slice(parent.length).replace(/^\//, ""));
    existing = parent;
  }
  try {
    return join(realpathSync(existing), ...rest);
  } catch {
    return null;
  }
}

function present(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return true; // unreadable (EACCES...): let realpath fail and refuse the value
  }
}
