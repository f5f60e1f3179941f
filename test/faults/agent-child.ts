/**
 * The real agent daemon as a child process the fault suite can SIGKILL by
 * PID. It is what `msp-agent run` does (config loaded once, `agentParts`,
 * `createDaemon`, graceful stop on SIGTERM) with two test knobs: transport
 * timings (quick reconnects and keepalives instead of the 1-60 s and 30 s
 * production defaults) and, with `produce`, a burst of small drift bundles
 * appended through the agent's own outbox, printing `seq=N` after each
 * durable append so the test knows what was acknowledged as written.
 *
 * `backlog` bundles are appended before the daemon starts, so its first
 * connection streams them back to back; `produce` bundles are appended while
 * it runs. (The transport sends new bundles when told of them or when an ack
 * arrives; the daemon tells it after each drift cycle or command, and a burst
 * from here cannot, so a burst may wait for the next ack, cycle or reconnect.)
 *
 * Usage: agent-child.ts CONFIG_FILE [OPTIONS_JSON]. stdout: first the line
 * `{"pid":N}`, then `seq=N` per durable append, `running` once the daemon
 * has started and `produced` after the last `produce` append.
 */
import { systemClock } from "@msp/shared";
import {
  agentParts,
  type BundleDraft,
  createDaemon,
  createLogger,
  type DaemonTransportTuning,
  loadAgentConfig,
} from "../../agent/src/index.js";

/** The options JSON. */
export interface AgentChildOptions {
  transport?: DaemonTransportTuning;
  /** Drift bundles to append before the daemon starts (each durable before its `seq=N` line). */
  backlog?: number;
  /** Drift bundles to append while the daemon runs. */
  produce?: number;
}

/** A small drift draft, as the drift runner would write for one passing check. */
function sample(i: number): BundleDraft {
  return {
    kind: "drift_check",
    incident: null,
    runbook: null,
    actions_taken: [],
    drift: {
      baseline_id: "faults-v1",
      baseline_version: "1.0.0",
      results: [
        {
          check_id: "phi_quota",
          status: "pass",
          citation: ["164.308(a)(1)(ii)(D)"],
          observed: `burst sample ${i}`,
          expected: "<= 90%",
          reason: null,
          exception: null,
          event_type: null,
        },
      ],
    },
    hipaa_controls: ["164.308(a)(1)(ii)(D)"],
    execution: null,
    outputs: {},
  };
}

const [configFile, optionsJson] = process.argv.slice(2);
if (configFile === undefined) throw new Error("usage: agent-child.ts CONFIG_FILE [OPTIONS_JSON]");
const options = JSON.parse(optionsJson ?? "{}") as AgentChildOptions;
const config = loadAgentConfig(configFile);
const logger = createLogger(config.log_level);
const parts = agentParts(config, logger, { clock: systemClock });
const daemon = createDaemon({
  parts,
  logger,
  clock: systemClock,
  shutdownGraceMs: 2_000,
  ...(options.transport ? { transport: options.transport } : {}),
});
process.once("SIGTERM", () => {
  void daemon.stop("SIGTERM").then(() => process.exit(0));
});
process.stdout.write(`${JSON.stringify({ pid: process.pid, agent_id: config.agent_id })}\n`);

const outbox = await parts.outbox();
async function append(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const bundle = await outbox.append(sample(i));
    process.stdout.write(`seq=${bundle.seq}\n`);
  }
}
await append(options.backlog ?? 0);
await daemon.start();
process.stdout.write("running\n");
if (options.produce !== undefined) {
  await append(options.produce);
  process.stdout.write("produced\n");
}
