/**
 * The agent's composition root: loads the config once and builds the pieces
 * a command needs (evidence key, outbox, executor, drift runner). Commands
 * ask for only what they use, so `status` never loads runbooks and `check`
 * never opens a network connection.
 */
import { hostname as osHostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "@msp/shared";
import {
  AgentConfig,
  type Clock,
  type Incident,
  loadConfigFile,
  loadSigningKey,
  MspError,
  type SigningKey,
  systemClock,
} from "@msp/shared";
import { createDriftRunner, type DriftRunner, loadBaseline } from "../drift/index.js";
import { createOutbox, type Outbox } from "../outbox/index.js";
import { createExecutor, type Executor } from "../runbook/index.js";
import { runbookLibraryDir } from "./library.js";

/** Loads and validates the agent config (file plus MSP_AGENT__* overrides). */
export function loadAgentConfig(path: string): AgentConfig {
  return loadConfigFile(AgentConfig, path, { envPrefix: "MSP_AGENT" });
}

/** Lazily built agent parts; every getter builds its part once. */
export interface AgentParts {
  readonly config: AgentConfig;
  readonly hostname: string;
  key(): Promise<SigningKey>;
  outbox(): Promise<Outbox>;
  executor(): Promise<Executor>;
  drift(onIncident: (incident: Incident) => void): Promise<DriftRunner>;
  close(): Promise<void>;
}

/** Options of {@link agentParts}. */
export interface AgentPartsOptions {
  /** Time for every part (bundle timestamps, run durations, drift checks); tests pass a FakeClock. */
  clock?: Clock;
}

/** Builds the parts for one config. */
export function agentParts(config: AgentConfig, logger: Logger, options: AgentPartsOptions = {}): AgentParts {
  const clock = options.clock ?? systemClock;
  const hostname = config.hostname ?? osHostname().split(".")[0] ?? "localhost";
  let key: Promise<SigningKey> | undefined;
  let outbox: Promise<Outbox> | undefined;
  let executor: Promise<Executor> | undefined;
  const loadKey = () => {
    key ??= loadSigningKey(config.evidence_key_file).catch((e: unknown) => {
      if (e instanceof MspError && e.code === "config_missing") {
        throw new MspError(
          "config_missing",
          `no evidence key at ${config.evidence_key_file}: run \`msp-agent keygen\` first`,
          { cause: e },
        );
      }
      throw e;
    });
    return key;
  };
  const loadOutbox = () => {
    outbox ??= loadKey().then((signingKey) =>
      createOutbox({
        dbPath: join(config.state_dir, "outbox.sqlite"),
        signingKey,
        identity: { client_id: config.client_id, agent_id: config.agent_id, hostname },
        maxBytes: config.outbox.max_bytes,
        clock,
        controlPlanePublicKey: config.control_plane.public_key,
        onAlert: (alert) => logger.log("warn", "outbox alert", { alert }),
      }),
    );
    return outbox;
  };
  return {
    config,
    hostname,
    key: loadKey,
    outbox: loadOutbox,
    executor() {
      executor ??= loadOutbox().then((sink) =>
        createExecutor({
          runbooks: runbookLibraryDir(config.state_dir, config.runbooks_dir),
          config: {
            state_dir: config.state_dir,
            path_roots: config.path_roots,
            service_allowlist: config.service_allowlist,
            process_allowlist: config.process_allowlist,
            service_manager: config.service_manager,
          },
          sink,
          clock,
        }),
      );
      return executor;
    },
    async drift(onIncident) {
      const [baseline, sink] = await Promise.all([loadBaseline(config.baseline_file), loadOutbox()]);
      return createDriftRunner({
        baseline,
        agentId: config.agent_id,
        clientId: config.client_id,
        hostname,
        sink,
        onIncident,
        clock,
      });
    },
    async close() {
      // The executor writes through the outbox, so it closes first.
      await executor?.then((e) => e.close()).catch(() => undefined);
      await outbox?.then((o) => o.close()).catch(() => undefined);
    },
  };
}
