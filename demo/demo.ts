/**
 * The one-command demo (`pnpm demo`): a control plane on embedded defaults,
 * an enrolled agent confined to a demo directory, a real backup-failure
 * incident remediated end to end, and the auditor's view of the evidence.
 * See docs/demo.md.
 */
import { writeFileSync } from "node:fs";
import type { Daemon } from "./children.js";
import { runAudit, runCheckpoint } from "./offline.js";
import { buildPacket } from "./packet.js";
import { runRemediation } from "./remediation.js";
import type { DemoResult } from "./result.js";
import { runSetup } from "./setup.js";
import { AGENT, CLINIC, layoutOf, prepareDemoDir } from "./site.js";
import { createSteps } from "./steps.js";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  dir: string;
  out: (line: string) => void;
}

/** Runs the demo; resolves with its result (also written to `<dir>/demo-result.json`), rejects on the first failed step. */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const l = layoutOf(o.dir);
  const steps = createSteps(o.out);
  const daemons: Daemon[] = [];
  try {
    await steps.run("Demo directory", async () => {
      const r = await prepareDemoDir(l.root);
      return {
        value: r,
        lines: [
          `${l.root} (${r.replaced ? "previous demo removed, recreated" : "new"})`,
          ...r.stopped.map((s) => `stopped a daemon the previous run left behind: ${s}`),
        ],
      };
    });
    const track = (d: Daemon) => daemons.push(d);
    const dep = await runSetup(l, steps, track);
    const live = await runRemediation(l, steps, track, dep);
    const cpPublicKey = dep.agentConfig.control_plane.public_key;
    const checkpoint = await runCheckpoint(steps, dep.init.config);
    const packet = await buildPacket(steps, {
      config: dep.init.config,
      configFile: dep.init.configFile,
      day: checkpoint.day,
      cpPublicKey: cpPublicKey,
      home: l.home,
    });
    const audit = await runAudit(l, steps, {
      configFile: dep.init.configFile,
      cpPublicKey: cpPublicKey,
      from: checkpoint.from,
      to: checkpoint.day,
    });
    const worm = dep.init.config.worm;
    const s = audit.report.summary;
    const result: DemoResult = {
      format: "msp-demo-result/1",
      ok: true,
      dir: l.root,
      clinic_id: CLINIC,
      agent_id: AGENT,
      control_plane: {
        config: dep.init.configFile,
        admin_key_file: dep.adminKeyFile,
        ca_file: dep.init.caFile,
        url: dep.url,
        public_key: cpPublicKey,
        log: dep.cpLog,
      },
      agent: { config: l.agentConfig, baseline: l.baseline, state_dir: l.agentState, log: live.agentLog },
      incident: {
        incident_id: live.incident.incident_id,
        incident_type: live.incident.incident_type,
        severity: live.incident.severity,
        status: live.incident.status,
        mttr_seconds: live.incident.mttr_seconds,
      },
      plan: {
        planner: live.decision.planner_kind,
        runbook_id: live.decision.runbook_id ?? "",
        confidence: live.decision.confidence,
        requires_approval: live.decision.requires_approval,
      },
      command: {
        command_id: live.command.command_id,
        status: live.command.status,
        // The remediation step fails unless the command's signature verified.
        signature_valid: true,
        params: live.command.params,
      },
      execution: {
        bundle_id: live.bundle.bundle_id,
        outcome: live.bundle.execution?.outcome ?? "",
        backup_id: live.backupId,
        backup_dir: live.backupDir,
      },
      evidence: {
        bundles_stored: live.bundlesStored,
        acked_seq: live.head.acked_seq,
        last_seq: live.head.last_seq,
      },
      worm: {
        dir: worm.kind === "local" ? worm.dir : "",
        tamper_proof: false,
        runbook_object: live.wormObject,
        checkpoint_object: checkpoint.object,
      },
      checkpoint: {
        day: checkpoint.day,
        bundle_count: checkpoint.bundle_count,
        root: checkpoint.root,
      },
      packet,
      export: { dir: audit.exportDir, bundles: audit.exported },
      verify: {
        ok: audit.report.ok,
        bundles: s.bundles,
        bundles_failed: s.bundles_failed,
        withheld: s.withheld,
        checkpoints: s.checkpoints,
        checkpoints_failed: s.checkpoints_failed,
      },
      timings_ms: steps.timings(),
      total_ms: steps.elapsedMs(),
    };
    writeFileSync(l.result, `${JSON.stringify(result, null, 2)}\n`);
    printWhere(o.out, result);
    return result;
  } finally {
    // Whatever failed, no daemon outlives the demo.
    await Promise.all(daemons.map((d) => d.stop(5_000).catch(() => null)));
  }
}

function printWhere(out: (line: string) => void, r: DemoResult): void {
  const rows: [string, string][] = [
    ["control-plane config", r.control_plane.config],
    ["admin API key", r.control_plane.admin_key_file],
    ["agent CA / trust", r.control_plane.ca_file],
    ["agent config", r.agent.config],
    ["drift baseline", r.agent.baseline],
    ["new backup", r.execution.backup_dir],
    ["WORM dir (NOT tamper-proof)", r.worm.dir],
    ["runbook evidence object", r.worm.runbook_object],
    ["checkpoint object", r.worm.checkpoint_object],
    ["evidence export", r.export.dir],
  ];
  rows.push(["packet (Markdown)", r.packet.markdown], ["packet (HTML)", r.packet.html]);
  rows.push(["packet (PDF)", r.packet.pdf ?? `skipped: ${r.packet.pdf_skipped_reason}`]);
  rows.push(["packet signature", r.packet.signature]);
  rows.push(
    ["logs", `${r.control_plane.log}, ${r.agent.log}`],
    ["result (JSON)", `${r.dir}/demo-result.json`],
  );
  out("");
  out(
    `Done in ${(r.total_ms / 1000).toFixed(1)} s (${process.uptime().toFixed(1)} s with Node and module start-up). Where everything is:`,
  );
  for (const [k, v] of rows) out(`  ${k.padEnd(28)} ${v}`);
  out("");
  out("The auditor's check, again by hand:");
  out(`  pnpm verify ${r.export.dir} --control-plane-key ${r.control_plane.public_key}`);
}
