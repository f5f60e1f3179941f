/**
 * The OpenAPI 3.1 document, generated from the route declarations and their
 * zod schemas (zod 4's JSON Schema output), served at `/openapi.json`.
 */

import { PROTOCOL_VERSION } from "@msp/shared";
import { z } from "zod";
import type { RouteDef } from "./route.js";

const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    retryable: z.boolean(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });

export function openApiDocument(routes: readonly RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.path.replace(/:([a-z_]+)/g, "{$1}");
    const parameters: unknown[] = [...r.path.matchAll(/:([a-z_]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    if (r.query !== undefined) {
      const qs = jsonSchema(r.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(qs.properties ?? {})) {
        parameters.push({ name, in: "query", required: qs.required?.includes(name) ?? false, schema });
      }
    }
    const ok = String(r.status ?? 200);
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}_${r.path.replace(/[/:{}-]+/g, "_").replace(/^_|_$/g, "")}`,
      parameters,
      security: r.access === "public" ? [] : [{ apiKey: [] }],
      ...(r.access === "public" ? {} : { "x-roles": r.access }),
      responses: {
        [ok]: {
          description: "success",
          ...(r.response ? { content: { "application/json": { schema: jsonSchema(r.response) } } } : {}),
        },
        default: { description: "error", content: { "application/json": { schema: jsonSchema(ErrorBody) } } },
      },
    };
    if (r.body !== undefined) {
      op.requestBody = { required: true, content: { "application/json": { schema: jsonSchema(r.body) } } };
    }
    paths[path] = { ...(paths[path] ?? {}), [r.method]: op };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "MSP HIPAA compliance autopilot: control plane API",
      version,
      description: `Operator API. Agents speak WebSocket protocol version ${PROTOCOL_VERSION} on /v1/agent (mTLS).`,
    },
    components: {
      securitySchemes: { apiKey: { type: "http", scheme: "bearer", description: "msp_key_<id>_<secret>" } },
    },
    paths,
  };
}
