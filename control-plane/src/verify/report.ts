/**
 * The report of the auditor's offline verifier, as values: every check is
 * `pass`, `fail` or `skip` with a sentence saying why, so one run reports all
 * that is wrong rather than stopping at the first failure.
 */

/** The outcome of one check. */
export interface Check {
  status: "pass" | "fail" | "skip";
  detail: string;
}

/** The checks on one exported bundle. */
export interface BundleReport {
  agent_id: string;
  seq: number;
  bundle_id: string;
  file: string;
  ok: boolean;
  checks: {
    /** ed25519 signature by the agent's key (tweetnacl), over the canonical bytes. */
    signature: Check;
    /** The file's sha256 equals the manifest's, and the file is in canonical form. */
    hash: Check;
    /** The prev_hash link to the previous bundle of the agent. */
    chain: Check;
    /** The bundle's hash is a leaf of its day's signed checkpoint root. */
    checkpoint: Check;
    /** The WORM version exists, COMPLIANCE, retained long enough, same bytes (only with an object store). */
    worm: Check;
  };
}

/** A bundle the evidence shows existed but the export does not hold. */
export interface WithheldBundle {
  agent_id: string;
  seq: number;
  /** The checkpoint day that lists it, when known. */
  day: string | null;
  /** What revealed it: a gap in the agent's chain, or a checkpoint's seq range. */
  found_by: "chain_gap" | "checkpoint";
}

/** One agent's chain verdict over the exported bundles. */
export interface ChainVerdict {
  agent_id: string;
  ok: boolean;
  count: number;
  first_seq: number | null;
  last_seq: number | null;
  problems: string[];
}

/** One day's checkpoint verdict. */
export interface CheckpointReport {
  day: string;
  file: string | null;
  ok: boolean;
  checks: {
    /** Schema, key id and ed25519 signature by the control-plane key. */
    signature: Check;
    /** Count and root recomputed from the exported bundles of the day, in leaf order. */
    reconcile: Check;
    worm: Check;
  };
}

/** The whole report. */
export interface VerifyReport {
  ok: boolean;
  dir: string;
  client_id: string | null;
  range: { from: string; to: string } | null;
  control_plane_key: { key_id: string | null; source: "pinned" | "manifest"; note: string | null };
  bundles: BundleReport[];
  chains: ChainVerdict[];
  checkpoints: CheckpointReport[];
  withheld: WithheldBundle[];
  /** Problems with the set as a whole (unreadable manifest, unknown agent keys, files not listed). */
  errors: string[];
  summary: {
    bundles: number;
    bundles_failed: number;
    withheld: number;
    chains_failed: number;
    checkpoints: number;
    checkpoints_failed: number;
    worm_checked: boolean;
  };
}

/** Shorthands for building checks. */
export const pass = (detail: string): Check => ({ status: "pass", detail });
export const fail = (detail: string): Check => ({ status: "fail", detail });
export const skip = (detail: string): Check => ({ status: "skip", detail });

/** The name an auditor reads: `agent#seq (bundle id)`. */
export function bundleName(b: { agent_id: string; seq: number; bundle_id?: string }): string {
  return b.bundle_id === undefined ? `${b.agent_id}#${b.seq}` : `${b.agent_id}#${b.seq} (${b.bundle_id})`;
}

/**
 * The human report: one line per failing bundle, withheld bundle, chain and
 * checkpoint, each naming it, then a summary line with PASS or FAIL.
 */
export function formatReport(r: VerifyReport): string {
  const lines: string[] = [];
  lines.push(`msp-verify ${r.dir}: clinic ${r.client_id ?? "?"}, days ${r.range?.from}..${r.range?.to}`);
  lines.push(
    `control-plane key ${r.control_plane_key.key_id ?? "?"} (${r.control_plane_key.source})${r.control_plane_key.note ? `: ${r.control_plane_key.note}` : ""}`,
  );
  for (const e of r.errors) lines.push(`ERROR ${e}`);
  for (const c of r.checkpoints) {
    if (c.ok) continue;
    const why = Object.entries(c.checks)
      .filter(([, v]) => v.status === "fail")
      .map(([k, v]) => `${k}: ${v.detail}`);
    lines.push(`FAIL checkpoint ${c.day}: ${why.join("; ")}`);
  }
  for (const w of r.withheld) {
    lines.push(
      `FAIL withheld bundle ${bundleName(w)}${w.day ? ` (day ${w.day})` : ""}: found by ${w.found_by.replace("_", " ")}, not in the export`,
    );
  }
  for (const c of r.chains) {
    if (!c.ok) lines.push(`FAIL chain ${c.agent_id}: ${c.problems.join("; ")}`);
  }
  for (const b of r.bundles) {
    if (b.ok) continue;
    const why = Object.entries(b.checks)
      .filter(([, v]) => v.status === "fail")
      .map(([k, v]) => `${k}: ${v.detail}`);
    lines.push(`FAIL bundle ${bundleName(b)} ${b.file}: ${why.join("; ")}`);
  }
  const s = r.summary;
  lines.push(
    `${r.ok ? "PASS" : "FAIL"}: ${s.bundles - s.bundles_failed}/${s.bundles} bundles verified, ${s.withheld} withheld, ` +
      `${s.chains_failed} broken chains, ${s.checkpoints - s.checkpoints_failed}/${s.checkpoints} checkpoints verified, ` +
      `WORM retention ${s.worm_checked ? "checked" : "not checked (no S3 credentials given)"}`,
  );
  return `${lines.join("\n")}\n`;
}
