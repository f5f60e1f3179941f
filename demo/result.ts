/**
 * What a demo run produced, written to `<dir>/demo-result.json` so a script
 * (and test/demo) can check the run by its results rather than its wording.
 * Every path is absolute and inside the demo directory.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PacketOutcome } from "./packet.js";

/** The repository root (this file lives in `<root>/demo`). */
export const REPO_ROOT = resolve(import.meta.dirname, "..");

/** The built commands the demo runs, exactly as an operator would. */
export const COMMANDS = {
  cp: join(REPO_ROOT, "control-plane", "dist", "cli", "main.js"),
  agent: join(REPO_ROOT, "agent", "dist", "cli", "main.js"),
  verify: join(REPO_ROOT, "control-plane", "dist", "verify", "cli.js"),
} as const;

/** The runbook library the agent loads (outside its single executable it needs `runbooks_dir`). */
export const RUNBOOKS_DIR = join(REPO_ROOT, "runbooks");

/** The built commands that are missing (empty when `tsc -b` has run). */
export function missingBuild(): string[] {
  return Object.values(COMMANDS).filter((p) => !existsSync(p));
}

/** Default demo directory: `.demo` at the repository root (git-ignored). */
export const DEFAULT_DEMO_DIR = join(REPO_ROOT, ".demo");

/** The result file's content. */
export interface DemoResult {
  format: "msp-demo-result/1";
  ok: true;
  dir: string;
  clinic_id: string;
  agent_id: string;
  control_plane: {
    config: string;
    admin_key_file: string;
    ca_file: string;
    url: string;
    /** The control plane's ed25519 public key (base64), as the auditor pins it. */
    public_key: string;
    log: string;
  };
  agent: { config: string; baseline: string; state_dir: string; log: string };
  incident: {
    incident_id: string;
    incident_type: string;
    severity: string;
    status: string;
    mttr_seconds: number | null;
  };
  plan: { planner: string; runbook_id: string; confidence: number; requires_approval: boolean };
  command: { command_id: string; status: string; signature_valid: boolean; params: Record<string, unknown> };
  execution: { bundle_id: string; outcome: string; backup_id: string; backup_dir: string };
  evidence: { bundles_stored: number; acked_seq: number; last_seq: number };
  worm: { dir: string; tamper_proof: false; runbook_object: string; checkpoint_object: string };
  checkpoint: { day: string; bundle_count: number; root: string };
  packet: PacketOutcome;
  export: { dir: string; bundles: number };
  verify: {
    ok: boolean;
    bundles: number;
    bundles_failed: number;
    withheld: number;
    checkpoints: number;
    checkpoints_failed: number;
  };
  timings_ms: { step: string; ms: number }[];
  total_ms: number;
}
