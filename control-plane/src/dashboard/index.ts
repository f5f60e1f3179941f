/**
 * The operator dashboard: server-rendered pages (Hono JSX) on the control
 * plane's own listener, under /dashboard, behind API-key sign-in exchanged
 * for an HttpOnly, Secure, SameSite=Strict session cookie with a CSRF token on
 * every form; live updates over Server-Sent Events; evidence bundles verified
 * again in the browser with tweetnacl. See docs/dashboard.md.
 */
import type { Hono } from "hono";
import type { ApiEnv } from "../api/route.js";
import type { Db } from "../db/index.js";
import { loadAssets } from "./assets.js";
import { createDashboardQueries } from "./queries.js";
import { createDashboardApp, type DashboardDeps } from "./routes.js";
import { createSessions, type Sessions, type SessionTimes } from "./sessions.js";
import { type AuthThrottle, createAuthThrottle } from "./throttle.js";

export {
  createDashboardEvents,
  type DashboardEvent,
  type DashboardEvents,
  observeIncidentService,
} from "./events.js";
export { createDashboardApp, type DashboardDeps } from "./routes.js";
export {
  createSessions,
  csrfTokenOf,
  DASHBOARD_MIGRATIONS,
  DEFAULT_SESSION_TIMES,
  type Session,
  type Sessions,
  type SessionTimes,
} from "./sessions.js";
export {
  type AuthThrottle,
  createAuthThrottle,
  DEFAULT_THROTTLE_LIMITS,
  type ThrottleLimits,
} from "./throttle.js";
export { FLEET_PAGE_SIZE } from "./views/fleet.js";

/** What {@link mountDashboard} needs beyond what it builds itself (sessions, queries, assets, the API call). */
export type MountOptions = Omit<DashboardDeps, "sessions" | "queries" | "assets" | "api" | "throttle"> & {
  db: Db;
  apiKeys: Parameters<typeof createSessions>[0]["apiKeys"];
  sessionTimes?: SessionTimes;
  /**
   * The failed sign-in throttle; pass the instance given to the API app
   * (`authThrottle`) so a key guessed here or as a Bearer token counts once.
   * Default: a throttle of its own with the default limits.
   */
  throttle?: AuthThrottle;
};

/** A mounted dashboard. */
export interface MountedDashboard {
  sessions: Sessions;
  /** Ends the open event streams (call before closing the listener). */
  close(): void;
}

/**
 * Mounts the dashboard at /dashboard on the API app (and `/` redirects there),
 * after the API's own middleware, so the audit log records its POSTs and the
 * body limit applies. The database must carry {@link DASHBOARD_MIGRATIONS}.
 */
export function mountDashboard(app: Hono<ApiEnv>, options: MountOptions): MountedDashboard {
  const { db, apiKeys, sessionTimes, throttle, ...rest } = options;
  const sessions = createSessions({
    db,
    clock: options.clock,
    apiKeys,
    ...(sessionTimes ? { times: sessionTimes } : {}),
  });
  const dash = createDashboardApp({
    ...rest,
    sessions,
    throttle: throttle ?? createAuthThrottle({ clock: options.clock }),
    queries: createDashboardQueries(db),
    assets: loadAssets(),
    api: (request, env) => app.fetch(request, env),
  });
  app.get("/", (c) => c.redirect("/dashboard/", 303));
  app.route("/dashboard", dash);
  return { sessions, close: () => options.events.close() };
}
