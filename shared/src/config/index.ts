/**
 * Loading a configuration file once at startup: YAML or JSON from a file, then
 * environment overrides, then one strict schema. "Missing" (`config_missing`)
 * and "invalid" (`config_invalid`) are different errors so an operator knows
 * whether to create the file or fix it.
 *
 * Environment overrides use a prefix and double underscores for nesting:
 * `MSP_AGENT__CONTROL_PLANE__URL=wss://cp:8443/v1/agent` sets
 * `control_plane.url`. A value that parses as JSON is used as such, so
 * numbers, booleans and lists work (`MSP_AGENT__OFFLINE_AUTONOMY='["RB-DISK-001"]'`).
 */
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { MspError } from "../errors/index.js";
import { parseWith } from "../protocol/parse.js";

/** Reads a secret from a file (`*_file` settings), trimming one trailing newline. */
export function readSecretFile(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new MspError("config_missing", `cannot read ${what} from ${path}`, { cause: e });
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length === 0) throw new MspError("config_invalid", `${what} file ${path} is empty`);
  return secret;
}

/** Parses YAML (a superset of JSON) text into a plain value; `config_invalid` on a syntax error. */
export function parseYamlText(text: string, source: string): unknown {
  try {
    return parseYaml(text, { strict: true, uniqueKeys: true, maxAliasCount: 100 });
  } catch (e) {
    throw new MspError(
      "config_invalid",
      `${source} is not valid YAML: ${(e as Error).message.split("\n")[0]}`,
      { cause: e },
    );
  }
}

/** Applies `PREFIX__A__B=value` environment variables onto a config object. */
export function applyEnvOverrides(
  base: Record<string, unknown>,
  env: Record<string, string | undefined>,
  prefix: string,
): Record<string, unknown> {
  const out = structuredClone(base);
  const marker = `${prefix}__`;
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(marker) || raw === undefined) continue;
    const path = name.slice(marker.length).toLowerCase().split("__");
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // Not JSON: keep the plain string.
    }
    let node: Record<string, unknown> = out;
    path.forEach((key, i) => {
      if (i === path.length - 1) {
        node[key] = value;
        return;
      }
      const next = node[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    });
  }
  return out;
}

/**
 * Loads and validates a config file. `env` and `envPrefix` are optional so
 * tests can pass an explicit environment.
 */
export function loadConfigFile<S extends z.ZodType>(
  schema: S,
  path: string,
  options: { env?: Record<string, string | undefined>; envPrefix?: string } = {},
): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new MspError("config_missing", `config file ${path} cannot be read`, { cause: e });
  }
  const raw = parseYamlText(text, `config file ${path}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new MspError("config_invalid", `config file ${path} must hold a mapping at the top level`);
  }
  const merged =
    options.envPrefix === undefined
      ? (raw as Record<string, unknown>)
      : applyEnvOverrides(raw as Record<string, unknown>, options.env ?? process.env, options.envPrefix);
  return parseWith(schema, merged, `config file ${path}`, "config_invalid");
}
