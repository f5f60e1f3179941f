/**
 * The agent's commands. Each returns an exit code; output for humans goes to
 * stdout (or JSON with --json), logs to stderr.
 */
import { existsSync } from "node:fs";
import { fingerprintOf, generateSigningKey, PROTOCOL_VERSION, saveSigningKey } from "@msp/shared";
import type { ApprovalRecord } from "../runbook/index.js";
import type { AgentParts } from "../runtime/agent.js";
import { AGENT_VERSION } from "../version.js";
import type { Args } from "./args.js";

/** What every command receives. */
export interface CommandContext {
  args: Args;
  json: boolean;
  out: (text: string) => void;
  /** Built on first use, so `version` needs no config. */
  parts: () => AgentParts;
}

const print = (ctx: CommandContext, value: unknown, human: () => string) =>
  ctx.out(ctx.json ? JSON.stringify(value, null, 2) : human());

/** `msp-agent version`: agent and protocol versions. */
export async function versionCommand(ctx: CommandContext): Promise<number> {
  const info = { agent_version: AGENT_VERSION, protocol_version: PROTOCOL_VERSION, node: process.version };
  print(
    ctx,
    info,
    () => `msp-agent ${AGENT_VERSION} (protocol ${PROTOCOL_VERSION}, node ${process.version})`,
  );
  return 0;
}

/** `msp-agent keygen`: creates the ed25519 evidence key (0600) if it does not exist and prints its public half. */
export async function keygenCommand(ctx: CommandContext): Promise<number> {
  const parts = ctx.parts();
  const path = parts.config.evidence_key_file;
  if (!existsSync(path)) await saveSigningKey(path, generateSigningKey());
  const key = await parts.key();
  const info = {
    key_file: path,
    public_key: key.publicKey.toString("base64"),
    key_id: key.keyId,
    fingerprint: fingerprintOf(key.publicKey),
  };
  print(
    ctx,
    info,
    () => `evidence key ${path}\npublic key  ${info.public_key}\nfingerprint ${info.fingerprint}`,
  );
  return 0;
}

/** `msp-agent check`: one drift cycle, recorded as a signed bundle in the outbox. */
export async function checkCommand(ctx: CommandContext): Promise<number> {
  const runner = await ctx.parts().drift(() => undefined);
  const cycle = await runner.runCycle();
  const summary = {
    bundle_id: cycle.bundle.bundle_id,
    seq: cycle.bundle.seq,
    results: cycle.results,
    incidents: cycle.incidents.map((i) => ({
      incident_id: i.incident_id,
      type: i.incident_type,
      check_id: i.check_id,
    })),
  };
  print(ctx, summary, () =>
    [
      ...cycle.results.map(
        (r) =>
          `${r.status.toUpperCase().padEnd(7)} ${r.check_id.padEnd(24)} ${r.exception ? `[${r.exception.kind} ${r.exception.id}] ` : ""}${r.status === "pass" ? r.observed : `${r.observed} (expected ${r.expected})${r.reason ? `: ${r.reason}` : ""}`}`,
      ),
      `recorded ${cycle.bundle.bundle_id} (seq ${cycle.bundle.seq}); ${cycle.incidents.length} incident(s) raised`,
    ].join("\n"),
  );
  return 0;
}

/** `msp-agent runbook list|run ID [--param k=v ...] [--dry-run]`. */
export async function runbookCommand(ctx: CommandContext): Promise<number> {
  const [sub, id] = ctx.args.positional.slice(1);
  const executor = await ctx.parts().executor();
  if (sub === "list") {
    const list = executor.list();
    print(ctx, list, () => list.map((r) => JSON.stringify(r)).join("\n"));
    return 0;
  }
  if (sub !== "run" || id === undefined) {
    ctx.out("usage: msp-agent runbook list | runbook run RB-ID [--param name=value ...] [--dry-run]");
    return 2;
  }
  const approval: ApprovalRecord = { decision: "not_required", approver: null, decided_at: null };
  const bundle = await executor.run({
    runbookId: id,
    params: ctx.args.params,
    incident: null,
    commandId: null,
    trigger: "operator_cli",
    approval,
    dryRun: ctx.args.flags.has("dry-run"),
    operator: `cli:${process.env.SUDO_USER ?? process.env.USER ?? "root"}`,
  });
  const outcome = bundle.execution?.outcome ?? "unknown";
  print(ctx, bundle, () =>
    [
      ...bundle.actions_taken.map(
        (a) =>
          `${a.phase.padEnd(10)} ${a.action.padEnd(24)} ${a.result.padEnd(8)} exit=${a.exit_code ?? "-"} ${a.duration_ms}ms`,
      ),
      `${bundle.bundle_id} (seq ${bundle.seq}): ${outcome}${bundle.execution?.reason ? `: ${bundle.execution.reason}` : ""}`,
    ].join("\n"),
  );
  return outcome === "success" || outcome === "dry_run" ? 0 : 1;
}

/** `msp-agent status`: the outbox's chain head, acked position and size. */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  const parts = ctx.parts();
  const outbox = await parts.outbox();
  const info = {
    agent_id: parts.config.agent_id,
    client_id: parts.config.client_id,
    head: outbox.head(),
    outbox: outbox.stats(),
  };
  print(ctx, info, () =>
    [
      `agent ${info.agent_id} (clinic ${info.client_id})`,
      `chain head seq ${info.head.last_seq}, acknowledged up to ${info.head.acked_seq}`,
      `outbox ${info.outbox.rows} bundle(s), ${info.outbox.bytes} of ${info.outbox.max_bytes} bytes`,
    ].join("\n"),
  );
  return 0;
}

/** `msp-agent verify-outbox`: re-verifies every queued bundle's signature and the chain; exit 1 on any problem. */
export async function verifyOutboxCommand(ctx: CommandContext): Promise<number> {
  const report = (await ctx.parts().outbox()).verifyIntegrity();
  print(ctx, report, () =>
    report.ok
      ? `ok: ${report.rows} bundle(s) verified, chain intact from seq ${report.chain.first_seq ?? "-"} to ${report.chain.last_seq ?? "-"}`
      : [
          "FAILED:",
          ...report.bundles.map((b) => `  seq ${b.seq}: ${b.message}`),
          ...report.chain.problems.map((p) => `  ${p.message}`),
          ...report.head.map((h) => `  ${h}`),
        ].join("\n"),
  );
  return report.ok ? 0 : 1;
}
