/**
 * Loading the runbook library and enforcing its pins. `catalog.json` pins
 * every runbook YAML and every script by sha256; a runbook is usable only if
 * its YAML and all scripts it references hash to the pinned values and the
 * YAML parses with the shared `RunbookDefinition` schema. A runbook that fails
 * any of this is kept as *refused* with a reason, so a command naming it
 * yields refusal evidence instead of a silent "unknown runbook".
 *
 * Catalog script keys are the `script` paths exactly as the YAML writes them,
 * relative to the library directory (`scripts/check_backup_logs.sh`), plus
 * the shared script libraries the scripts source (`scripts/lib/common.sh`):
 * a script may only `source "$MSP_LIB_DIR/<name>.sh"`, and the executor
 * points MSP_LIB_DIR at private copies of exactly the pinned library files,
 * so a library is pinned the same way a script is.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  isMspError,
  MspError,
  parseWith,
  parseYamlText,
  type RunbookCatalog,
  RunbookDefinition,
  readRunbookCatalog,
  sha256Hex,
} from "@msp/shared";
import { type Expr, ExpressionSyntaxError, parseExpression } from "./expression.js";

/** A runbook whose YAML and scripts matched their pins at load time. */
export interface LoadedRunbook {
  readonly id: string;
  /** The library directory the YAML and scripts are read from. */
  readonly dir: string;
  /** YAML file name inside `dir`. */
  readonly file: string;
  /** Pinned (and, at load, verified) sha256 of the YAML bytes. */
  readonly sha256: string;
  readonly definition: RunbookDefinition;
  /**
   * Pinned sha256 of every script the runbook references, keyed by its
   * `scripts/<name>.sh` path, and of every library its scripts source
   * (`scripts/lib/<name>.sh`).
   */
  readonly scripts: ReadonlyMap<string, string>;
  /** The `scripts/lib/<name>.sh` keys of `scripts`: copied into MSP_LIB_DIR for every action. */
  readonly libs: readonly string[];
  /** `success_criteria`, parsed once at load so a syntax error refuses the runbook early. */
  readonly criteria: readonly { expression: string; tree: Expr }[];
}

/** A runbook the library will not run, and why. */
export interface RefusedRunbook {
  readonly id: string;
  readonly file: string;
  /** The catalog's version and YAML pin, or null when the file is not catalogued. */
  readonly version: string | null;
  readonly pinnedSha256: string | null;
  readonly reason: string;
}

/** The loaded library: usable runbooks and refused ones, by id. */
export interface RunbookLibrary {
  readonly dir: string;
  /** sha256 of catalog.json, for the agent's hello frame. */
  readonly catalogSha256: string;
  readonly runbooks: ReadonlyMap<string, LoadedRunbook>;
  readonly refused: ReadonlyMap<string, RefusedRunbook>;
}

/** A pin that does not hold: which file, what the catalog says, what is on disk. */
export interface PinMismatch {
  file: string;
  pinned: string;
  actual: string | null;
}

/** Human-readable refusal text for a pin mismatch; it names the file and both hashes. */
export function describeMismatch(m: PinMismatch): string {
  const actual = m.actual === null ? "unreadable" : `sha256 ${m.actual}`;
  return `${m.file} does not match its pin: catalog sha256 ${m.pinned}, file has ${actual}`;
}

/** Reads a file once and checks it against its pin; the bytes returned are exactly the bytes hashed. */
export function readPinned(
  dir: string,
  file: string,
  pinned: string,
): { ok: true; bytes: Buffer } | { ok: false; mismatch: PinMismatch } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(dir, file));
  } catch {
    return { ok: false, mismatch: { file, pinned, actual: null } };
  }
  const actual = sha256Hex(bytes);
  return actual === pinned ? { ok: true, bytes } : { ok: false, mismatch: { file, pinned, actual } };
}

/** Every script path a runbook references, in the order they run. */
export function scriptsOf(def: RunbookDefinition): string[] {
  const all = [
    ...def.steps.map((s) => s.script),
    ...def.rollback.flatMap((r) => (r.script === undefined ? [] : [r.script])),
    ...def.post_execution_validation.map((v) => v.script),
  ];
  return [...new Set(all)];
}

/** Where shared script libraries live, relative to the library directory. */
export const LIB_PREFIX = "scripts/lib/";
/** A library path a catalog may pin: one flat file name, so a key can never point outside `scripts/lib/`. */
const LIB_KEY = /^scripts\/lib\/[a-z][a-z0-9_]{0,63}\.sh$/;
/** How a script sources a library; the build script pins exactly what these lines name. */
const SOURCE_LINE = /^\s*(?:source|\.)\s+"\$MSP_LIB_DIR\/([^"]*)"/gm;

/** The `scripts/lib/<name>.sh` files a script's text sources, in order of first use. */
export function librariesSourcedBy(text: string): string[] {
  return [...new Set([...text.matchAll(SOURCE_LINE)].map((m) => `${LIB_PREFIX}${m[1]}`))];
}

/**
 * Loads `<dir>/catalog.json` and every `<dir>/RB-*.yaml`. A missing or
 * invalid catalog is an error (nothing can be trusted without it); a bad
 * runbook is only refused.
 */
export function loadRunbookLibrary(dir: string): RunbookLibrary {
  const { catalog, sha256: catalogSha256 } = readRunbookCatalog(dir);
  const runbooks = new Map<string, LoadedRunbook>();
  const refused = new Map<string, RefusedRunbook>();
  const seen = new Set<string>();
  for (const entry of catalog.runbooks) {
    if (seen.has(entry.id)) throw new MspError("config_invalid", `runbook catalog lists ${entry.id} twice`);
    seen.add(entry.id);
    const loaded = loadEntry(dir, entry);
    if ("reason" in loaded) refused.set(entry.id, loaded);
    else runbooks.set(entry.id, loaded);
  }
  const catalogued = new Set(catalog.runbooks.map((e) => e.file));
  for (const file of readdirSync(dir).filter((f) => /^RB-.*\.yaml$/.test(f) && !catalogued.has(f))) {
    const id = file.slice(0, -".yaml".length);
    if (seen.has(id)) continue;
    refused.set(id, {
      id,
      file,
      version: null,
      pinnedSha256: null,
      reason: `${file} is not pinned in catalog.json`,
    });
  }
  return { dir, catalogSha256, runbooks, refused };
}

function loadEntry(dir: string, entry: RunbookCatalog["runbooks"][number]): LoadedRunbook | RefusedRunbook {
  const refuse = (reason: string): RefusedRunbook => ({
    id: entry.id,
    file: entry.file,
    version: entry.version,
    pinnedSha256: entry.sha256,
    reason,
  });
  const yaml = readPinned(dir, entry.file, entry.sha256);
  if (!yaml.ok) return refuse(describeMismatch(yaml.mismatch));
  let definition: RunbookDefinition;
  try {
    const parsed = parseYamlText(yaml.bytes.toString("utf8"), entry.file);
    definition = parseWith(RunbookDefinition, parsed, `runbook ${entry.file}`, "config_invalid");
  } catch (e) {
    if (isMspError(e)) return refuse(e.message);
    throw e;
  }
  if (definition.id !== entry.id || entry.file !== `${entry.id}.yaml`) {
    return refuse(`${entry.file} declares id ${definition.id}, catalog entry is ${entry.id}`);
  }
  if (definition.version !== entry.version) {
    return refuse(`${entry.file} declares version ${definition.version}, catalog pins ${entry.version}`);
  }
  const scripts = new Map<string, string>();
  const sourced: string[] = [];
  for (const script of scriptsOf(definition)) {
    const pinned = entry.scripts[script];
    if (pinned === undefined) return refuse(`${script} (used by ${entry.id}) is not pinned in catalog.json`);
    const check = readPinned(dir, script, pinned);
    if (!check.ok) return refuse(describeMismatch(check.mismatch));
    scripts.set(script, pinned);
    sourced.push(...librariesSourcedBy(check.bytes.toString("utf8")));
  }
  const libs = Object.keys(entry.scripts).filter((k) => k.startsWith(LIB_PREFIX));
  for (const lib of libs) {
    if (!LIB_KEY.test(lib)) return refuse(`catalog key ${lib} is not a scripts/lib/<name>.sh library path`);
    const check = readPinned(dir, lib, entry.scripts[lib] as string);
    if (!check.ok) return refuse(describeMismatch(check.mismatch));
    scripts.set(lib, entry.scripts[lib] as string);
  }
  // The bundle records every library pin in one evidence value (lib_sha256, at most 512 characters).
  if (libs.reduce((n, l) => n + l.length - LIB_PREFIX.length + 66, 0) > 512)
    return refuse(`${entry.id} pins more script libraries than one bundle can record`);
  const unpinned = sourced.find((lib) => !libs.includes(lib));
  if (unpinned !== undefined)
    return refuse(`${unpinned} (sourced by ${entry.id}) is not pinned in catalog.json`);
  const problem = checkDefinition(definition);
  if (problem !== null) return refuse(`${entry.file}: ${problem}`);
  const criteria: { expression: string; tree: Expr }[] = [];
  for (const expression of definition.success_criteria) {
    try {
      criteria.push({ expression, tree: parseExpression(expression) });
    } catch (e) {
      if (e instanceof ExpressionSyntaxError)
        return refuse(`${entry.file}: success criterion "${expression}": ${e.message}`);
      throw e;
    }
  }
  return { id: entry.id, dir, file: entry.file, sha256: entry.sha256, definition, scripts, libs, criteria };
}

/** Checks the schema cannot express: string patterns compile, step names are unique. */
function checkDefinition(def: RunbookDefinition): string | null {
  for (const [name, p] of Object.entries(def.params)) {
    if (p.type !== "string") continue;
    try {
      new RegExp(p.pattern, "u");
    } catch (e) {
      return `parameter ${name}: pattern does not compile: ${(e as Error).message}`;
    }
  }
  const names = def.steps.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  return dup === undefined ? null : `step name ${dup} is used twice`;
}

/** A catalogue line: what the agent can run, or why not. */
export interface RunbookInfo {
  id: string;
  name: string | null;
  version: string | null;
  sha256: string | null;
  status: "ready" | "refused";
  reason: string | null;
}

/** Lists a library for operators and the CLI: usable runbooks first, then refused ones with reasons. */
export function describeLibrary(library: RunbookLibrary): RunbookInfo[] {
  return [
    ...[...library.runbooks.values()].map((r) => ({
      id: r.id,
      name: r.definition.name,
      version: r.definition.version,
      sha256: r.sha256,
      status: "ready" as const,
      reason: null,
    })),
    ...[...library.refused.values()].map((r) => ({
      id: r.id,
      name: null,
      version: r.version,
      sha256: r.pinnedSha256,
      status: "refused" as const,
      reason: r.reason,
    })),
  ];
}
