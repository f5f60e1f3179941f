/**
 * A small, strict argument parser: known flags only, so a typo is an error
 * rather than an ignored option.
 */
import { MspError } from "@msp/shared";

/** Parsed command line: positional words, flag values and repeated `--param` pairs. */
export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
  params: Record<string, string>;
}

/**
 * Parses argv. `valued` lists flags that take a value (`--config PATH` or
 * `--config=PATH`); `boolean` lists switches. `--param k=v` may repeat.
 */
export function parseArgs(
  argv: readonly string[],
  valued: readonly string[],
  boolean: readonly string[],
): Args {
  const out: Args = { positional: [], flags: new Map(), params: {} };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--")) {
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (boolean.includes(name)) {
      if (eq !== -1) throw new MspError("invalid_input", `--${name} takes no value`);
      out.flags.set(name, true);
      continue;
    }
    if (!valued.includes(name) && name !== "param")
      throw new MspError("invalid_input", `unknown option --${name}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new MspError("invalid_input", `--${name} needs a value`);
    if (name === "param") {
      const sep = value.indexOf("=");
      if (sep < 1) throw new MspError("invalid_input", `--param needs name=value, got "${value}"`);
      out.params[value.slice(0, sep)] = value.slice(sep + 1);
    } else {
      out.flags.set(name, value);
    }
  }
  return out;
}
