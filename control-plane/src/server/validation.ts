/**
 * Adapts the guardrails validator to the incident pipeline's two questions:
 * is this incident acceptable, and are these parameters acceptable for this
 * runbook at this clinic (services checked against the clinic's allow-list).
 */
import type { Incident, ParamValues } from "@msp/shared";
import { createValidator } from "../guardrails/validator.js";
import type { InputFinding } from "../incidents/service.js";
import type { Registry } from "../registry/index.js";
import type { RunbookCatalogView } from "../runbooks/index.js";

export function createValidators(deps: {
  catalog: RunbookCatalogView;
  registry: Pick<Registry, "getClinic">;
}) {
  const validator = createValidator({
    allowedServices: (clinicId) => deps.registry.getClinic(clinicId)?.service_allowlist ?? [],
  });
  const findingsOf = (
    r: { ok: true } | { ok: false; findings: { path: string; reason: string }[] },
  ): InputFinding[] => (r.ok ? [] : r.findings.map((f) => ({ path: f.path, reason: f.reason })));
  return {
    incident: (incident: Incident): InputFinding[] => findingsOf(validator.incident(incident)),
    params: (clientId: string, runbookId: string, params: ParamValues): InputFinding[] => {
      const runbook = deps.catalog.get(runbookId);
      if (runbook === undefined)
        return [{ path: "runbook_id", reason: `runbook ${runbookId} is not in the catalog` }];
      return findingsOf(validator.params(clientId, runbook.definition, params));
    },
  };
}
