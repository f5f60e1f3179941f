/**
 * msp-agent: the thin entry point. Parses the command line, builds only the
 * parts the command needs, maps errors to exit codes (2 usage/config, 1
 * failure) and prints errors as one clear line.
 */
import { createLogger, isMspError, MspError } from "@msp/shared";
import type { AgentParts } from "../runtime/agent.js";
import { parseArgs } from "./args.js";
import type { CommandContext } from "./commands.js";
import { DEFAULT_BASELINE, DEFAULT_CONFIG_PATH, DEFAULT_STATE_DIR } from "./defaults.js";

const HELP = `msp-agent: HIPAA drift checks, pre-approved runbooks and signed evidence for one clinic server.

Usage: msp-agent <command> [options]

Commands:
  run                   the daemon: drift schedule, evidence streaming, signed commands, offline
                        autonomy, certificate renewal; SIGTERM/SIGINT stop it gracefully
  enroll                enroll with a one-time token and write keys, certificate and config:
                          --url https://cp:8443 (--token-file PATH | --token T) --ca-file PATH
                          --agent-id ID [--clinic ID] [--config-out PATH (default the --config path)]
                          [--state-dir DIR (default ${DEFAULT_STATE_DIR})] [--baseline PATH
                          (default ${DEFAULT_BASELINE})] [--runbooks-dir DIR] [--hostname H] [--force]
  renew                 renew the TLS certificate now with a new key (the daemon renews by itself)
  check                 run one drift cycle against the baseline and record a signed bundle
  runbook list          list the pinned runbooks and whether each is ready
  runbook run RB-ID     run a runbook now (--param name=value ..., --dry-run)
  status                show the evidence chain head, acknowledged seq and outbox size
  verify-outbox         re-verify every queued bundle's signature and the chain (exit 1 on a problem)
  keygen                create the ed25519 evidence key if missing and print its public key
  version               print agent and protocol versions

Options:
  --config PATH         config file (default ${DEFAULT_CONFIG_PATH}, or MSP_AGENT_CONFIG);
                        MSP_AGENT__SECTION__FIELD=value overrides a field
  --json                machine-readable output
  --help                this text

Exit codes: 0 ok, 1 the command ran and failed (runbook failed, verification failed), 2 bad usage or config.
`;

type Command = (ctx: CommandContext) => Promise<number>;

/**
 * Each command's module is loaded when that command runs, and the composition
 * root (config, outbox, drift checks, runbooks, SQLite) only for commands that
 * use it: `version` and `--help` start without any of them.
 */
const COMMANDS: Record<string, { parts: boolean; load: () => Promise<Command> }> = {
  run: { parts: true, load: async () => (await import("./daemon-commands.js")).runCommand },
  enroll: {
    parts: false,
    load: async () => {
      const { enrollCommand } = await import("./daemon-commands.js");
      return (ctx) => enrollCommand(ctx, configPathOf(ctx.args.flags.get("config")));
    },
  },
  renew: { parts: true, load: async () => (await import("./daemon-commands.js")).renewCommand },
  version: { parts: false, load: async () => (await import("./commands.js")).versionCommand },
  keygen: { parts: true, load: async () => (await import("./commands.js")).keygenCommand },
  check: { parts: true, load: async () => (await import("./commands.js")).checkCommand },
  runbook: { parts: true, load: async () => (await import("./commands.js")).runbookCommand },
  status: { parts: true, load: async () => (await import("./commands.js")).statusCommand },
  "verify-outbox": { parts: true, load: async () => (await import("./commands.js")).verifyOutboxCommand },
};

/** Flags that take a value; the parser refuses any other. */
const VALUED = [
  "config",
  "url",
  "token",
  "token-file",
  "ca-file",
  "agent-id",
  "clinic",
  "config-out",
  "state-dir",
  "baseline",
  "runbooks-dir",
  "hostname",
];

function configPathOf(configFlag: string | true | undefined): string {
  return typeof configFlag === "string" ? configFlag : (process.env.MSP_AGENT_CONFIG ?? DEFAULT_CONFIG_PATH);
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv, VALUED, ["json", "help", "dry-run", "force"]);
  const name = args.positional[0];
  if (args.flags.has("help") || name === undefined || name === "help") {
    process.stdout.write(HELP);
    return name === undefined && !args.flags.has("help") ? 2 : 0;
  }
  const entry = COMMANDS[name];
  if (entry === undefined)
    throw new MspError("invalid_input", `unknown command "${name}"; see msp-agent --help`);
  const configPath = configPathOf(args.flags.get("config"));
  const [command, runtime] = await Promise.all([
    entry.load(),
    entry.parts ? import("../runtime/agent.js") : undefined,
  ]);
  let parts: AgentParts | undefined;
  const ctx: CommandContext = {
    args,
    json: args.flags.has("json"),
    out: (text) => process.stdout.write(`${text}\n`),
    parts: () => {
      if (runtime === undefined) {
        throw new MspError("internal", `msp-agent ${name} does not load the agent's configuration`);
      }
      if (parts === undefined) {
        const config = runtime.loadAgentConfig(configPath);
        parts = runtime.agentParts(config, createLogger(config.log_level));
      }
      return parts;
    },
  };
  try {
    return await command(ctx);
  } finally {
    await parts?.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const usage = isMspError(e) && ["invalid_input", "config_missing", "config_invalid"].includes(e.code);
    process.stderr.write(`msp-agent: ${isMspError(e) ? e.message : String(e)}\n`);
    // The operator is on this host: the underlying cause (a SQLite or file error) says what to fix.
    const cause = (e as { cause?: unknown })?.cause;
    if (cause !== undefined)
      process.stderr.write(`  cause: ${cause instanceof Error ? cause.message : String(cause)}\n`);
    if (!isMspError(e) || e.code === "internal") process.stderr.write(`${(e as Error)?.stack ?? ""}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
