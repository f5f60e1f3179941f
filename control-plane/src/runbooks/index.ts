/**
 * The control plane's view of the runbook library: the same `catalog.json`
 * and RB-*.yaml files the agent embeds. The planner may only choose among
 * these IDs, and every command carries the runbook's pinned sha256 so the
 * agent can refuse one that differs from its own copy. The control plane never
 * runs scripts, so it checks the YAML pins only; the agent checks scripts too.
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  MspError,
  parseWith,
  parseYamlText,
  RunbookDefinition,
  readRunbookCatalog,
  sha256Hex,
} from "@msp/shared";

/** A catalogued runbook whose YAML matched its pin. */
export interface CatalogRunbook {
  id: string;
  version: string;
  sha256: string;
  definition: RunbookDefinition;
}

export interface RunbookCatalogView {
  dir: string;
  /** sha256 of catalog.json; agents report theirs in hello. */
  catalogSha256: string;
  get(id: string): CatalogRunbook | undefined;
  list(): CatalogRunbook[];
  /** Runbooks whose `triggers` include the event type. */
  applicableTo(eventType: string): CatalogRunbook[];
}

/** The library shipped beside the control plane (`<repo>/runbooks`), from src or dist. */
export function defaultRunbooksDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../../runbooks");
}

/**
 * Loads and checks the library. Any pin mismatch or invalid YAML refuses the
 * whole library: the control plane must not plan with a runbook it cannot vouch for.
 */
export function loadRunbookCatalog(dir: string = defaultRunbooksDir()): RunbookCatalogView {
  const { catalog, sha256: catalogSha256 } = readRunbookCatalog(dir);
  const byId = new Map<string, CatalogRunbook>();
  for (const entry of catalog.runbooks) {
    const bytes = readFileSync(join(dir, entry.file));
    const actual = sha256Hex(bytes);
    if (actual !== entry.sha256) {
      throw new MspError(
        "integrity_mismatch",
        `${entry.file} does not match its pin: catalog sha256 ${entry.sha256}, file has ${actual}`,
      );
    }
    const definition = parseWith(
      RunbookDefinition,
      parseYamlText(bytes.toString("utf8"), entry.file),
      `runbook ${entry.file}`,
      "config_invalid",
    );
    if (definition.id !== entry.id) {
      throw new MspError(
        "config_invalid",
        `${entry.file} declares id ${definition.id}, catalog says ${entry.id}`,
      );
    }
    byId.set(entry.id, { id: entry.id, version: entry.version, sha256: entry.sha256, definition });
  }
  const list = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  return {
    dir,
    catalogSha256,
    get: (id) => byId.get(id),
    list: () => list,
    applicableTo: (eventType) =>
      list.filter((r) => r.definition.triggers.some((t) => t.event_type === eventType)),
  };
}
