/**
 * One declaration per endpoint. A `RouteDef` says who may call it, which zod
 * schemas its body and query must pass, and what it does; `mountRoutes`
 * registers it on Hono and `openApiDocument` documents it from the same
 * declaration, so `/openapi.json` cannot drift from what the server enforces.
 *
 * Clinic scope is enforced here, once: a route whose path has `:clinic_id`
 * answers 404 (not 403) for a clinic outside the caller's scope, so a key of
 * clinic A cannot even learn that clinic B exists.
 */

import { MspError, parseWith } from "@msp/shared";
import type { Context, Hono } from "hono";
import type { z } from "zod";
import { inScope, type Principal, type Role } from "../auth/index.js";

/** Hono environment shared by every route. */
export type ApiEnv = { Variables: { principal: Principal | null } };

/** Who may call a route. `public` needs no key (health, enrollment, metrics with its own check). */
export type Access = "public" | readonly Role[];

/** What a handler receives, already authenticated, scoped and validated. */
export interface RouteInput<B, Q> {
  c: Context<ApiEnv>;
  principal: Principal | null;
  body: B;
  query: Q;
  params: Record<string, string>;
}

/** One endpoint. */
export interface RouteDef<B = unknown, Q = unknown> {
  method: "get" | "post" | "delete";
  /** Hono path, e.g. `/v1/clinics/:clinic_id/incidents`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  /** Status of a successful answer (default 200). */
  status?: 200 | 201 | 202;
  /** Documented response schema, when the answer has a fixed shape. */
  response?: z.ZodType;
  /** Returns a JSON-able value, or a Response for non-JSON answers. */
  handle(input: RouteInput<B, Q>): unknown | Promise<unknown>;
}

/** Declares a route with its input types inferred from the schemas. */
export function route<B = undefined, Q = undefined>(def: RouteDef<B, Q>): RouteDef<unknown, unknown> {
  return def as RouteDef<unknown, unknown>;
}

/** Checks clinic scope for a principal; the caller 404s on false. */
export function assertClinicScope(principal: Principal | null, clientId: string): void {
  if (principal !== null && !inScope(principal, clientId)) {
    throw new MspError("not_found", `clinic ${clientId} not found`);
  }
}

/** Reads and parses a JSON body; the size limit is applied before by middleware. */
async function readBody<B>(c: Context<ApiEnv>, schema: z.ZodType<B>): Promise<B> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json(;|$)/i.test(type)) {
    throw new MspError("invalid_input", "request body must be application/json");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch {
    throw new MspError("invalid_input", "request body is not valid JSON");
  }
  return parseWith(schema, raw, "request body");
}

/** Registers routes on an app. `clinicExists` turns unknown clinics into 404 before the handler runs. */
export function mountRoutes(
  app: Hono<ApiEnv>,
  routes: readonly RouteDef[],
  clinicExists: (id: string) => boolean,
): void {
  for (const def of routes) {
    app.on(def.method.toUpperCase(), def.path, async (c) => {
      const principal = c.get("principal");
      if (def.access !== "public") {
        if (principal === null)
          throw new MspError("unauthenticated", "an API key is required (Authorization: Bearer msp_key_...)");
        if (!def.access.includes(principal.role)) {
          throw new MspError("forbidden", `role ${principal.role} may not ${def.summary.toLowerCase()}`);
        }
      }
      const params = c.req.param() as Record<string, string>;
      const clinic = params.clinic_id;
      if (clinic !== undefined) {
        assertClinicScope(principal, clinic);
        if (!clinicExists(clinic)) throw new MspError("not_found", `clinic ${clinic} not found`);
      }
      const query = def.query === undefined ? undefined : parseWith(def.query, c.req.query(), "query string");
      const body = def.body === undefined ? undefined : await readBody(c, def.body);
      const result = await def.handle({ c, principal, body, query, params });
      if (result instanceof Response) return result;
      return c.json(result as object, def.status ?? 200);
    });
  }
}
