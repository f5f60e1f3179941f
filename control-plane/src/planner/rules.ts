/**
 * The rule-based planner: an incident's event type names the runbooks whose
 * `triggers` list it, and parameters come only from values that pass the
 * runbook's declarations. It is what runs when no model is configured, when
 * the model's circuit is open, when a call fails, and when a model's answer is
 * rejected, so it must never depend on anything but the incident and the
 * approved library.
 */
import type { Incident, ParamValues, RunbookDefinition } from "@msp/shared";
import { checkParam, missingRequired, type ParamValue } from "./params.js";

/**
 * Site parameters: values an operator configured for a clinic or agent
 * (backup directories, certificate paths) that incidents do not carry. Owned
 * by the caller; a value that fails the runbook's rules is ignored.
 */
export type SiteParams = (incident: Incident, runbookId: string) => Readonly<Record<string, unknown>>;

/**
 * Confidence of a rule match. One runbook for the event type whose declared
 * severities include the incident's is the case the library was written for;
 * a severity the runbook does not list, or a choice between several runbooks,
 * is less certain and, under the default 0.8 threshold, goes to a human.
 */
export const RULE_CONFIDENCE = { exact: 0.9, severityMismatch: 0.7, ambiguous: 0.6 } as const;

/** What the rules decided. */
export interface RulePlan {
  /** The runbook chosen, or null when no runbook's triggers name the event type. */
  runbook: RunbookDefinition | null;
  /** Chosen values plus declared defaults, every one checked. */
  params: ParamValues;
  confidence: number;
  /** Required parameters nobody supplied a valid value for. */
  missing: string[];
  /** Values offered (by details or site parameters) and refused, with why; kept for the planning log. */
  refused: string[];
}

/** Runbooks whose triggers name `eventType`, sorted by id so the choice is stable. */
export function applicableRunbooks(
  runbooks: readonly RunbookDefinition[],
  eventType: string,
): RunbookDefinition[] {
  return runbooks
    .filter((rb) => rb.triggers.some((t) => t.event_type === eventType))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Plans `incident` by the rules above. Pure: the same inputs give the same plan. */
export function planByRules(
  incident: Incident,
  runbooks: readonly RunbookDefinition[],
  siteParams?: SiteParams,
): RulePlan {
  const candidates = applicableRunbooks(runbooks, incident.incident_type);
  const matching = candidates.filter((rb) => rb.severity.includes(incident.severity));
  const runbook = matching[0] ?? candidates[0] ?? null;
  if (runbook === null) return { runbook: null, params: {}, confidence: 0, missing: [], refused: [] };
  const confidence =
    candidates.length > 1
      ? RULE_CONFIDENCE.ambiguous
      : matching.length === 1
        ? RULE_CONFIDENCE.exact
        : RULE_CONFIDENCE.severityMismatch;
  const derived = deriveParams(incident, runbook, siteParams);
  return {
    runbook,
    params: withDefaults(runbook, derived.values),
    confidence,
    missing: missingRequired(runbook, derived.values),
    refused: derived.refused,
  };
}

/**
 * Parameter values for `runbook` taken from the incident's details (keys named
 * like the parameter) and then from the site's configuration, each kept only
 * if it passes the declaration. A model's answer is layered on top of these.
 */
export function deriveParams(
  incident: Incident,
  runbook: RunbookDefinition,
  siteParams?: SiteParams,
): { values: Record<string, ParamValue>; refused: string[] } {
  const site = siteParams?.(incident, runbook.id) ?? {};
  const values: Record<string, ParamValue> = {};
  const refused: string[] = [];
  // Incident details first (they describe this occurrence), then the site's configuration.
  for (const [source, offered] of [
    ["detail", incident.details],
    ["site", site],
  ] as const) {
    for (const [name, raw] of Object.entries(offered)) {
      const decl = Object.hasOwn(runbook.params, name) ? runbook.params[name] : undefined;
      if (decl === undefined || Object.hasOwn(values, name) || raw === null || raw === undefined) continue;
      const checked = checkParam(decl, raw);
      if (typeof checked === "string") refused.push(`${source} ${name}: ${checked}`);
      else values[name] = checked.value;
    }
  }
  return { values, refused };
}

/**
 * `values` plus every declared default not already set, so a command states
 * exactly what the agent will run with and the evidence can be read alone.
 */
export function withDefaults(
  runbook: Pick<RunbookDefinition, "params">,
  values: Readonly<Record<string, ParamValue>>,
): ParamValues {
  const out: Record<string, ParamValue> = {};
  for (const [name, decl] of Object.entries(runbook.params).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const value = Object.hasOwn(values, name) ? values[name] : decl.default;
    if (value !== undefined) out[name] = value;
  }
  return out;
}
