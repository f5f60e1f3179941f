/**
 * Loading the baseline file at startup. YAML or JSON (YAML is a superset),
 * then the shared strict schema; a missing file and an invalid one are
 * different errors so the operator knows whether to install or fix it.
 */
import { readFile } from "node:fs/promises";
import { Baseline, MspError, parseWith, parseYamlText } from "@msp/shared";

/** Reads and validates a baseline file; throws `config_missing` or `config_invalid` with the field at fault. */
export async function loadBaseline(path: string): Promise<Baseline> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new MspError("config_missing", `baseline file ${path} cannot be read`, { cause: e });
  }
  const raw = parseYamlText(text, `baseline file ${path}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new MspError("config_invalid", `baseline file ${path} must hold a mapping at the top level`);
  }
  return parseWith(Baseline, raw, `baseline file ${path}`, "config_invalid");
}
