/**
 * The auditor's offline verifier (issue 7): given an exported evidence
 * directory (control-plane/src/export) and public keys only, it checks every
 * bundle's signature with tweetnacl (the implementation independent of the
 * control plane's node:crypto), every hash against the manifest, every agent's
 * prev_hash chain, every bundle's place under its day's signed checkpoint, and,
 * given read access to the WORM bucket, that each object version exists in
 * COMPLIANCE mode for long enough. It never stops at the first failure and
 * never throws for bad evidence: the report names every bundle, seq and day
 * that is wrong. Withheld bundles are named by agent and seq from chain gaps
 * and from the checkpoints' per-agent seq ranges.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  bundleSigningBytes,
  canonicalBytes,
  decodePublicKey,
  EvidenceBundle,
  GENESIS_HASH,
  HIPAA_RETENTION_YEARS,
  keyIdOf,
  MspError,
  sha256Hex,
  verifyChain,
} from "@msp/shared";
import { naclVerify } from "@msp/shared/nacl";
import { EvidenceManifest, type ManifestBundle } from "../export/manifest.js";
import type { ObjectStore } from "../worm/index.js";
import { type DayVerdict, verifyDay } from "./checkpoints.js";
import {
  type BundleReport,
  bundleName,
  type ChainVerdict,
  type Check,
  type CheckpointReport,
  fail,
  pass,
  skip,
  type VerifyReport,
  type WithheldBundle,
} from "./report.js";
import { checkWorm } from "./worm.js";

export { type Check, formatReport, type VerifyReport } from "./report.js";

/** Options of {@link verifyEvidenceSet}. */
export interface VerifyOptions {
  /**
   * The control plane's base64 ed25519 public key as the auditor pinned it.
   * Without it the manifest's key is used, and the report says so: a set
   * checked against its own key proves consistency, not origin.
   */
  controlPlanePublicKey?: string;
  /** Read access to the WORM bucket; without it retention is reported as not checked. */
  objectStore?: Pick<ObjectStore, "get" | "head" | "retention">;
  /** Years each bundle must stay locked after its created_at; default 6 (HIPAA 164.316(b)(2)(i)). */
  retentionYears?: number;
}

interface Loaded {
  entry: ManifestBundle;
  report: BundleReport;
  bundle: EvidenceBundle | null;
  /** True when the file's signature and hash checks passed. */
  sound: boolean;
}

/**
 * Verifies the evidence directory `dir`. Throws `invalid_input` only for a
 * usage problem (no such directory, a malformed pinned key, a bad retention);
 * everything wrong with the evidence is in the returned report.
 */
export async function verifyEvidenceSet(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const years = options.retentionYears ?? HIPAA_RETENTION_YEARS;
  if (!Number.isInteger(years) || years < 1 || years > 100) {
    throw new MspError("invalid_input", `retention must be 1 to 100 whole years, got ${years}`);
  }
  if (options.controlPlanePublicKey !== undefined) decodePublicKey(options.controlPlanePublicKey);
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new MspError("invalid_input", `${dir} is not a directory`);

  const report: VerifyReport = {
    ok: false,
    dir,
    client_id: null,
    range: null,
    control_plane_key: {
      key_id: null,
      source: options.controlPlanePublicKey ? "pinned" : "manifest",
      note: null,
    },
    bundles: [],
    chains: [],
    checkpoints: [],
    withheld: [],
    errors: [],
    summary: {
      bundles: 0,
      bundles_failed: 0,
      withheld: 0,
      chains_failed: 0,
      checkpoints: 0,
      checkpoints_failed: 0,
      worm_checked: options.objectStore !== undefined,
    },
  };
  const manifest = await readManifest(dir, report.errors);
  if (manifest === null) return finish(report);
  report.client_id = manifest.client_id;
  report.range = manifest.range;

  const cpKey = options.controlPlanePublicKey ?? manifest.control_plane.public_key;
  report.control_plane_key.key_id = keyIdOf(decodePublicKey(cpKey));
  if (options.controlPlanePublicKey === undefined) {
    report.control_plane_key.note =
      "no key pinned: checkpoints checked against the key the manifest names, which proves consistency, not origin";
  } else if (options.controlPlanePublicKey !== manifest.control_plane.public_key) {
    report.control_plane_key.note = `the manifest names a different key (${manifest.control_plane.key_id})`;
  }

  const agentKeys = new Map(manifest.agents.map((a) => [a.agent_id, a.evidence_public_key]));
  const loaded: Loaded[] = [];
  for (const entry of manifest.bundles) loaded.push(await loadBundle(dir, entry, manifest, agentKeys));
  report.bundles = loaded.map((l) => l.report);
  await reportUnlisted(dir, manifest, report.errors);

  report.chains = checkChains(loaded, report.withheld);

  const days = new Map<string, DayVerdict>();
  for (const entry of manifest.checkpoints) {
    const verdict = await verifyDay(dir, entry, manifest, cpKey, report.withheld);
    days.set(entry.day, verdict);
    report.checkpoints.push(verdict.report);
  }
  checkInclusion(loaded, days, manifest);

  if (options.objectStore !== undefined) {
    const cps = manifest.checkpoints.map((entry, i) => ({
      entry,
      report: report.checkpoints[i] as CheckpointReport,
    }));
    await checkWorm(options.objectStore, loaded, cps, years);
  }
  dedupeWithheld(report);
  for (const b of report.bundles) b.ok = Object.values(b.checks).every((c) => c.status !== "fail");
  for (const c of report.checkpoints) c.ok = Object.values(c.checks).every((x) => x.status !== "fail");
  return finish(report);
}

async function readManifest(dir: string, errors: string[]): Promise<EvidenceManifest | null> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8"));
  } catch (e) {
    errors.push(`manifest.json cannot be read as JSON: ${(e as Error).message}`);
    return null;
  }
  const parsed = EvidenceManifest.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    errors.push(`manifest.json is not an msp-evidence-export/1: ${issue?.path.join(".")}: ${issue?.message}`);
    return null;
  }
  return parsed.data;
}

async function loadBundle(
  dir: string,
  entry: ManifestBundle,
  manifest: EvidenceManifest,
  agentKeys: Map<string, string>,
): Promise<Loaded> {
  const report: BundleReport = {
    agent_id: entry.agent_id,
    seq: entry.seq,
    bundle_id: entry.bundle_id,
    file: entry.file,
    ok: false,
    checks: {
      signature: skip("not checked"),
      hash: skip("not checked"),
      chain: skip("not checked"),
      checkpoint: skip("not checked"),
      worm: skip("no object store given"),
    },
  };
  const out: Loaded = { entry, report, bundle: null, sound: false };
  if (entry.file !== `bundles/${entry.agent_id}/${entry.seq}.json`) {
    report.checks.hash = fail(`the manifest points at ${entry.file}, not this bundle's file`);
    return out;
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, entry.file));
  } catch {
    report.checks.hash = fail("the file is missing");
    report.checks.signature = fail("the file is missing");
    return out;
  }
  const actual = sha256Hex(bytes);
  report.checks.hash =
    actual === entry.sha256
      ? pass(`sha256 ${actual.slice(0, 16)}… matches the manifest`)
      : fail(`sha256 ${actual.slice(0, 16)}… differs from the manifest's ${entry.sha256.slice(0, 16)}…`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    report.checks.signature = fail("the file is not valid JSON");
    return out;
  }
  const parsed = EvidenceBundle.safeParse(value);
  if (!parsed.success) {
    report.checks.signature = fail("the file is not a valid evidence bundle");
    return out;
  }
  const bundle = parsed.data;
  out.bundle = bundle;
  if (report.checks.hash.status === "pass" && !canonicalBytes(bundle).equals(bytes)) {
    report.checks.hash = fail(
      "the file is not in RFC 8785 canonical form, so its hash is not the bundle hash",
    );
  }
  const who = `${bundle.client_id}/${bundle.agent_id}#${bundle.seq} ${bundle.bundle_id}`;
  if (
    bundle.client_id !== manifest.client_id ||
    bundle.agent_id !== entry.agent_id ||
    bundle.seq !== entry.seq ||
    bundle.bundle_id !== entry.bundle_id
  ) {
    report.checks.signature = fail(`the file holds ${who}, not the bundle the manifest lists`);
    return out;
  }
  const key = agentKeys.get(entry.agent_id);
  if (key === undefined) {
    report.checks.signature = fail(`no evidence public key for agent ${entry.agent_id} in the manifest`);
    return out;
  }
  const publicKey = decodePublicKey(key);
  if (bundle.signature.key_id !== keyIdOf(publicKey)) {
    report.checks.signature = fail(
      `signed by key ${bundle.signature.key_id}, not the agent's ${keyIdOf(publicKey)}`,
    );
    return out;
  }
  const ok = naclVerify(publicKey, bundleSigningBytes(bundle), Buffer.from(bundle.signature.value, "base64"));
  report.checks.signature = ok
    ? pass(`ed25519 signature by ${bundle.signature.key_id} verifies (tweetnacl)`)
    : fail("the ed25519 signature does not verify");
  out.sound = ok && report.checks.hash.status === "pass";
  return out;
}

/** Per agent: verifyChain over the parsed bundles; gaps not explained by a damaged file are withheld bundles. */
function checkChains(loaded: readonly Loaded[], withheld: WithheldBundle[]): ChainVerdict[] {
  const byAgent = new Map<string, Loaded[]>();
  for (const l of loaded) byAgent.set(l.entry.agent_id, [...(byAgent.get(l.entry.agent_id) ?? []), l]);
  const verdicts: ChainVerdict[] = [];
  for (const [agentId, list] of [...byAgent].sort(([a], [b]) => (a < b ? -1 : 1))) {
    list.sort((a, b) => a.entry.seq - b.entry.seq);
    const listed = new Set(list.map((l) => l.entry.seq));
    const bySeq = new Map(list.map((l) => [l.entry.seq, l]));
    const parsed = list.filter((l) => l.bundle !== null);
    const first = parsed[0]?.bundle ?? undefined;
    // An export that starts mid-chain anchors at its first bundle's own prev_hash; the link before it lies outside the range.
    const anchor =
      first === undefined || first === null || first.seq === 1
        ? { seq: 0, hash: GENESIS_HASH }
        : { seq: first.seq - 1, hash: first.prev_hash };
    const chain = verifyChain(
      parsed.map((l) => l.bundle as EvidenceBundle),
      anchor,
    );
    const problems: string[] = [];
    const badAt = new Map<number, Check>();
    for (const p of chain.problems) {
      if (p.kind === "gap") {
        const absent: number[] = [];
        for (let s = p.missing_from; s <= p.missing_to; s++) if (!listed.has(s)) absent.push(s);
        for (const s of absent)
          withheld.push({ agent_id: agentId, seq: s, day: null, found_by: "chain_gap" });
        if (absent.length > 0) problems.push(`gap: seq ${absent.join(", ")} not in the export`);
      } else if (p.kind === "broken_link" && bySeq.get(p.seq - 1)?.sound === false) {
        badAt.set(p.seq, skip(`the previous bundle seq ${p.seq - 1} is itself damaged`));
      } else {
        problems.push(p.message);
        if ("seq" in p) badAt.set(p.seq, fail(p.message));
      }
    }
    for (const l of list) {
      const bad = badAt.get(l.entry.seq);
      if (l.bundle === null) l.report.checks.chain = skip("the bundle could not be read");
      else if (bad !== undefined) l.report.checks.chain = bad;
      else if (l.bundle.seq === anchor.seq + 1)
        l.report.checks.chain = pass(
          anchor.seq === 0
            ? "links to genesis"
            : `first exported bundle; seq ${anchor.seq} is outside the export`,
        );
      else if (!bySeq.has(l.entry.seq - 1) || bySeq.get(l.entry.seq - 1)?.bundle === null)
        l.report.checks.chain = skip(`seq ${l.entry.seq - 1} is not available to link to`);
      else l.report.checks.chain = pass(`prev_hash is the hash of seq ${l.entry.seq - 1}`);
    }
    verdicts.push({
      agent_id: agentId,
      ok: problems.length === 0,
      count: list.length,
      first_seq: list[0]?.entry.seq ?? null,
      last_seq: list.at(-1)?.entry.seq ?? null,
      problems,
    });
  }
  return verdicts;
}

/** Each bundle's place under its day's checkpoint; see `checkpoints.ts` for the day itself. */
function checkInclusion(
  loaded: readonly Loaded[],
  days: Map<string, DayVerdict>,
  manifest: EvidenceManifest,
): void {
  const exportDay = manifest.exported_at.slice(0, 10);
  for (const l of loaded) {
    const day = l.entry.received_day;
    const verdict = days.get(day);
    const c = l.report.checks;
    if (verdict === undefined) {
      c.checkpoint =
        day >= exportDay
          ? skip(`day ${day} had not ended when the set was exported, so it has no checkpoint yet`)
          : fail(`no signed checkpoint for day ${day} in the export`);
    } else if (verdict.report.checks.signature.status !== "pass") {
      c.checkpoint = fail(`the checkpoint of ${day} does not verify`);
    } else if (verdict.reconciled) {
      c.checkpoint =
        c.hash.status === "pass"
          ? pass(`a leaf of the signed root of ${day}`)
          : fail(`the file's hash is not the leaf the checkpoint of ${day} signed`);
    } else {
      const r = verdict.ranges.get(l.entry.agent_id);
      c.checkpoint =
        r !== undefined && l.entry.seq >= r[0] && l.entry.seq <= r[1]
          ? skip(`day ${day} does not reconcile with its checkpoint, so inclusion cannot be proven`)
          : fail(`not covered by the checkpoint of ${day}`);
    }
  }
}

/** Files under bundles/ the manifest does not list: evidence present but unaccounted for. */
async function reportUnlisted(dir: string, manifest: EvidenceManifest, errors: string[]): Promise<void> {
  const listed = new Set(manifest.bundles.map((b) => b.file));
  const agents = await readdir(join(dir, "bundles")).catch(() => [] as string[]);
  for (const agent of agents.sort()) {
    const files = await readdir(join(dir, "bundles", agent)).catch(() => [] as string[]);
    for (const f of files.sort()) {
      const rel = `bundles/${agent}/${f}`;
      if (!listed.has(rel)) errors.push(`${rel} is in the directory but not in the manifest`);
    }
  }
}

/** A seq found both by a chain gap and by a checkpoint is one withheld bundle; keep the entry with its day. */
function dedupeWithheld(report: VerifyReport): void {
  const seen = new Map<string, WithheldBundle>();
  for (const w of report.withheld) {
    const k = `${w.agent_id}#${w.seq}`;
    const prior = seen.get(k);
    if (prior === undefined || (prior.day === null && w.day !== null)) seen.set(k, w);
  }
  report.withheld = [...seen.values()].sort((a, b) =>
    a.agent_id === b.agent_id ? a.seq - b.seq : a.agent_id < b.agent_id ? -1 : 1,
  );
}

function finish(report: VerifyReport): VerifyReport {
  const s = report.summary;
  s.bundles = report.bundles.length;
  s.bundles_failed = report.bundles.filter((b) => !b.ok).length;
  s.withheld = report.withheld.length;
  s.chains_failed = report.chains.filter((c) => !c.ok).length;
  s.checkpoints = report.checkpoints.length;
  s.checkpoints_failed = report.checkpoints.filter((c: CheckpointReport) => !c.ok).length;
  report.ok =
    report.errors.length === 0 &&
    s.bundles_failed === 0 &&
    s.withheld === 0 &&
    s.chains_failed === 0 &&
    s.checkpoints_failed === 0;
  return report;
}

export { bundleName };
