/**
 * The demo's second half, on the running deployment: the agent's drift check
 * fails on the stale backup, its incident is planned by the rule-based
 * planner, the signed command runs RB-BACKUP-001 on the agent, the signed
 * evidence is stored and acked, a restarted agent's re-check passes, and the
 * control plane uploads the evidence into the local WORM directory. Ends by
 * stopping the control plane.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  bundleHash,
  canonicalBytes,
  type EvidenceBundle,
  keyIdOf,
  verifyBytes,
} from "../shared/dist/index.js";
import { type Daemon, runNodeOk, startDaemon } from "./children.js";
import { DemoError, until } from "./errors.js";
import { COMMANDS } from "./result.js";
import { type Deployment, WAIT_MS } from "./setup.js";
import { AGENT, CLINIC, type DemoLayout, outside } from "./site.js";
import type { Steps } from "./steps.js";

interface IncidentView {
  incident_id: string;
  agent_id: string | null;
  incident_type: string;
  severity: string;
  status: string;
  status_reason: string | null;
  plan_id: string | null;
  command_id: string | null;
  bundle_id: string | null;
  mttr_seconds: number | null;
  sla_met: boolean | null;
  incident: { details: Record<string, unknown> };
}
interface CommandView {
  command_id: string;
  incident_id: string | null;
  runbook_id: string;
  params: Record<string, unknown>;
  status: string;
  status_reason: string | null;
  bundle_id: string | null;
  frame: string;
}
interface Decision {
  incident_id: string;
  planner_kind: string;
  runbook_id: string | null;
  confidence: number;
  requires_approval: boolean;
  approval_reasons: string[];
  outcome: string;
  review_reason: string | null;
}

/** What the remediation showed, for the result and the auditor's steps. */
export interface Remediation {
  agentLog: string;
  incident: IncidentView;
  decision: Decision;
  command: CommandView;
  bundle: EvidenceBundle;
  backupId: string;
  backupDir: string;
  bundlesStored: number;
  head: { last_seq: number; acked_seq: number };
  wormObject: string;
}

/** Runs the remediation steps, then stops the control plane. */
export async function runRemediation(
  l: DemoLayout,
  steps: Steps,
  track: (d: Daemon) => void,
  dep: Deployment,
): Promise<Remediation> {
  const { api, agentConfig, oldBackup } = dep;
  const config = dep.init.config;
  const agentLog = join(l.logs, "agent.log");

  const startAgent = async () => {
    const d = await startDaemon({
      name: "agent",
      script: COMMANDS.agent,
      args: ["run", "--config", l.agentConfig],
      logFile: agentLog,
      pidDir: l.pids,
      home: l.home,
      readyTimeoutMs: WAIT_MS,
    });
    track(d);
    return d;
  };
  // Stopped first, the outbox is quiet and `msp-agent status` reads its final chain head.
  const stopAgent = async (d: Daemon) => {
    const code = await d.stop();
    if (code !== 0) throw new DemoError(`msp-agent run exited with ${code} on SIGTERM; log ${agentLog}`);
    const status = JSON.parse(
      await runNodeOk({
        script: COMMANDS.agent,
        args: ["status", "--json", "--config", l.agentConfig],
        what: "msp-agent status",
        home: l.home,
      }),
    ) as { head: { last_seq: number; acked_seq: number } };
    return status.head;
  };
  const driftRows = async () =>
    (
      await api.get<{ drift: { check_id: string; status: string; seq: number; bundle_id: string }[] }>(
        `/v1/clinics/${CLINIC}/drift`,
      )
    ).drift;

  const drift = await steps.run("msp-agent run: backup freshness drift check fails", async () => {
    const d = await startAgent();
    const result = await until(
      "the drift result of ehr_backup_fresh at the control plane",
      async () => (await driftRows()).find((r) => r.check_id === "ehr_backup_fresh"),
      WAIT_MS,
    );
    if (result.status !== "fail")
      throw new DemoError(
        `the backup check reported ${result.status}, expected fail (old backup ${oldBackup})`,
      );
    return {
      value: { d, result },
      lines: [
        `agent pid ${d.pid}, log ${agentLog}`,
        `ehr_backup_fresh: FAIL (drift bundle ${result.bundle_id})`,
      ],
    };
  });

  const incident = await steps.run("Incident backup_failure raised by the agent", async () => {
    const found = await until(
      "the agent's backup_failure incident",
      async () => {
        const { incidents } = await api.get<{ incidents: IncidentView[] }>(`/v1/clinics/${CLINIC}/incidents`);
        return incidents.find((i) => i.agent_id === AGENT && i.incident_type === "backup_failure");
      },
      WAIT_MS,
    );
    const reason = String(found.incident.details.reason ?? found.incident.details.observed ?? "");
    return {
      value: found,
      lines: [`${found.incident_id} severity ${found.severity}: ${reason}`],
    };
  });

  const decision = await steps.run("Plan by the rule-based planner", async () => {
    const planned = await until(
      "the incident to be planned",
      async () => {
        const { incident: i } = await api.get<{ incident: IncidentView }>(
          `/v1/clinics/${CLINIC}/incidents/${incident.incident_id}`,
        );
        return i.status === "received" ? undefined : i;
      },
      WAIT_MS,
    );
    const { decisions } = await api.get<{ decisions: Decision[] }>(`/v1/clinics/${CLINIC}/planning-log`);
    const d = decisions.find((x) => x.incident_id === incident.incident_id);
    if (d === undefined) throw new DemoError(`no planning-log entry for ${incident.incident_id}`);
    const lines = [
      `planner ${d.planner_kind}, runbook ${d.runbook_id ?? "none"}, confidence ${d.confidence.toFixed(2)}, ` +
        `approval ${d.requires_approval ? `required (${d.approval_reasons.join("; ")})` : "not required"}`,
    ];
    if (planned.status === "awaiting_approval" && planned.plan_id !== null) {
      await api.post(`/v1/clinics/${CLINIC}/approvals/${planned.plan_id}/approve`, {
        reason: "approved by the demo's admin",
      });
      lines.push(`plan ${planned.plan_id} approved through the API`);
    } else if (!["dispatched", "resolved"].includes(planned.status)) {
      throw new DemoError(
        `the incident is ${planned.status}${planned.status_reason ? `: ${planned.status_reason}` : ""}, not dispatched`,
      );
    }
    return { value: d, lines };
  });

  const command = await steps.run("Signed execute_runbook command sent to the agent", async () => {
    const c = await until(
      "the command for the incident",
      async () => {
        const { commands } = await api.get<{ commands: CommandView[] }>(`/v1/clinics/${CLINIC}/commands`);
        return commands.find((x) => x.incident_id === incident.incident_id);
      },
      WAIT_MS,
    );
    const frame = JSON.parse(c.frame) as { command: unknown; signature: { value: string } };
    const valid = verifyBytes(
      agentConfig.control_plane.public_key,
      canonicalBytes(frame.command),
      Buffer.from(frame.signature.value, "base64"),
    );
    if (!valid) throw new DemoError(`command ${c.command_id} does not verify against the pinned key`);
    const keyId = keyIdOf(Buffer.from(agentConfig.control_plane.public_key, "base64"));
    const where = `source_dir=${String(c.params.source_dir)} repository_dir=${String(c.params.repository_dir)}`;
    return {
      value: c,
      lines: [
        `${c.command_id} ${c.runbook_id} ${where}`,
        `ed25519 signature over RFC 8785 canonical JSON: valid for the pinned key ${keyId}`,
      ],
    };
  });

  const execution = await steps.run("Agent verified and ran RB-BACKUP-001", async () => {
    const done = await until(
      "the command to finish on the agent",
      async () => {
        const { commands } = await api.get<{ commands: CommandView[] }>(`/v1/clinics/${CLINIC}/commands`);
        const x = commands.find((y) => y.command_id === command.command_id);
        return x !== undefined && ["succeeded", "failed", "refused", "expired"].includes(x.status)
          ? x
          : undefined;
      },
      WAIT_MS,
    );
    if (done.status !== "succeeded" || done.bundle_id === null) {
      throw new DemoError(
        `command ${done.command_id} ${done.status}: ${done.status_reason ?? "no reason given"}`,
      );
    }
    const { bundle } = await api.get<{ bundle: EvidenceBundle }>(
      `/v1/clinics/${CLINIC}/evidence/${done.bundle_id}`,
    );
    const out = (k: string) => bundle.actions_taken.map((a) => a.outputs[k]).find((v) => v !== undefined);
    const backupId = out("backup_id") ?? "";
    const backupDir = out("backup_path") ?? "";
    const stray = outside(l.root, [backupDir]);
    if (backupId === "" || stray.length > 0)
      throw new DemoError(`the runbook reported backup "${backupDir}"`);
    return {
      value: { done, bundle, backupId, backupDir },
      lines: [
        ...bundle.actions_taken.map(
          (a) =>
            `${a.phase.padEnd(10)} ${a.action.padEnd(22)} ${a.result.padEnd(7)} exit ${a.exit_code ?? "-"}  ${a.duration_ms} ms`,
        ),
        `outcome ${bundle.execution?.outcome}; new backup ${backupDir}`,
        `archive sha256 ${out("archive_sha256")}, ${out("files_backed_up")} files, verified ${out("backup_verified")}`,
      ],
    };
  });

  const resolved = await steps.run(
    "Signed evidence bundle verified and stored; incident resolved",
    async () => {
      const one = await api.get<{ verification: { signature: string; body_intact: boolean } }>(
        `/v1/clinics/${CLINIC}/evidence/${execution.bundle.bundle_id}`,
      );
      if (one.verification.signature !== "valid" || !one.verification.body_intact) {
        throw new DemoError(`bundle ${execution.bundle.bundle_id}: ${JSON.stringify(one.verification)}`);
      }
      const done = await until(
        "the incident to be resolved",
        async () => {
          const { incident: i } = await api.get<{ incident: IncidentView }>(
            `/v1/clinics/${CLINIC}/incidents/${incident.incident_id}`,
          );
          return i.bundle_id !== null ? i : undefined;
        },
        WAIT_MS,
      );
      const { anomalies } = await api.get<{ anomalies: unknown[] }>(`/v1/clinics/${CLINIC}/anomalies`);
      if (anomalies.length > 0)
        throw new DemoError(`chain anomalies: ${JSON.stringify(anomalies).slice(0, 500)}`);
      return {
        value: done,
        lines: [
          `${execution.bundle.bundle_id} (seq ${execution.bundle.seq}): signature valid, body intact; agent chain has no gaps or forks`,
          `incident ${done.status}, MTTR ${done.mttr_seconds ?? "?"} s, SLA ${done.sla_met ? "met" : "missed"}`,
        ],
      };
    },
  );

  // The agent checks drift once an hour; a restart runs the next cycle now, so the fix is confirmed by evidence.
  const stored = await steps.run(
    "msp-agent restarted: backup freshness re-check passes; all evidence acked",
    async () => {
      await stopAgent(drift.d);
      const again = await startAgent();
      const result = await until(
        "a newer drift result of ehr_backup_fresh",
        async () => {
          const rows = await driftRows();
          return rows.find((r) => r.check_id === "ehr_backup_fresh" && r.seq > drift.result.seq);
        },
        WAIT_MS,
      );
      if (result.status !== "pass") throw new DemoError(`the backup check still reports ${result.status}`);
      const { chains } = await api.get<{ chains: { agent_id: string; acked_seq: number }[] }>(
        `/v1/clinics/${CLINIC}/chains`,
      );
      const head = await stopAgent(again);
      const atCp = chains.find((c) => c.agent_id === AGENT)?.acked_seq;
      const { bundles } = await api.get<{ bundles: unknown[] }>(`/v1/clinics/${CLINIC}/evidence?limit=500`);
      if (head.acked_seq !== head.last_seq || atCp !== head.last_seq || bundles.length !== head.last_seq) {
        throw new DemoError(
          `agent outbox acked ${head.acked_seq} of ${head.last_seq}; control plane holds ${bundles.length}, acked to ${atCp}`,
        );
      }
      return {
        value: { bundles: bundles.length, head },
        lines: [
          `ehr_backup_fresh: PASS (drift bundle ${result.bundle_id})`,
          `agent stopped; its outbox is acked up to seq ${head.acked_seq} of ${head.last_seq}; the control plane holds all ${bundles.length}`,
        ],
      };
    },
  );

  const wormObject = await steps.run("WORM upload by the control plane (local directory)", async () => {
    const dir = config.worm.kind === "local" ? config.worm.dir : "";
    const sha = bundleHash(execution.bundle);
    const entry = await until(
      "the runbook bundle in the WORM retention index",
      async () => {
        let text = "";
        try {
          text = readFileSync(join(dir, "retention-index.jsonl"), "utf8");
        } catch {
          return undefined;
        }
        return text
          .split("\n")
          .filter((x) => x !== "")
          .map(
            (x) => JSON.parse(x) as { key: string; version_id: string; sha256: string; retain_until: string },
          )
          .find((e) => e.key.endsWith(`_${execution.bundle.bundle_id}.json`));
      },
      WAIT_MS,
    );
    if (entry.sha256 !== sha)
      throw new DemoError(`WORM holds sha256 ${entry.sha256} for a bundle hashing to ${sha}`);
    const file = join(dir, "objects", entry.key, entry.version_id);
    const onDisk = bundleHash(JSON.parse(readFileSync(file, "utf8")) as EvidenceBundle);
    if (onDisk !== sha) throw new DemoError(`${file} no longer matches the bundle`);
    return {
      value: file,
      lines: [
        `object    ${file}`,
        `sha256    ${sha}; COMPLIANCE retention until ${entry.retain_until.slice(0, 10)}`,
        "NOTE      the local WORM directory is NOT tamper-proof (anyone with write access can delete it);",
        "          production uses S3 Object Lock in COMPLIANCE mode.",
      ],
    };
  });

  const cpCode = await dep.cp.stop();
  if (cpCode !== 0) throw new DemoError(`msp-cp serve exited with ${cpCode} on SIGTERM; log ${dep.cpLog}`);
  return {
    agentLog,
    incident: resolved,
    decision,
    command: execution.done,
    bundle: execution.bundle,
    backupId: execution.backupId,
    backupDir: execution.backupDir,
    bundlesStored: stored.bundles,
    head: stored.head,
    wormObject,
  };
}
