/**
 * Offline autonomy: while the control plane is unreachable, a drift incident
 * may start a runbook locally, but only one the agent config lists in
 * `offline_autonomy`, only one whose `triggers` name the incident's event
 * type, and only once per `offline_cooldown_seconds` per runbook. The cooldown
 * is persisted (CooldownStore) and recorded *before* the run starts, so a
 * restart or a crash mid-run never resets it. Runs go through the same
 * executor as commands (pins, parameter validation, journal) and their
 * evidence queues in the outbox like everything else.
 *
 * Parameters: nobody planned this run, so the agent derives them the one way
 * it can defend: each declared default, and for a path parameter without a
 * default the single directory of its configured root set (when the set has
 * exactly one). A runbook still missing a required parameter is refused by
 * the executor's preflight, and that refusal is evidence too.
 */
import type { Clock, EvidenceBundle, Incident, Logger, RunbookDefinition } from "@msp/shared";
import { MspError } from "@msp/shared";
import type { IncidentRef, LoadedRunbook, RunRequest } from "../runbook/index.js";
import type { CooldownStore } from "../state/index.js";

/** The executor as offline autonomy uses it. */
export interface AutonomyExecutor {
  get(id: string): LoadedRunbook | undefined;
  run(request: RunRequest): Promise<EvidenceBundle>;
}

/** Options of {@link createOfflineAutonomy}. */
export interface OfflineAutonomyOptions {
  /** Runbook ids allowed to run without the control plane (config `offline_autonomy`). */
  runbooks: readonly string[];
  cooldownSeconds: number;
  executor: AutonomyExecutor;
  cooldowns: CooldownStore;
  pathRoots: Readonly<Record<string, readonly string[]>>;
  clock: Clock;
  logger: Logger;
  /** True while the transport has a welcomed connection; autonomy acts only when this is false. */
  online(): boolean;
  /** Called with each bundle a local run produced, so it is streamed as soon as a connection exists. */
  onEvidence?(bundle: EvidenceBundle): void;
}

/** What autonomy decided for one incident and runbook. */
export type AutonomyDecision =
  | { runbook_id: string; action: "ran"; bundle: EvidenceBundle }
  | { runbook_id: string; action: "cooldown"; until: string };

/** The running policy; feed it every drift incident. */
export interface OfflineAutonomy {
  /** Decides and runs (sequentially) what the incident allows; [] when online or nothing matches. */
  onIncident(incident: Incident): Promise<AutonomyDecision[]>;
}

/** Parameters a local run gets: declared defaults, plus single-directory path roots. */
export function derivedParams(
  def: Pick<RunbookDefinition, "params">,
  pathRoots: Readonly<Record<string, readonly string[]>>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [name, p] of Object.entries(def.params)) {
    if (p.default !== undefined) out[name] = p.default;
    else if (p.type === "path" && p.required) {
      const dirs = pathRoots[p.root] ?? [];
      if (dirs.length === 1 && dirs[0] !== undefined) out[name] = dirs[0];
    }
  }
  return out;
}

/** Creates the policy; refuses a cooldown below one minute (the config schema's floor). */
export function createOfflineAutonomy(options: OfflineAutonomyOptions): OfflineAutonomy {
  const { executor, cooldowns, clock, logger } = options;
  if (!Number.isInteger(options.cooldownSeconds) || options.cooldownSeconds < 60) {
    throw new MspError("config_invalid", "offline_cooldown_seconds must be an integer of at least 60");
  }
  const cooldownMs = options.cooldownSeconds * 1000;
  const allowed = new Set(options.runbooks);

  async function onIncident(incident: Incident): Promise<AutonomyDecision[]> {
    if (allowed.size === 0 || options.online()) return [];
    const decisions: AutonomyDecision[] = [];
    for (const id of allowed) {
      const rb = executor.get(id);
      if (rb === undefined) continue;
      if (!rb.definition.triggers.some((t) => t.event_type === incident.incident_type)) continue;
      const now = clock.now();
      const last = cooldowns.lastRun(id);
      if (last !== undefined && now.getTime() - last.getTime() < cooldownMs) {
        const until = new Date(last.getTime() + cooldownMs).toISOString();
        logger.log("info", "offline runbook in cooldown", {
          runbook_id: id,
          incident_id: incident.incident_id,
          until,
        });
        decisions.push({ runbook_id: id, action: "cooldown", until });
        continue;
      }
      // Recorded first: if the agent dies during the run, the restarted agent still honours the cooldown.
      cooldowns.setLastRun(id, now);
      logger.log("info", "running runbook offline", { runbook_id: id, incident_id: incident.incident_id });
      const ref: IncidentRef = {
        incident_id: incident.incident_id,
        event_type: incident.incident_type,
        severity: incident.severity,
        detected_at: incident.detected_at,
      };
      const bundle = await executor.run({
        runbookId: id,
        params: derivedParams(rb.definition, options.pathRoots),
        incident: ref,
        commandId: null,
        trigger: "offline_autonomy",
        approval: null,
        dryRun: false,
      });
      logger.log("info", "offline runbook finished", {
        runbook_id: id,
        incident_id: incident.incident_id,
        outcome: bundle.execution?.outcome ?? null,
        bundle_id: bundle.bundle_id,
        seq: bundle.seq,
      });
      options.onEvidence?.(bundle);
      decisions.push({ runbook_id: id, action: "ran", bundle });
    }
    return decisions;
  }

  return { onIncident };
}
