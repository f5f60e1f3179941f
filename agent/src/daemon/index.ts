/**
 * The agent daemon (`msp-agent run`): one process that, for as long as it
 * runs, checks drift on a schedule, streams evidence to the control plane,
 * answers signed commands, remediates on its own while the control plane is
 * unreachable, and renews its certificate.
 *
 * Start order matters: the executor first reports runs a previous process
 * left unfinished (interrupted evidence), then the transport connects, then
 * the first drift cycle runs. Shutdown reverses it: no new cycle starts, the
 * current cycle and runs get `shutdownGraceMs` to finish, then the transport
 * closes and the databases close last. A run still going past the grace is
 * left to the execution journal: the next start reports it as interrupted.
 *
 * Incidents: sent as `incident` frames while connected. While disconnected
 * only the *current* ones are kept, those of the latest drift cycle, and they
 * are sent on reconnect; a backlog of stale incidents would make the control
 * plane plan against a past state. Their history is in the drift bundles,
 * which replay in full.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentConfig, Clock, Incident, Logger } from "@msp/shared";
import { createOfflineAutonomy, type OfflineAutonomy } from "../autonomy/index.js";
import { type CommandHandler, createCommandHandler } from "../command/index.js";
import type { DriftRunner } from "../drift/index.js";
import { needsRenewal, renew } from "../enroll/index.js";
import type { IncidentRef } from "../runbook/index.js";
import type { AgentParts } from "../runtime/agent.js";
import { type AgentState, openAgentState } from "../state/index.js";
import {
  createTransport,
  type Transport,
  type TransportOptions,
  type TransportState,
} from "../transport/index.js";
import { SleepSet } from "../transport/timers.js";
import { AGENT_VERSION } from "../version.js";

/** Transport timings a deployment or a test may tune; everything else comes from the config. */
export type DaemonTransportTuning = Partial<
  Pick<TransportOptions, "backoff" | "pingIntervalMs" | "welcomeTimeoutMs" | "random">
>;

/** Options of {@link createDaemon}. */
export interface DaemonOptions {
  parts: AgentParts;
  logger: Logger;
  /** Drives the schedule, cooldowns, command expiry, renewal and the transport's timers. */
  clock: Clock;
  /** Uniform in [0, 1): schedule jitter. */
  random?: () => number;
  /** How long the control plane must be unreachable before offline autonomy may act. Default 120 s. */
  offlineGraceMs?: number;
  /** How long shutdown waits for the current cycle and runs. Default 20 s. */
  shutdownGraceMs?: number;
  /** Replaces certificate renewal (tests); default `renew` against the configured control plane. */
  renewCertificate?: (config: AgentConfig) => Promise<void>;
  transport?: DaemonTransportTuning;
}

/** A snapshot for status logs and tests. */
export interface DaemonStats {
  cycles: number;
  cycleFailures: number;
  recovered: number;
  renewals: number;
  transport: TransportState;
  pendingIncidents: number;
}

/** The running daemon. */
export interface Daemon {
  /** Recovers, connects and starts the schedule; resolves once the first cycle is scheduled. */
  start(): Promise<void>;
  /** Graceful stop (idempotent); resolves when everything is closed. */
  stop(reason: string): Promise<void>;
  /** Resolves when a drift cycle that began after this call has finished (tests, `--once` style use). */
  nextCycle(): Promise<void>;
  stats(): DaemonStats;
  /** The autonomy policy and command handler, for tests that drive them directly. */
  readonly autonomy: () => OfflineAutonomy;
  readonly commands: () => CommandHandler;
}

/** Spread of the schedule: each interval is drawn from [90 %, 110 %] of check_interval_seconds. */
const JITTER = 0.1;
/** Incidents remembered so a command naming one gets its reference into the bundle. */
const INCIDENT_MEMORY = 1000;

/** Builds the daemon; nothing runs until `start()`. */
export function createDaemon(options: DaemonOptions): Daemon {
  const { parts, logger, clock } = options;
  const config = parts.config;
  const random = options.random ?? Math.random;
  const offlineGraceMs = options.offlineGraceMs ?? 120_000;
  const shutdownGraceMs = options.shutdownGraceMs ?? 20_000;
  const renewCertificate =
    options.renewCertificate ??
    (async (c: AgentConfig) => {
      await renew({ agentId: c.agent_id, controlPlane: c.control_plane });
    });
  const sleeps = new SleepSet(clock);
  const tasks = new Set<Promise<unknown>>();
  const incidents = new Map<string, IncidentRef>();
  const stats = { cycles: 0, cycleFailures: 0, recovered: 0, renewals: 0 };
  let pending = new Map<string, Incident>();
  let transport: Transport | null = null;
  let transportState: TransportState = "idle";
  let unreachableSince = clock.now().getTime();
  let state: AgentState | null = null;
  let autonomy: OfflineAutonomy | null = null;
  let commands: CommandHandler | null = null;
  let drift: DriftRunner | null = null;
  let loop: Promise<void> | null = null;
  let stopping: Promise<void> | null = null;
  const cycleWaiters: (() => void)[] = [];

  const track = (p: Promise<unknown>, what: string) => {
    const t = p.catch((e: unknown) => logger.log("error", `${what} failed`, { error: String(e) }));
    tasks.add(t);
    void t.finally(() => tasks.delete(t));
  };
  let unsubscribeAppended: (() => void) | null = null;
  const online = () =>
    transportState === "ready" || clock.now().getTime() - unreachableSince < offlineGraceMs;

  function flushIncidents(): void {
    for (const [key, incident] of pending) {
      if (transport?.sendFrame({ type: "incident", incident }) !== true) return;
      pending.delete(key);
    }
  }

  function onState(next: TransportState): void {
    const was = transportState;
    transportState = next;
    if (next === "ready") {
      logger.log("info", "control plane reachable", { pending_incidents: pending.size });
      flushIncidents();
    } else if (was === "ready") {
      unreachableSince = clock.now().getTime();
      logger.log("warn", "control plane unreachable", { state: next });
    }
  }

  function startTransport(catalogSha256: string, outbox: Awaited<ReturnType<AgentParts["outbox"]>>): void {
    const cp = config.control_plane;
    const t = options.transport ?? {};
    transport = createTransport({
      url: cp.url,
      ca: readFileSync(cp.ca_file),
      cert: readFileSync(cp.cert_file),
      key: readFileSync(cp.key_file),
      hello: {
        agent_id: config.agent_id,
        client_id: config.client_id,
        hostname: parts.hostname,
        agent_version: AGENT_VERSION,
        catalog_sha256: catalogSha256,
      },
      outbox,
      onCommand: async (frame) => {
        await (commands as CommandHandler).handle(frame);
      },
      onState,
      clock,
      logger: {
        info: (msg, fields) => logger.log("info", msg, { component: "transport", ...fields }),
        warn: (msg, fields) => logger.log("warn", msg, { component: "transport", ...fields }),
        error: (msg, fields) => logger.log("error", msg, { component: "transport", ...fields }),
      },
      sendWindow: config.outbox.send_window,
      ...t,
    });
    transport.start();
  }

  function onIncident(incident: Incident): void {
    incidents.set(incident.incident_id, {
      incident_id: incident.incident_id,
      event_type: incident.incident_type,
      severity: incident.severity,
      detected_at: incident.detected_at,
    });
    if (incidents.size > INCIDENT_MEMORY) incidents.delete(incidents.keys().next().value as string);
    if (transportState === "ready" && transport?.sendFrame({ type: "incident", incident }) === true) return;
    pending.set(incident.check_id ?? incident.incident_type, incident);
    // Decided now, while the incident is current; the run itself must not hold up the drift cycle.
    if (autonomy !== null && stopping === null) track(autonomy.onIncident(incident), "offline autonomy");
  }

  async function cycle(): Promise<void> {
    const before = pending;
    pending = new Map();
    try {
      const result = await (drift as DriftRunner).runCycle();
      stats.cycles++;
      logger.log("info", "drift cycle recorded", {
        bundle_id: result.bundle.bundle_id,
        seq: result.bundle.seq,
        incidents: result.incidents.length,
        outbox: (await parts.outbox()).stats(),
      });
    } catch (e) {
      stats.cycleFailures++;
      // Keep what was pending: this cycle could not say what is current.
      for (const [k, v] of before) if (!pending.has(k)) pending.set(k, v);
      logger.log("error", "drift cycle failed", { error: String(e) });
    }
    for (const w of cycleWaiters.splice(0)) w();
  }

  async function maybeRenew(): Promise<void> {
    let due: boolean;
    try {
      due = needsRenewal(readFileSync(config.control_plane.cert_file), clock.now());
    } catch (e) {
      logger.log("error", "cannot read the agent certificate", { error: String(e) });
      return;
    }
    if (!due) return;
    logger.log("info", "renewing the agent certificate (under a third of its lifetime left)");
    try {
      await renewCertificate(config);
      stats.renewals++;
      logger.log("info", "agent certificate renewed; reconnecting with it");
      const outbox = await parts.outbox();
      const executor = await parts.executor();
      await transport?.stop();
      if (stopping === null) startTransport(executor.catalogSha256, outbox);
    } catch (e) {
      logger.log("warn", "certificate renewal failed; retrying next cycle", { error: String(e) });
    }
  }

  async function schedule(): Promise<void> {
    while (stopping === null) {
      await cycle();
      if (stopping !== null) break;
      await maybeRenew();
      const spread = 1 - JITTER + 2 * JITTER * random();
      const delayMs = Math.round(config.check_interval_seconds * 1000 * spread);
      logger.log("debug", "next drift cycle scheduled", { delay_ms: delayMs });
      if (!(await sleeps.sleep(delayMs))) break;
    }
  }

  async function settle(): Promise<boolean> {
    const idle = (async () => {
      await loop;
      await commands?.idle();
      while (tasks.size > 0) await Promise.allSettled([...tasks]);
    })();
    const grace = new SleepSet(clock);
    const timedOut = grace.sleep(shutdownGraceMs).then((elapsed) => elapsed);
    const finished = await Promise.race([idle.then(() => true), timedOut.then((t) => !t)]);
    grace.cancelAll();
    return finished;
  }

  return {
    async start() {
      logger.log("info", "agent starting", {
        agent_id: config.agent_id,
        client_id: config.client_id,
        agent_version: AGENT_VERSION,
        check_interval_seconds: config.check_interval_seconds,
        offline_autonomy: config.offline_autonomy,
      });
      const outbox = await parts.outbox();
      // Whoever appends (drift cycle, command, offline run, or any other writer of this
      // outbox), the transport sends it now instead of at the next ack or reconnect.
      unsubscribeAppended = outbox.onAppended(() => transport?.notify());
      const executor = await parts.executor();
      const recovered = await executor.recoverInterrupted();
      stats.recovered = recovered.length;
      for (const b of recovered) {
        logger.log("warn", "recovered an interrupted run", {
          bundle_id: b.bundle_id,
          seq: b.seq,
          reason: b.execution?.reason,
        });
      }
      state = openAgentState(join(config.state_dir, "agent-state.sqlite"), config);
      commands = createCommandHandler({
        identity: config,
        controlPlanePublicKey: config.control_plane.public_key,
        executor,
        sink: outbox,
        ledger: state.commands,
        pathRoots: config.path_roots,
        clock,
        logger,
        send: (frame) => transport?.sendFrame(frame) ?? false,
        incident: (id) => incidents.get(id),
      });
      autonomy = createOfflineAutonomy({
        runbooks: config.offline_autonomy,
        cooldownSeconds: config.offline_cooldown_seconds,
        executor,
        cooldowns: state.cooldowns,
        pathRoots: config.path_roots,
        clock,
        logger,
        online,
      });
      drift = await parts.drift(onIncident);
      unreachableSince = clock.now().getTime();
      startTransport(executor.catalogSha256, outbox);
      loop = schedule();
      logger.log("info", "agent started", { recovered: recovered.length });
    },

    stop(reason) {
      stopping ??= (async () => {
        logger.log("info", "agent stopping", { reason });
        sleeps.cancelAll();
        const clean = await settle();
        if (!clean) {
          logger.log("warn", "shutdown grace over with work still running; the journal will report it", {
            shutdown_grace_ms: shutdownGraceMs,
          });
        }
        await transport?.stop();
        unsubscribeAppended?.();
        await parts.close();
        state?.close();
        logger.log("info", "agent stopped", { reason, clean });
      })();
      return stopping;
    },

    nextCycle() {
      return new Promise<void>((resolve) => cycleWaiters.push(resolve));
    },

    stats: () => ({ ...stats, transport: transportState, pendingIncidents: pending.size }),
    autonomy: () => autonomy as OfflineAutonomy,
    commands: () => commands as CommandHandler,
  };
}
