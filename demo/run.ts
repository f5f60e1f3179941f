/**
 * `pnpm demo`: the README's first command. Thin: flags, a check that the
 * packages are built, then the demo (demo.ts). Exit codes: 0 the demo ran
 * to the end and the verifier passed, 1 a step failed, 2 bad usage.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DemoError } from "./errors.js";
import { DEFAULT_DEMO_DIR, missingBuild } from "./result.js";

const HELP = `pnpm demo [--dir DIR]

Starts a control plane on embedded defaults (SQLite, local WORM directory,
rule-based planner), enrolls a local agent confined to DIR, lets a real
backup-failure drift check raise an incident, plans and runs RB-BACKUP-001,
and shows the signed evidence, its WORM upload, today's signed checkpoint,
the compliance packet, and the auditor's export checked by msp-verify.

Everything lives in DIR (default ${DEFAULT_DEMO_DIR}); each run recreates it.
A non-empty DIR the demo did not make is refused. Result: DIR/demo-result.json.
`;

async function main(argv: string[]): Promise<number> {
  let values: { dir?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { dir: { type: "string" }, help: { type: "boolean" } },
    }));
  } catch (e) {
    process.stderr.write(`demo: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const missing = missingBuild();
  if (missing.length > 0) {
    process.stderr.write(
      `demo: not built (missing ${missing.join(", ")}); run \`pnpm build\` (pnpm demo does)\n`,
    );
    return 2;
  }
  const dir = resolve(values.dir ?? DEFAULT_DEMO_DIR);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`MSP HIPAA compliance autopilot: demo in ${dir}`);
  // Loaded after the build check: it imports the built packages.
  const { runDemo } = await import("./demo.js");
  try {
    await runDemo({ dir, out });
    return 0;
  } catch (e) {
    const usage = e instanceof DemoError && e.usage;
    process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return usage ? 2 : 1;
  }
}

// Ctrl-C reaches the daemons too (same process group), and each stops gracefully on SIGINT; a daemon
// left behind by a killed run is stopped by the next run through its PID file.
// `pnpm demo -- --dir X` may pass the separator through.
const argv = process.argv.slice(2);
main(argv[0] === "--" ? argv.slice(1) : argv).then((code) => {
  process.exitCode = code;
});
