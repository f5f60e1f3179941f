/**
 * The long-running and enrollment commands: `run` (the daemon, stopped by
 * SIGTERM or SIGINT), `enroll` (token to working agent) and `renew` (a new
 * TLS key and certificate now). Kept apart from the one-shot commands in
 * `commands.ts`, which never touch the network.
 */
import { readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { createLogger, MspError, systemClock } from "@msp/shared";
import { createDaemon } from "../daemon/index.js";
import { enroll, renew } from "../enroll/index.js";
import type { CommandContext } from "./commands.js";
import { DEFAULT_BASELINE, DEFAULT_STATE_DIR } from "./defaults.js";

const print = (ctx: CommandContext, value: unknown, human: () => string) =>
  ctx.out(ctx.json ? JSON.stringify(value, null, 2) : human());

/**
 * `msp-agent run`: the daemon. Resolves with exit code 0 after a graceful
 * stop on SIGTERM/SIGINT; a second signal during shutdown exits at once
 * (code 1), leaving any unfinished run to the journal.
 */
export async function runCommand(ctx: CommandContext): Promise<number> {
  const parts = ctx.parts();
  const logger = createLogger(parts.config.log_level);
  const daemon = createDaemon({ parts, logger, clock: systemClock });
  let signalled: (reason: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    signalled = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.log("error", "second signal during shutdown; exiting now", { signal });
      process.exit(1);
    }
    signalled(signal);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    await daemon.start();
    // The one stdout line: supervisors and tests know the agent is up.
    ctx.out(JSON.stringify({ running: true, agent_id: parts.config.agent_id, pid: process.pid }));
    await daemon.stop(await stopped);
    return 0;
  } catch (e) {
    await daemon.stop("start failed").catch(() => undefined);
    throw e;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

function flag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

function required(ctx: CommandContext, name: string): string {
  const v = flag(ctx, name);
  if (v === undefined) throw new MspError("invalid_input", `enroll needs --${name}`);
  return v;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new MspError("invalid_input", `${what} ${path} cannot be read`, { cause: e });
  }
}

/**
 * `msp-agent enroll --url https://cp:8443 --token-file PATH --ca-file PATH --agent-id ID
 * [--clinic ID] [--config-out PATH] [--state-dir DIR] [--baseline PATH] [--runbooks-dir DIR] [--force]`.
 */
export async function enrollCommand(ctx: CommandContext, defaultConfigPath: string): Promise<number> {
  const tokenFile = flag(ctx, "token-file");
  const tokenFlag = flag(ctx, "token");
  if ((tokenFile === undefined) === (tokenFlag === undefined)) {
    throw new MspError("invalid_input", "enroll needs exactly one of --token-file and --token");
  }
  const token = tokenFlag ?? readText(tokenFile as string, "token file").trim();
  const result = await enroll({
    url: required(ctx, "url"),
    token,
    caPem: readText(required(ctx, "ca-file"), "CA file"),
    agentId: required(ctx, "agent-id"),
    hostname: flag(ctx, "hostname") ?? osHostname().split(".")[0] ?? "localhost",
    clinicId: flag(ctx, "clinic"),
    configOut: flag(ctx, "config-out") ?? flag(ctx, "config") ?? defaultConfigPath,
    stateDir: flag(ctx, "state-dir") ?? DEFAULT_STATE_DIR,
    baselineFile: flag(ctx, "baseline") ?? DEFAULT_BASELINE,
    runbooksDir: flag(ctx, "runbooks-dir"),
    force: ctx.args.flags.has("force"),
  });
  print(
    ctx,
    result,
    () =>
      `enrolled ${result.agent_id} for clinic ${result.client_id}\nconfig      ${result.config_file}\ncertificate ${result.cert_file} (valid until ${result.not_after})\ncontrol-plane key ${result.control_plane_key_id}`,
  );
  return 0;
}

/** `msp-agent renew`: a new TLS key and certificate now, over mTLS with the current one. */
export async function renewCommand(ctx: CommandContext): Promise<number> {
  const config = ctx.parts().config;
  const issued = await renew({ agentId: config.agent_id, controlPlane: config.control_plane });
  const info = { serial: issued.serial, not_before: issued.not_before, not_after: issued.not_after };
  print(ctx, info, () => `renewed: certificate ${info.serial} valid until ${info.not_after}`);
  return 0;
}
