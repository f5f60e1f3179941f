/**
 * The Hono application: authentication, body limits, the audit trail of every
 * mutating call, one error handler, and the routes declared in `routes/`.
 * It has no server of its own; tests call `app.request()` and the server
 * module mounts `app.fetch` on the HTTPS listener.
 */

import { type Clock, isMspError, type Logger, limits, MspError, toMspError } from "@msp/shared";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AuditLog } from "../audit/index.js";
import type { ApiKeys, Principal } from "../auth/index.js";
import type { Metrics } from "../metrics/index.js";
import { openApiDocument } from "./openapi.js";
import { type ApiEnv, mountRoutes, type RouteDef, route } from "./route.js";

/** What the app needs; every part is owned and built by the server module. */
export interface AppDeps {
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  apiKeys: ApiKeys;
  audit: AuditLog;
  clinicExists(clientId: string): boolean;
  routes: readonly RouteDef[];
  version: string;
  /**
   * Throttles failed `Authorization: Bearer` keys per remote address and
   * globally (the dashboard's `createAuthThrottle`; pass the dashboard's own
   * instance so both ways in share one count). Absent: no throttle.
   */
  authThrottle?: { retryAfter(address: string): number; fail(address: string): void };
}

/** The peer address of a request served by the Node listener, or null in-process (`app.request`). */
export function remoteAddress(env: unknown): string | null {
  return (
    (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
      ?.remoteAddress ?? null
  );
}

const CLINIC_IN_PATH = /^\/v1\/clinics\/([^/]+)/;

/** Requests refused by the failed-key throttle, so the audit trail records them (reads too) as denied. */
const throttledRequests = new WeakSet<Request>();

/** Marks `request` as refused by the failed-key throttle (the dashboard's sign-in form uses it too). */
export function markThrottled(request: Request): void {
  throttledRequests.add(request);
}

/**
 * In-process calls made on behalf of an already authenticated principal (the
 * dashboard's session): a request registered here is authenticated as that
 * principal and then runs the ordinary route, so role checks, clinic scope,
 * validation, the service call and the audit record are the API's own. Only
 * code holding the Request object can register it; nothing from the network
 * ever is.
 */
const delegated = new WeakMap<Request, Principal>();

/** Marks `request` as made by `principal`; pass it to `app.fetch`. */
export function actingAs(request: Request, principal: Principal): Request {
  delegated.set(request, principal);
  return request;
}

export function createApp(deps: AppDeps): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const requests = deps.metrics.counter("msp_api_requests_total", "API requests by method and status class.");

  app.onError((err, c) => {
    const e = toMspError(err);
    if (e.code === "internal")
      deps.logger.log("error", "api request failed", { path: c.req.path, err: String(err) });
    if (e.retryAfterSeconds !== undefined) c.header("Retry-After", String(Math.ceil(e.retryAfterSeconds)));
    return c.json({ error: e.toJSON() }, e.status as 400);
  });
  app.notFound(() => {
    throw new MspError("not_found", "no such endpoint");
  });

  // The audit trail wraps everything below it, so refused calls are recorded too.
  app.use("*", async (c, next) => {
    await next();
    const status = c.res.status;
    requests.inc({ method: c.req.method, status: `${Math.floor(status / 100)}xx` });
    const principal = c.get("principal") ?? null;
    // Reads are recorded when refused: a failed sign-in (401), a role refusal (403), and
    // a key's 404 (another clinic's data answers exactly as a missing one, and is still
    // an attempt worth an auditor's eye). Unauthenticated 404s are not: scanners would
    // flood the trail with nothing an auditor can act on.
    const read = c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS";
    // A throttled key attempt (429 before any key is checked) is a refused sign-in as well.
    const throttled = throttledRequests.has(c.req.raw);
    if (read && !(status === 401 || status === 403 || throttled || (status === 404 && principal !== null)))
      return;
    let errorCode: string | null = null;
    if (status >= 400) {
      try {
        errorCode = ((await c.res.clone().json()) as { error?: { code?: string } }).error?.code ?? null;
      } catch {
        errorCode = null;
      }
    }
    deps.audit.record({
      actor_key_id: principal?.key_id ?? null,
      actor_role: principal?.role ?? null,
      client_id: CLINIC_IN_PATH.exec(c.req.path)?.[1] ?? principal?.client_id ?? null,
      action: `${c.req.method} ${c.req.path}`.slice(0, 512),
      target: c.req.path.slice(0, 512),
      outcome:
        status < 400
          ? "ok"
          : status === 401 || status === 403 || status === 404 || throttled
            ? "denied"
            : "failed",
      status,
      error_code: errorCode,
      remote: remoteAddress(c.env),
    });
  });

  app.use(
    "*",
    bodyLimit({
      maxSize: limits.MAX_API_BODY_BYTES,
      onError: () => {
        throw new MspError("payload_too_large", `request body exceeds ${limits.MAX_API_BODY_BYTES} bytes`);
      },
    }),
  );

  // A presented key must be valid even on public routes: a wrong key is an error, not anonymity.
  app.use("*", async (c, next) => {
    const header = c.req.header("authorization");
    if (header === undefined) {
      c.set("principal", delegated.get(c.req.raw) ?? null);
    } else {
      const m = /^Bearer (\S+)$/.exec(header);
      const address = remoteAddress(c.env) ?? "in-process";
      const wait = deps.authThrottle?.retryAfter(address) ?? 0;
      if (wait > 0) {
        markThrottled(c.req.raw);
        throw new MspError("rate_limited", "too many failed API keys from this address; try again later", {
          retryAfterSeconds: wait,
        });
      }
      try {
        if (!m?.[1]) throw new MspError("unauthenticated", "Authorization must be 'Bearer <API key>'");
        c.set("principal", deps.apiKeys.authenticate(m[1]));
      } catch (e) {
        if (isMspError(e, "unauthenticated")) deps.authThrottle?.fail(address);
        throw e;
      }
    }
    await next();
  });

  const docs = route({
    method: "get",
    path: "/openapi.json",
    summary: "OpenAPI document of this API",
    tag: "meta",
    access: "public",
    handle: () => document,
  });
  const all = [...deps.routes, docs];
  const document = openApiDocument(all, deps.version);
  mountRoutes(app, all, deps.clinicExists);
  return app;
}
