/**
 * What one evidence bundle contributes to a packet: every field a section
 * reads, and nothing else. `factsOf` is the one place a packet looks inside a
 * bundle; the sections (sections.ts, posture.ts) only aggregate facts. Facts
 * are extracted once, when the bundle is stored (the control plane's
 * `onStored` hooks), or from the stored body the first time a packet needs
 * a bundle that has none (facts-table.ts), and kept in `packet_facts`.
 *
 * `FACTS_VERSION` names this extraction. Changing what `factsOf` keeps or how
 * it reads a bundle must bump it: rows of another version are derived again
 * from the stored bodies before the next packet uses them.
 */
import type { DriftResult, EvidenceBundle } from "@msp/shared";

/** The version of {@link factsOf} stored with every row. */
export const FACTS_VERSION = 1;

/**
 * The runbook outputs a packet quotes: RB-BACKUP-001's backup id and hashes,
 * RB-RESTORE-001's restore results.
 */
export const OUTPUT_KEYS = [
  "archive_sha256",
  "backup_id",
  "manifest_sha256",
  "restore_backup_id",
  "restore_archive_sha256",
  "files_verified",
  "mismatches",
  "restore_status",
] as const;
export type OutputKey = (typeof OUTPUT_KEYS)[number];

/** One drift result, as the sections read it. */
export interface ResultFacts {
  check_id: string;
  event_type: DriftResult["event_type"];
  status: DriftResult["status"];
  citation: readonly string[];
  observed: string;
  exception: DriftResult["exception"];
}

/** One bundle's contribution to a packet. */
export interface BundleFacts {
  hostname: string;
  drift: { baseline_id: string; baseline_version: string; results: ResultFacts[] } | null;
  incident: NonNullable<EvidenceBundle["incident"]> | null;
  runbook_id: string | null;
  execution: Pick<
    NonNullable<EvidenceBundle["execution"]>,
    "outcome" | "trigger" | "mttr_seconds" | "sla_met"
  > | null;
  hipaa_controls: readonly string[];
  /** The value of each of {@link OUTPUT_KEYS} the bundle states (see {@link factsOf}); absent keys were not printed. */
  outputs: Partial<Record<OutputKey, string>>;
}

/**
 * The facts of a bundle. An output is the last value any action printed for
 * the key, else the bundle-level value: a retried or later step restates the
 * result.
 */
export function factsOf(bundle: EvidenceBundle): BundleFacts {
  const outputs: Partial<Record<OutputKey, string>> = {};
  for (const key of OUTPUT_KEYS) {
    let found: string | undefined;
    for (const a of bundle.actions_taken) {
      const v = a.outputs[key];
      if (v !== undefined) found = v;
    }
    found ??= bundle.outputs[key];
    if (found !== undefined) outputs[key] = found;
  }
  const { drift, execution } = bundle;
  return {
    hostname: bundle.hostname,
    drift:
      drift === null
        ? null
        : {
            baseline_id: drift.baseline_id,
            baseline_version: drift.baseline_version,
            results: drift.results.map((r) => ({
              check_id: r.check_id,
              event_type: r.event_type,
              status: r.status,
              citation: r.citation,
              observed: r.observed,
              exception: r.exception,
            })),
          },
    incident: bundle.incident,
    runbook_id: bundle.runbook?.runbook_id ?? null,
    execution:
      execution === null
        ? null
        : {
            outcome: execution.outcome,
            trigger: execution.trigger,
            mttr_seconds: execution.mttr_seconds,
            sla_met: execution.sla_met,
          },
    hipaa_controls: bundle.hipaa_controls,
    outputs,
  };
}

/** A drift result as stored: a tuple, since a month holds hundreds of thousands. */
type StoredResult = [
  ResultFacts["check_id"],
  ResultFacts["event_type"],
  ResultFacts["status"],
  ResultFacts["citation"],
  ResultFacts["observed"],
  ResultFacts["exception"],
];

interface StoredFacts extends Omit<BundleFacts, "drift"> {
  drift: { baseline_id: string; baseline_version: string; results: StoredResult[] } | null;
}

/** The JSON stored in `packet_facts.facts`: the facts with each drift result as a tuple. */
export function encodeFacts(f: BundleFacts): string {
  const stored: StoredFacts = {
    ...f,
    drift:
      f.drift === null
        ? null
        : {
            ...f.drift,
            results: f.drift.results.map((r) => [
              r.check_id,
              r.event_type,
              r.status,
              r.citation,
              r.observed,
              r.exception,
            ]),
          },
  };
  return JSON.stringify(stored);
}

/** The inverse of {@link encodeFacts}. The text was written by it, from a verified bundle. */
export function decodeFacts(json: string): BundleFacts {
  const s = JSON.parse(json) as StoredFacts;
  if (s.drift !== null) {
    const results = s.drift.results;
    const out: ResultFacts[] = new Array(results.length);
    for (let i = 0; i < results.length; i++) {
      const [check_id, event_type, status, citation, observed, exception] = results[i] as StoredResult;
      out[i] = { check_id, event_type, status, citation, observed, exception };
    }
    // Decoded in place: this runs once per bundle of the month.
    (s.drift as unknown as { results: ResultFacts[] }).results = out;
  }
  return s as unknown as BundleFacts;
}
