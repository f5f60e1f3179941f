/**
 * Builds `runbooks/catalog.json`, the pin list the agent checks before it runs
 * anything: every `RB-*.yaml` is validated with the shared `RunbookDefinition`
 * schema, then pinned by the sha256 of its bytes together with the sha256 of
 * every script it references (steps, rollback actions, validations) and of
 * every shared library those scripts source (`scripts/lib/*.sh`, named by a
 * `source "$MSP_LIB_DIR/<name>.sh"` line; the agent provides only pinned ones).
 *
 *   node --import tsx runbooks/build-catalog.ts          rewrite catalog.json
 *   node --import tsx runbooks/build-catalog.ts --check  exit 1 if it is stale
 *
 * `--dir <path>` works on another copy of the library (the tests use it).
 *
 * The import below names the shared sources rather than `@msp/shared`, which
 * resolves to `shared/dist` and would make the catalog depend on a prior build.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  parseWith,
  parseYamlText,
  RunbookCatalog,
  RunbookDefinition,
  sha256Hex,
} from "../shared/src/index.js";

/** The directory holding the runbooks, their scripts and the catalog. */
export const RUNBOOKS_DIR = fileURLToPath(new URL(".", import.meta.url));
/** Catalog file name inside the runbooks directory. */
export const CATALOG_FILE = "catalog.json";

const RUNBOOK_FILE = /^RB-[A-Z]+-\d{3}\.yaml$/;

/** A validated runbook together with the bytes it was parsed from. */
export interface LoadedRunbook {
  file: string;
  bytes: Buffer;
  definition: RunbookDefinition;
}

/** Every script path a runbook references, in first-use order, without duplicates. */
export function referencedScripts(rb: RunbookDefinition): string[] {
  const paths = [
    ...rb.steps.map((s) => s.script),
    ...rb.rollback.flatMap((r) => (r.script === undefined ? [] : [r.script])),
    ...rb.post_execution_validation.map((v) => v.script),
  ];
  return [...new Set(paths)];
}

/** How a script sources a shared library; the same pattern as the agent's loader. */
const SOURCE_LINE = /^\s*(?:source|\.)\s+"\$MSP_LIB_DIR\/([^"]*)"/gm;

/** The `scripts/lib/<name>.sh` files the runbook's scripts in `dir` source, sorted. */
export function referencedLibraries(rb: RunbookDefinition, dir: string = RUNBOOKS_DIR): string[] {
  const libs = new Set<string>();
  for (const script of referencedScripts(rb)) {
    const text = readFileSync(join(dir, script), "utf8");
    for (const m of text.matchAll(SOURCE_LINE)) libs.add(`scripts/lib/${m[1]}`);
  }
  return [...libs].sort();
}

/**
 * Loads and validates every `RB-*.yaml` in `dir`, sorted by file name. Throws
 * on a schema error, an id that does not match its file name, a duplicate id
 * or a referenced script that does not exist, so a broken runbook can never be
 * pinned.
 */
export function loadRunbooks(dir: string = RUNBOOKS_DIR): LoadedRunbook[] {
  const files = readdirSync(dir)
    .filter((f) => RUNBOOK_FILE.test(f))
    .sort();
  const seen = new Set<string>();
  return files.map((file) => {
    const bytes = readFileSync(join(dir, file));
    const definition = parseWith(RunbookDefinition, parseYamlText(bytes.toString("utf8"), file), file);
    if (`${definition.id}.yaml` !== file)
      throw new Error(`${file}: id ${definition.id} does not match the file name`);
    if (seen.has(definition.id)) throw new Error(`${file}: duplicate runbook id ${definition.id}`);
    seen.add(definition.id);
    for (const script of referencedScripts(definition)) {
      if (!existsSync(join(dir, script)))
        throw new Error(`${file}: referenced script ${script} does not exist`);
    }
    for (const lib of referencedLibraries(definition, dir)) {
      if (!/^scripts\/lib\/[a-z][a-z0-9_]{0,63}\.sh$/.test(lib) || !existsSync(join(dir, lib)))
        throw new Error(
          `${file}: sourced library ${lib} does not exist or is not a scripts/lib/<name>.sh file`,
        );
    }
    return { file, bytes, definition };
  });
}

/** The catalog for the runbooks in `dir`: entries sorted by id, script keys sorted by path. */
export function buildCatalog(dir: string = RUNBOOKS_DIR): RunbookCatalog {
  const runbooks = loadRunbooks(dir)
    .map(({ file, bytes, definition }) => {
      const scripts: Record<string, string> = {};
      for (const script of [
        ...referencedScripts(definition),
        ...referencedLibraries(definition, dir),
      ].sort()) {
        scripts[script] = sha256Hex(readFileSync(join(dir, script)));
      }
      return { id: definition.id, version: definition.version, file, sha256: sha256Hex(bytes), scripts };
    })
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return parseWith(RunbookCatalog, { version: 1, runbooks }, CATALOG_FILE);
}

/** The exact text written to catalog.json, so that regenerating an unchanged library changes no byte. */
export function catalogText(catalog: RunbookCatalog): string {
  return `${JSON.stringify(catalog, null, 2)}\n`;
}

/**
 * Human-readable differences between the catalog on disk and a freshly built
 * one: one line per stale, missing or extra entry. Empty when they agree.
 */
export function diffCatalog(onDisk: RunbookCatalog, fresh: RunbookCatalog): string[] {
  const problems: string[] = [];
  const old = new Map(onDisk.runbooks.map((e) => [e.id, e]));
  for (const entry of fresh.runbooks) {
    const prev = old.get(entry.id);
    old.delete(entry.id);
    if (prev === undefined) {
      problems.push(`${entry.id}: missing from ${CATALOG_FILE}`);
      continue;
    }
    if (prev.version !== entry.version)
      problems.push(`${entry.id}: version ${prev.version} is now ${entry.version}`);
    if (prev.sha256 !== entry.sha256) problems.push(`${entry.id}: ${entry.file} changed (sha256 differs)`);
    for (const [script, sha] of Object.entries(entry.scripts)) {
      const before = prev.scripts[script];
      if (before === undefined) problems.push(`${entry.id}: ${script} is not pinned`);
      else if (before !== sha) problems.push(`${entry.id}: ${script} changed (sha256 differs)`);
    }
    for (const script of Object.keys(prev.scripts)) {
      if (!(script in entry.scripts))
        problems.push(`${entry.id}: ${script} is pinned but no longer referenced`);
    }
  }
  for (const id of old.keys()) problems.push(`${id}: pinned in ${CATALOG_FILE} but its runbook is gone`);
  return problems;
}

/** Checks catalog.json in `dir` against the runbooks; returns the problems found (empty when current). */
export function checkCatalog(dir: string = RUNBOOKS_DIR): string[] {
  const path = join(dir, CATALOG_FILE);
  if (!existsSync(path)) return [`${CATALOG_FILE} does not exist`];
  const fresh = buildCatalog(dir);
  const text = readFileSync(path, "utf8");
  let onDisk: RunbookCatalog;
  try {
    onDisk = parseWith(RunbookCatalog, JSON.parse(text), CATALOG_FILE);
  } catch (e) {
    return [`${CATALOG_FILE} is unreadable: ${(e as Error).message}`];
  }
  const problems = diffCatalog(onDisk, fresh);
  // Same pins but different bytes (order, spacing) still counts as stale: the file is generated.
  if (problems.length === 0 && text !== catalogText(fresh))
    problems.push(`${CATALOG_FILE} is not in generated form`);
  return problems;
}

function main(argv: string[]): number {
  let check = false;
  let dir = RUNBOOKS_DIR;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--check") check = true;
    else if (arg === "--dir" && argv[i + 1] !== undefined) dir = argv[++i] ?? dir;
    else {
      process.stderr.write(`usage: build-catalog.ts [--check] [--dir <runbooks dir>]; unexpected ${arg}\n`);
      return 2;
    }
  }
  try {
    if (check) {
      const problems = checkCatalog(dir);
      for (const p of problems) process.stderr.write(`stale: ${p}\n`);
      if (problems.length > 0) {
        process.stderr.write("run `pnpm catalog` to regenerate runbooks/catalog.json\n");
        return 1;
      }
      process.stdout.write(`${CATALOG_FILE} is current\n`);
      return 0;
    }
    const catalog = buildCatalog(dir);
    writeFileSync(join(dir, CATALOG_FILE), catalogText(catalog));
    process.stdout.write(`wrote ${CATALOG_FILE}: ${catalog.runbooks.length} runbooks\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2));
}
