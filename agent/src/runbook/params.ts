/**
 * Parameter validation. A command's parameters come from the network (a
 * planner that may be an LLM, an operator's request) and end up in a root
 * shell script's environment, so every value is checked against the runbook's
 * declaration before any step runs: undeclared names, missing required
 * values, wrong types, out-of-range numbers, strings outside their anchored
 * pattern and paths outside their configured roots are all refused. The
 * declaration rules are the shared ones (@msp/shared checkDeclaredParams);
 * what is the agent's own is resolving paths against its `path_roots`.
 *
 * Values travel to scripts only through the environment (never command
 * text), but shell metacharacters and control characters are refused in
 * every string anyway: a script that one day interpolates a value carelessly
 * must still not be injectable.
 */
import { lstatSync, realpathSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import {
  checkDeclaredParams,
  describeParamFinding,
  forbiddenCharProblems,
  type ParamProblem,
  type ParamValue,
  pathShapeProblems,
  type RunbookDefinition,
} from "@msp/shared";

export type { ParamValue };

/** Outcome of {@link validateParams}: the values to use, or every problem found. */
export type ParamCheck =
  | { ok: true; values: Readonly<Record<string, ParamValue>> }
  | { ok: false; problems: string[] };

/**
 * Checks `params` against the runbook's declarations (the shared rules, with
 * text forms accepted and defaults applied) and every path against the
 * agent's `path_roots` config. Exported for the transport, which refuses a
 * forged or malformed command with the same rules before accepting it.
 */
export function validateParams(
  definition: Pick<RunbookDefinition, "params">,
  params: unknown,
  pathRoots: Readonly<Record<string, readonly string[]>>,
): ParamCheck {
  const checked = checkDeclaredParams(definition.params, params, {
    acceptText: true,
    defaults: "apply",
    screenString: forbiddenCharProblems,
    checkPath: (raw, root) => checkPath(raw, root, pathRoots),
  });
  return checked.ok
    ? { ok: true, values: checked.values }
    : { ok: false, problems: checked.findings.map(describeParamFinding) };
}

function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

type PathProblem = ParamProblem<"bad_path" | "outside_roots">;

/** The path's shape (shared), then where it resolves: inside one of the root set's directories. */
function checkPath(
  raw: string,
  root: string,
  pathRoots: Readonly<Record<string, readonly string[]>>,
): { value: string } | PathProblem[] {
  const shape = pathShapeProblems(raw);
  if (shape.length > 0) return shape;
  const outside = (reason: string): PathProblem[] => [{ code: "outside_roots", reason }];
  const roots = Object.hasOwn(pathRoots, root) ? pathRoots[root] : undefined;
  if (roots === undefined || roots.length === 0)
    return outside(`path root set "${root}" is not configured on this agent`);
  const canonical = canonicalPath(raw);
  if (canonical === null) return outside("cannot be resolved");
  for (const r of roots) {
    const base = canonicalPath(r);
    if (base === null) continue;
    const rel = relative(base, canonical);
    if (rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel)))
      return { value: canonical };
  }
  return outside(
    `${show(raw)} resolves to ${show(canonical)}, outside the "${root}" roots (${roots.join(", ")})`,
  );
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
