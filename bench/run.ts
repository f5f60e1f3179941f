/**
 * `pnpm bench`: runs the registered suites in order, prints the report and
 * writes it to docs/benchmarks.md. Kept thin: measuring lives in `lib.ts`,
 * rendering and merging in `report.ts`, the suites in `suites/`.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { suiteOptions, threadTimes } from "./lib.js";
import {
  assemble,
  describeMachine,
  extractSections,
  type RunInfo,
  renderFailure,
  renderHeader,
  renderSection,
} from "./report.js";
import { SUITES } from "./suites/index.js";

const DEFAULT_OUT = fileURLToPath(new URL("../docs/benchmarks.md", import.meta.url));

const USAGE = `Usage: pnpm bench [-- options]

Runs the benchmark suites and writes docs/benchmarks.md.

Options:
  --only <suite>[,<suite>]  run only these suites; the other suites' sections
                            in the output file are kept as they were
  --quick                   small budgets for a CI smoke run (about 20 s); the
                            report is printed but not written unless --out is given,
                            so indicative figures never replace a full run's
  --out <file>              write the report here (default docs/benchmarks.md)
  -h, --help                print this help

Suites: ${SUITES.map((s) => s.name).join(", ")}`;

/** Thrown for a bad command line: printed with the usage, exit code 2. */
class UsageError extends Error {}

function parse(argv: string[]) {
  let values: ReturnType<typeof parseOptions>["values"];
  try {
    ({ values } = parseOptions(argv));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const known = new Set(SUITES.map((s) => s.name));
  const only = values.only
    ?.split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = only?.filter((name) => !known.has(name)) ?? [];
  if (only !== undefined && only.length === 0) throw new UsageError("--only needs at least one suite name");
  if (unknown.length > 0) throw new UsageError(`unknown suite: ${unknown.join(", ")}`);
  const quick = values.quick === true;
  const out = values.out !== undefined ? resolve(values.out) : quick ? null : DEFAULT_OUT;
  return { help: values.help === true, only, quick, out };
}

function parseOptions(argv: string[]) {
  // pnpm forwards the `--` of `pnpm bench -- --quick`; it carries no meaning here.
  return parseArgs({
    args: argv.filter((a) => a !== "--"),
    options: {
      only: { type: "string" },
      quick: { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
}

/** The command as a reader would retype it. */
function commandLine(argv: string[]): string {
  const args = argv.filter((a) => a !== "--");
  const viaPnpm = process.env.npm_lifecycle_event === "bench";
  const base = viaPnpm ? "pnpm bench" : "node --import tsx bench/run.ts";
  if (args.length === 0) return base;
  return viaPnpm ? `${base} -- ${args.join(" ")}` : `${base} ${args.join(" ")}`;
}

async function main(argv: string[]): Promise<void> {
  const args = parse(argv);
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const run: RunInfo = {
    date: new Date(),
    command: commandLine(argv),
    machine: describeMachine(),
    quick: args.quick,
  };
  const opts = suiteOptions(args.quick);
  const selected = SUITES.filter((s) => args.only === undefined || args.only.includes(s.name));

  const header = renderHeader(run);
  console.log(header);
  const fresh = new Map<string, string>();
  for (const suite of selected) {
    console.error(`bench: running ${suite.name}...`);
    const started = performance.now();
    const before = threadTimes();
    let rows: Awaited<ReturnType<typeof suite.run>>;
    try {
      rows = await suite.run(opts);
    } catch (e) {
      // One broken suite must not cost the figures of the others: its section says it failed.
      console.error(`bench: ${suite.name} failed:`, e);
      process.exitCode = 1;
      const section = renderFailure(suite, run, e);
      fresh.set(suite.name, section);
      console.log(`${section}\n`);
      continue;
    }
    const after = threadTimes();
    const wallMs = performance.now() - started;
    // How busy the machine was, so a reader can tell a slow figure from a crowded run.
    const waitShare = before === null || after === null ? undefined : (after.waitMs - before.waitMs) / wallMs;
    const section = renderSection({ suite, rows, waitShare }, run);
    console.error(`bench: ${suite.name} took ${(wallMs / 1000).toFixed(1)} s`);
    if (waitShare !== undefined && waitShare > 0.1) {
      console.error(
        `bench: ${suite.name} waited for a CPU ${(waitShare * 100).toFixed(0)}% of the time: other load shares this machine, rerun when it is idle`,
      );
    }
    fresh.set(suite.name, section);
    console.log(`${section}\n`);
  }

  if (args.out === null) {
    console.error("bench: --quick without --out: report not written");
    return;
  }
  // Only a partial run keeps earlier sections; a full run replaces the whole file.
  const previous =
    args.only === undefined ? new Map<string, string>() : extractSections(await readOrEmpty(args.out));
  const text = assemble(
    SUITES.map((s) => s.name),
    fresh,
    previous,
    header,
  );
  await mkdir(dirname(args.out), { recursive: true });
  // Write then rename, so an interrupted run never leaves a half-written report.
  const tmp = `${args.out}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, args.out);
  console.error(`bench: wrote ${args.out}`);
}

async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw e;
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`bench: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  console.error("bench: failed:", e);
  process.exitCode = 1;
});
