/**
 * Reading a runbook library's `catalog.json`, the one file that pins every
 * runbook YAML and script by sha256. The agent and the control plane both
 * start here; what each then does with the entries is its own.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MspError } from "../errors/index.js";
import { sha256Hex } from "../hash/index.js";
import { parseWith } from "../protocol/parse.js";
import { RunbookCatalog } from "../protocol/runbook.js";

/** A parsed catalog and the sha256 of its bytes (what agents report in hello). */
export interface CatalogFile {
  catalog: RunbookCatalog;
  sha256: string;
}

/**
 * Reads and validates `<dir>/catalog.json`. Unreadable is `config_missing`;
 * not JSON or not a catalog is `config_invalid`: nothing in the library can be
 * trusted without it.
 */
export function readRunbookCatalog(dir: string): CatalogFile {
  const path = join(dir, "catalog.json");
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new MspError("config_missing", `runbook catalog ${path} cannot be read`, { cause: e });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new MspError("config_invalid", `runbook catalog ${path} is not JSON`, { cause: e });
  }
  return {
    catalog: parseWith(RunbookCatalog, raw, "runbook catalog", "config_invalid"),
    sha256: sha256Hex(bytes),
  };
}
