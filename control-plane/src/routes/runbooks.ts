/** The approved runbook library, read-only. */
import { MspError } from "@msp/shared";
import { type RouteDef, route } from "../api/route.js";
import type { RunbookCatalogView } from "../runbooks/index.js";

const READ = ["admin", "operator", "auditor"] as const;

export function runbookRoutes(catalog: RunbookCatalogView): RouteDef[] {
  return [
    route({
      method: "get",
      path: "/v1/runbooks",
      summary: "List approved runbooks",
      tag: "runbooks",
      access: READ,
      handle: () => ({
        catalog_sha256: catalog.catalogSha256,
        runbooks: catalog.list().map((r) => ({
          id: r.id,
          version: r.version,
          sha256: r.sha256,
          name: r.definition.name,
          severity: r.definition.severity,
          triggers: r.definition.triggers.map((t) => t.event_type),
          hipaa_controls: r.definition.hipaa_controls,
          sla_target_seconds: r.definition.sla_target_seconds,
        })),
      }),
    }),
    route({
      method: "get",
      path: "/v1/runbooks/:runbook_id",
      summary: "Get a runbook definition",
      tag: "runbooks",
      access: READ,
      handle: ({ params }) => {
        const r = catalog.get(params.runbook_id ?? "");
        if (r === undefined) throw new MspError("not_found", `runbook ${params.runbook_id} not found`);
        return { id: r.id, version: r.version, sha256: r.sha256, definition: r.definition };
      },
    }),
  ];
}
