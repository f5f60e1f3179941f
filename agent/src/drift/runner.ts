/**
 * The drift runner: one cycle runs every check of the baseline in order,
 * seals exactly one `drift_check` bundle through the evidence sink, and raises
 * one incident per failing check that no approved deviation covers.
 *
 * Findings are values. A check that crashes becomes an `error` result; only
 * a failure of the sink or of `onIncident` (the caller's own machinery) makes
 * `runCycle` reject, and even then every incident is delivered first, because
 * a full disk that breaks the outbox is exactly what the incident reports.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  AgentId,
  Baseline,
  ClinicId,
  type Clock,
  type DriftResult,
  type EvidenceBundle,
  HIPAA_CITATIONS,
  Hostname,
  type Incident,
  limits,
  parseWith,
  systemClock,
} from "@msp/shared";
import type { BundleDraft, EvidenceSink } from "../evidence/index.js";
import { runCheck } from "./checks.js";
import { type CheckContext, type CheckOutcome, errored, underRoot } from "./context.js";
import { coverageFor } from "./exceptions.js";
import { createExec, type Exec } from "./exec.js";
import { createSystemInfo, type SystemInfo } from "./sysinfo.js";

/** Everything a runner needs; host access is injected so tests point it at prepared inputs. */
export interface DriftRunnerOptions {
  baseline: Baseline;
  agentId: string;
  clientId: string;
  hostname: string;
  sink: EvidenceSink;
  /** Receives each incident; the transport forwards it to the control plane. */
  onIncident: (incident: Incident) => void | Promise<void>;
  clock?: Clock;
  exec?: Exec;
  sys?: SystemInfo;
  /** Prefix for every file path a check reads (default `/`); mounts and devices are the host's. */
  root?: string;
}

/** What one cycle produced. */
export interface DriftCycle {
  results: DriftResult[];
  bundle: EvidenceBundle;
  incidents: Incident[];
}

/** Runs drift cycles; cycles never overlap, so each has its own bundle. */
export interface DriftRunner {
  readonly baseline: Baseline;
  runCycle(): Promise<DriftCycle>;
}

const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);

function toResult(
  check: Baseline["checks"][number],
  out: CheckOutcome,
  baseline: Baseline,
  now: Date,
): DriftResult {
  const reasons = out.reason === null || out.reason === "" ? [] : [out.reason];
  let exception: DriftResult["exception"] = null;
  if (out.status === "fail") {
    const coverage = coverageFor(baseline, check.id, now);
    exception = coverage.exception;
    reasons.push(...coverage.notes);
  }
  return {
    check_id: check.id,
    status: out.status,
    citation: check.citation,
    observed: clip(out.observed, limits.MAX_TEXT_CHARS),
    expected: clip(out.expected, limits.MAX_TEXT_CHARS),
    reason: reasons.length === 0 ? null : clip(reasons.join("; "), limits.MAX_TEXT_CHARS),
    exception,
    // What a failure of this check raises; kept on every result so evidence can be grouped by it.
    event_type: check.event_type,
  };
}

/** Creates a runner; fails fast on an invalid baseline or identity. */
export function createDriftRunner(options: DriftRunnerOptions): DriftRunner {
  const baseline = parseWith(Baseline, options.baseline, "drift baseline");
  // Incidents carry these; an invalid one would make every incident unsendable, so refuse it now.
  parseWith(AgentId, options.agentId, "agent id");
  parseWith(ClinicId, options.clientId, "client id");
  parseWith(Hostname, options.hostname, "hostname");
  const root = options.root ?? "/";
  if (!root.startsWith("/")) throw new RangeError("createDriftRunner: root must be an absolute path");
  const clock = options.clock ?? systemClock;
  const ctx: CheckContext = {
    exec: options.exec ?? createExec(),
    sys: options.sys ?? createSystemInfo(),
    clock,
    path: underRoot(root),
  };
  // Incident ids must be unique across agents without coordination: a tag of the agent id plus randomness.
  const agentTag = createHash("sha256").update(options.agentId).digest("hex").slice(0, 8);
  const incidentId = (at: Date) =>
    `INC-${at.toISOString().slice(0, 10).replaceAll("-", "")}-${agentTag}-${randomBytes(5).toString("hex")}`;

  function incidentFor(
    check: Baseline["checks"][number],
    r: DriftResult,
    at: Date,
    bundleId: string | null,
  ): Incident {
    const detail = (s: string | null) => (s === null ? null : clip(s, 512));
    return {
      incident_id: incidentId(at),
      client_id: options.clientId,
      agent_id: options.agentId,
      hostname: options.hostname,
      incident_type: check.event_type,
      severity: check.severity,
      detected_at: at.toISOString(),
      source: "drift_check",
      check_id: check.id,
      details: {
        check_type: check.type,
        observed: detail(r.observed),
        expected: detail(r.expected),
        reason: detail(r.reason),
        citation: r.citation.join(", "),
        baseline_id: baseline.id,
        baseline_version: baseline.baseline_version,
        evidence_bundle_id: bundleId,
      },
    };
  }

  async function cycle(): Promise<DriftCycle> {
    const results: DriftResult[] = [];
    for (const check of baseline.checks) {
      let out: CheckOutcome;
      try {
        out = await runCheck(check, ctx);
      } catch (e) {
        out = errored(check.description ?? check.type, `check crashed: ${(e as Error).message}`);
      }
      results.push(toResult(check, out, baseline, clock.now()));
    }
    const cited = new Set(results.flatMap((r) => r.citation));
    const count = (s: DriftResult["status"]) => String(results.filter((r) => r.status === s).length);
    const raising = baseline.checks.filter(
      (_, i) => results[i]?.status === "fail" && results[i]?.exception === null,
    );
    const draft: BundleDraft = {
      kind: "drift_check",
      incident: null,
      runbook: null,
      actions_taken: [],
      drift: { baseline_id: baseline.id, baseline_version: baseline.baseline_version, results },
      hipaa_controls: HIPAA_CITATIONS.filter((c) => cited.has(c)),
      execution: null,
      outputs: {
        checks: String(results.length),
        pass: count("pass"),
        fail: count("fail"),
        error: count("error"),
        skipped: count("skipped"),
        excepted: String(results.filter((r) => r.exception !== null).length),
        incidents: String(raising.length),
      },
    };

    let bundle: EvidenceBundle | null = null;
    let sinkError: unknown = null;
    try {
      bundle = await options.sink.append(draft);
    } catch (e) {
      sinkError = e;
    }
    const at = clock.now();
    const incidents: Incident[] = [];
    let incidentError: unknown = null;
    for (const check of raising) {
      const r = results[baseline.checks.indexOf(check)] as DriftResult;
      const incident = incidentFor(check, r, at, bundle?.bundle_id ?? null);
      incidents.push(incident);
      try {
        await options.onIncident(incident);
      } catch (e) {
        incidentError ??= e;
      }
    }
    if (sinkError !== null) throw sinkError;
    if (incidentError !== null) throw incidentError;
    return { results, bundle: bundle as EvidenceBundle, incidents };
  }

  let tail: Promise<unknown> = Promise.resolve();
  return {
    baseline,
    runCycle() {
      const next = tail.then(cycle);
      tail = next.catch(() => undefined);
      return next;
    },
  };
}
