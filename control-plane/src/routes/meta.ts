/** Health and metrics. */
import { PROTOCOL_VERSION } from "@msp/shared";
import { z } from "zod";
import { type RouteDef, route } from "../api/route.js";
import type { Metrics } from "../metrics/index.js";

export interface MetaDeps {
  version: string;
  metrics: Metrics;
  /** Parts that can be unhealthy (database, WORM queue); each returns null when fine or a reason. */
  checks: Record<string, () => string | null>;
}

const Health = z.object({
  status: z.enum(["ok", "degraded"]),
  version: z.string(),
  protocol_version: z.number(),
  checks: z.record(z.string(), z.string()),
});

export function metaRoutes(deps: MetaDeps): RouteDef[] {
  return [
    route({
      method: "get",
      path: "/v1/health",
      summary: "Service health",
      tag: "meta",
      access: "public",
      response: Health,
      handle: ({ c }) => {
        const checks: Record<string, string> = {};
        let ok = true;
        for (const [name, check] of Object.entries(deps.checks)) {
          const problem = check();
          checks[name] = problem ?? "ok";
          if (problem !== null) ok = false;
        }
        const body = {
          status: ok ? "ok" : "degraded",
          version: deps.version,
          protocol_version: PROTOCOL_VERSION,
          checks,
        };
        return c.json(body, ok ? 200 : 503);
      },
    }),
    route({
      method: "get",
      path: "/metrics",
      summary: "Read Prometheus metrics",
      tag: "meta",
      access: ["admin"],
      handle: ({ c }) => c.text(deps.metrics.render(), 200, { "content-type": "text/plain; version=0.0.4" }),
    }),
  ];
}
