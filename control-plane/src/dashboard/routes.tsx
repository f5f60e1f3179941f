/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
/**
 * The dashboard's routes under /dashboard: sign-in and sign-out, the pages,
 * the event stream and the approve/reject forms. Pages read through the same
 * stores the API reads; the one action (approve or reject) is performed by
 * calling the API's own route in-process as the session's principal
 * (`actingAs`), so its role check, clinic scope, service call and audit
 * record are the API's, not a copy.
 */
import {
  bundleSigningBytes,
  type Clock,
  ERROR_CODES,
  type Logger,
  MspError,
  silentLogger,
  toMspError,
} from "@msp/shared";
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { actingAs, markThrottled, remoteAddress } from "../api/app.js";
import { assertClinicScope, type RouteDef } from "../api/route.js";
import { inScope, type Principal } from "../auth/index.js";
import type { EvidenceStore } from "../evidence/index.js";
import type { IncidentStore } from "../incidents/store.js";
import type { PacketService } from "../packets/index.js";
import type { Posture } from "../packets/posture.js";
import type { PlanStore } from "../planner/plans.js";
import type { Registry } from "../registry/index.js";
import type { Assets } from "./assets.js";
import type { DashboardEvents } from "./events.js";
import type { DashboardQueries } from "./queries.js";
import { type Session, type Sessions, sameToken } from "./sessions.js";
import type { AuthThrottle } from "./throttle.js";
import { BundleView, EvidenceSearch, KINDS } from "./views/evidence.js";
import { type Connection, FLEET_PAGE_SIZE, type FleetRow, FleetView } from "./views/fleet.js";
import { ApprovalsView, IncidentDetail, IncidentList } from "./views/incidents.js";
import { ErrorPage, LoginPage, Page } from "./views/layout.js";
import { PostureView } from "./views/posture.js";

/** What the dashboard reads and calls; every part is the server's own instance. */
export interface DashboardDeps {
  clock: Clock;
  logger?: Logger;
  sessions: Sessions;
  /** Failed sign-ins per remote address and overall; a throttled address is refused before its key is read. */
  throttle: AuthThrottle;
  registry: Pick<Registry, "listClinics" | "getClinic" | "listAgents" | "evidenceKeyOf">;
  evidence: Pick<EvidenceStore, "get" | "search" | "driftLatest">;
  incidents: Pick<IncidentStore, "list" | "get" | "getCommand">;
  plans: Pick<PlanStore, "get" | "listPending">;
  queries: DashboardQueries;
  /** Live connection state from the agent endpoint. */
  connected(agentId: string): boolean;
  /** The month's control posture (packets/posture). */
  posture(clinicId: string, month: string): Posture;
  /** Signed monthly packets, listed and downloaded on the evidence page. */
  packets: Pick<PacketService, "list">;
  /** What backs WORM, shown beside each bundle's retention (the local directory is not tamper-proof). */
  wormStorage: "s3" | "local";
  events: DashboardEvents;
  /** The API's route declarations: which roles an action admits is read from them, never restated. */
  apiRoutes: readonly RouteDef[];
  /** The API app's fetch, for in-process calls as the session's principal. */
  api(request: Request, env: unknown): Response | Promise<Response>;
  assets: Assets;
  /** Keep-alive interval of the event stream, which also re-checks the session (default 15 s). */
  keepAliveMs?: number;
}

type DashEnv = { Variables: { principal: Principal | null; session: Session; sessionId: string } };

const SESSION_COOKIE = "msp_session";
const LOGIN_COOKIE = "msp_login";
const COOKIE = { prefix: "host", httpOnly: true, secure: true, sameSite: "Strict", path: "/" } as const;
const APPROVE_PATH = "/v1/clinics/:clinic_id/approvals/:plan_id/approve";
const REJECT_PATH = "/v1/clinics/:clinic_id/approvals/:plan_id/reject";
const INCIDENT_FEED_LIMIT = 100;

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const FleetQuery = z.object({
  clinic: z.string().max(63).default(""),
  connection: z.enum(["", "online", "offline", "revoked"]).default(""),
  drift: z.enum(["", "failing"]).default(""),
  q: z.string().max(100).default(""),
  page: z.coerce.number().int().min(1).max(1_000_000).default(1),
});
const Month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be a month like 2026-11");
const LocalTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/, "must be a date and time like 2026-11-21T09:30")
  .or(z.literal(""));
const EvidenceFilterQuery = z.object({
  clinic: z.string().max(63).default(""),
  agent: z.string().max(63).default(""),
  kind: z.enum(["", ...KINDS]).default(""),
  from: LocalTime.default(""),
  to: LocalTime.default(""),
  cursor: z.string().max(200).optional(),
});

function parseQuery<T extends z.ZodType>(schema: T, raw: unknown): z.output<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new MspError(
      "invalid_input",
      `query ${first?.path.join(".") ?? ""}: ${first?.message ?? "invalid"}`,
    );
  }
  return r.data;
}

/** Whether the API route `method path` admits the principal's role. */
function apiAllows(routes: readonly RouteDef[], principal: Principal, method: string, path: string): boolean {
  const def = routes.find((r) => r.method === method && r.path === path);
  if (def === undefined) return false;
  return def.access === "public" || def.access.includes(principal.role);
}

/** The API's JSON error as an MspError, so the dashboard shows the API's own status and message. */
const isErrorCode = (code: string): code is keyof typeof ERROR_CODES => Object.hasOwn(ERROR_CODES, code);

async function apiError(res: Response): Promise<MspError> {
  let error: { code?: string; message?: string } | undefined;
  try {
    error = ((await res.json()) as { error?: { code?: string; message?: string } }).error;
  } catch {
    error = undefined;
  }
  const code = error?.code !== undefined && isErrorCode(error.code) ? error.code : "internal";
  return new MspError(code, error?.message ?? `the API answered ${res.status}`);
}

/** `2026-11-21T09:30` (a datetime-local value, read as UTC) to a Timestamp. */
const utc = (local: string) => (local === "" ? undefined : `${local.length === 16 ? `${local}:00` : local}Z`);

/** Builds the dashboard sub-app; mount it at /dashboard on the API app. */
export function createDashboardApp(deps: DashboardDeps): Hono<DashEnv> {
  for (const path of [APPROVE_PATH, REJECT_PATH]) {
    if (!deps.apiRoutes.some((r) => r.method === "post" && r.path === path))
      throw new MspError("config_invalid", `the dashboard needs the API route POST ${path}`);
  }
  const logger = deps.logger ?? silentLogger;
  const keepAliveMs = deps.keepAliveMs ?? 15_000;
  const dash = new Hono<DashEnv>();
  const canDecide = (p: Principal) => apiAllows(deps.apiRoutes, p, "post", APPROVE_PATH);
  const clinicsOf = (p: Principal) => deps.registry.listClinics(p.client_id);
  /** The one clinic-scope rule of the API, then existence; 404 either way. */
  const clinicParam = (p: Principal, id: string) => {
    assertClinicScope(p, id);
    if (deps.registry.getClinic(id) === undefined) throw new MspError("not_found", `clinic ${id} not found`);
    return id;
  };
  const page = (c: Context<DashEnv>, node: unknown, status = 200) => c.html(node as string, status as 200);

  dash.onError((err, c) => {
    const e = toMspError(err);
    if (e.code === "internal")
      logger.log("error", "dashboard request failed", { path: c.req.path, err: String(err) });
    const session = c.get("session") as Session | undefined;
    return c.html(
      <ErrorPage
        status={e.status}
        message={e.message}
        {...(session ? { principal: session.principal, csrf: session.csrf } : {})}
      />,
      e.status as 400,
    );
  });

  dash.use("*", async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.header(k, v);
    if (!c.req.path.startsWith("/dashboard/assets/")) c.header("cache-control", "no-store");
  });

  dash.get("/assets/:name", (c) => {
    const a = deps.assets.get(c.req.param("name"));
    if (a === undefined) throw new MspError("not_found", "no such asset");
    if (c.req.header("if-none-match") === a.etag) return c.body(null, 304);
    return c.body(a.body, 200, { "content-type": a.type, etag: a.etag, "cache-control": "no-cache" });
  });

  const loginPage = (c: Context<DashEnv>, error?: string, status = 200) => {
    const token = crypto.randomUUID();
    setCookie(c, LOGIN_COOKIE, token, { ...COOKIE, maxAge: 600 });
    return page(c, <LoginPage csrf={token} {...(error ? { error } : {})} />, status);
  };

  dash.get("/login", (c) => loginPage(c));

  dash.post("/login", async (c) => {
    // In-process requests (no socket) share one bucket.
    const address = remoteAddress(c.env) ?? "in-process";
    const wait = deps.throttle.retryAfter(address);
    if (wait > 0) {
      // The API's audit middleware around this app records the refusal (status 429, denied, no actor).
      markThrottled(c.req.raw);
      c.header("Retry-After", String(wait));
      return loginPage(
        c,
        `Too many failed sign-ins; try again in ${Math.ceil(wait / 60)} minute${wait > 60 ? "s" : ""}.`,
        429,
      );
    }
    const form = await c.req.parseBody();
    const cookie = getCookie(c, LOGIN_COOKIE, "host") ?? "";
    const token = typeof form.csrf === "string" ? form.csrf : "";
    if (cookie === "" || !sameToken(cookie, token))
      return loginPage(c, "The sign-in form expired; please try again.", 403);
    const key = typeof form.api_key === "string" ? form.api_key.trim() : "";
    let signed: ReturnType<Sessions["signIn"]>;
    try {
      signed = deps.sessions.signIn(key);
    } catch (e) {
      if (toMspError(e).code !== "unauthenticated") throw e;
      deps.throttle.fail(address);
      return loginPage(c, "That API key is unknown, malformed or revoked.", 401);
    }
    c.set("principal", signed.session.principal);
    deleteCookie(c, LOGIN_COOKIE, COOKIE);
    setCookie(c, SESSION_COOKIE, signed.id, { ...COOKIE, maxAge: signed.maxAgeSeconds });
    return c.redirect("/dashboard/fleet", 303);
  });

  // Everything below needs a session; POSTs also need the session's CSRF token.
  dash.use("*", async (c, next) => {
    const id = getCookie(c, SESSION_COOKIE, "host") ?? "";
    const session = id === "" ? null : deps.sessions.lookup(id);
    if (session === null) {
      if (id !== "") deleteCookie(c, SESSION_COOKIE, COOKIE);
      if (c.req.method === "GET" && c.req.path !== "/dashboard/events")
        return c.redirect("/dashboard/login", 303);
      throw new MspError("unauthenticated", "not signed in, or the session ended; sign in again");
    }
    c.set("session", session);
    c.set("sessionId", id);
    // The API's audit middleware (around this app) records the actor of every POST from here.
    c.set("principal", session.principal);
    if (c.req.method === "POST") {
      const form = await c.req.parseBody();
      const token = typeof form.csrf === "string" ? form.csrf : "";
      if (!sameToken(token, session.csrf)) throw new MspError("forbidden", "missing or wrong CSRF token");
    }
    await next();
  });

  dash.post("/logout", (c) => {
    deps.sessions.signOut(c.get("sessionId"));
    deleteCookie(c, SESSION_COOKIE, COOKIE);
    return c.redirect("/dashboard/login", 303);
  });

  dash.get("/", (c) => c.redirect("/dashboard/fleet", 303));

  dash.get("/events", (c) => {
    const { principal } = c.get("session");
    const id = c.get("sessionId");
    return streamSSE(c, async (stream) => {
      let wake: () => void = () => {};
      let open = true;
      const stop = () => {
        open = false;
        wake();
      };
      const off = deps.events.subscribe((ev) => {
        if (!inScope(principal, ev.client_id)) return;
        stream.writeSSE({ event: ev.type, data: JSON.stringify(ev) }).catch(stop);
      }, stop);
      stream.onAbort(stop);
      try {
        await stream.writeSSE({ event: "ready", data: "{}", retry: 3000 });
        while (open) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, keepAliveMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          if (!open) break;
          // A revoked key or an expired session ends the stream within one interval.
          if (deps.sessions.lookup(id, { touch: false }) === null) {
            await stream.writeSSE({ event: "end", data: "{}" });
            break;
          }
          await stream.write(": keep-alive\n\n");
        }
      } finally {
        off();
      }
    });
  });

  dash.get("/fleet", (c) => {
    const { principal, csrf } = c.get("session");
    const { page: asked, ...f } = parseQuery(FleetQuery, c.req.query());
    const clinics = clinicsOf(principal);
    const shown = f.clinic === "" ? clinics : clinics.filter((k) => k.client_id === f.clinic);
    const needle = f.q.toLowerCase();
    const rows: FleetRow[] = [];
    let total = 0;
    for (const clinic of shown) {
      const drift = new Map<string, ReturnType<EvidenceStore["driftLatest"]>>();
      for (const d of deps.evidence.driftLatest({ client_id: clinic.client_id })) {
        const list = drift.get(d.agent_id) ?? [];
        list.push(d);
        drift.set(d.agent_id, list);
      }
      for (const agent of deps.registry.listAgents(clinic.client_id)) {
        total += 1;
        const connection: Connection =
          agent.revoked_at !== null ? "revoked" : deps.connected(agent.agent_id) ? "online" : "offline";
        const checks = drift.get(agent.agent_id) ?? [];
        if (f.connection !== "" && f.connection !== connection) continue;
        if (f.drift === "failing" && !checks.some((d) => d.status === "fail")) continue;
        if (
          needle !== "" &&
          !agent.agent_id.includes(needle) &&
          !agent.hostname.toLowerCase().includes(needle)
        )
          continue;
        rows.push({ agent, connection, drift: checks });
      }
    }
    // A page past the end (agents removed, or a stale link) shows the last one.
    const pages = Math.max(1, Math.ceil(rows.length / FLEET_PAGE_SIZE));
    const current = Math.min(asked, pages);
    const start = (current - 1) * FLEET_PAGE_SIZE;
    return page(
      c,
      <Page title="Fleet" principal={principal} csrf={csrf} section="fleet" live="agents">
        <FleetView
          clinics={clinics}
          filter={f}
          rows={rows.slice(start, start + FLEET_PAGE_SIZE)}
          matching={rows.length}
          total={total}
          page={current}
          pages={pages}
        />
      </Page>,
    );
  });

  dash.get("/posture", (c) => {
    const { principal, csrf } = c.get("session");
    const q = c.req.query();
    const clinics = clinicsOf(principal);
    const clinic = q.clinic ? clinicParam(principal, q.clinic) : (clinics[0]?.client_id ?? "");
    const month = q.month ? parseQuery(Month, q.month) : deps.clock.now().toISOString().slice(0, 7);
    const posture = clinic === "" ? null : deps.posture(clinic, month);
    const selected = q.control ? (posture?.controls.find((k) => k.citation === q.control) ?? null) : null;
    if (q.control && selected === null)
      throw new MspError("not_found", `control ${q.control} not in the catalog`);
    return page(
      c,
      <Page title="Control posture" principal={principal} csrf={csrf} section="posture" live="incidents">
        <PostureView clinics={clinics} clinic={clinic} month={month} posture={posture} selected={selected} />
      </Page>,
    );
  });

  dash.get("/incidents", (c) => {
    const { principal, csrf } = c.get("session");
    const clinics = clinicsOf(principal);
    const incidents = clinics
      .flatMap((k) => deps.incidents.list(k.client_id, { limit: INCIDENT_FEED_LIMIT }))
      .sort((a, b) => b.received_at.localeCompare(a.received_at))
      .slice(0, INCIDENT_FEED_LIMIT);
    return page(
      c,
      <Page title="Incidents" principal={principal} csrf={csrf} section="incidents" live="incidents">
        <IncidentList incidents={incidents} />
      </Page>,
    );
  });

  dash.get("/clinics/:clinic_id/incidents/:incident_id", (c) => {
    const { principal, csrf } = c.get("session");
    const clinic = clinicParam(principal, c.req.param("clinic_id"));
    const incident = deps.incidents.get(clinic, c.req.param("incident_id"));
    if (incident === undefined)
      throw new MspError("not_found", `incident ${c.req.param("incident_id")} not found`);
    const plan = incident.plan_id === null ? null : deps.plans.get(incident.plan_id);
    const command =
      incident.command_id === null ? null : (deps.incidents.getCommand(incident.command_id) ?? null);
    const bundleId = incident.bundle_id ?? command?.bundle_id ?? null;
    const agentId = command?.agent_id ?? incident.agent_id;
    const stored =
      bundleId === null
        ? null
        : deps.evidence.get(bundleId, { client_id: clinic, ...(agentId ? { agent_id: agentId } : {}) });
    return page(
      c,
      <Page
        title={`Incident ${incident.incident_id}`}
        principal={principal}
        csrf={csrf}
        section="incidents"
        live="incidents"
      >
        <IncidentDetail
          incident={incident}
          plan={plan}
          command={command}
          execution={stored === null ? null : { bundle: stored.bundle, sha256: stored.sha256 }}
          canDecide={canDecide(principal)}
          csrf={csrf}
        />
      </Page>,
    );
  });

  dash.get("/approvals", (c) => {
    const { principal, csrf } = c.get("session");
    const plans = clinicsOf(principal).flatMap((k) => deps.plans.listPending(k.client_id));
    return page(
      c,
      <Page title="Approvals" principal={principal} csrf={csrf} section="approvals" live="incidents">
        <ApprovalsView plans={plans} canDecide={canDecide(principal)} csrf={csrf} />
      </Page>,
    );
  });

  // The decision goes through the API route itself; this handler only translates form to JSON and back.
  const decide = (action: "approve" | "reject") =>
    dash.post(`/clinics/:clinic_id/approvals/:plan_id/${action}`, async (c) => {
      const { principal } = c.get("session");
      const clinic = c.req.param("clinic_id");
      const planId = c.req.param("plan_id");
      const form = await c.req.parseBody();
      const reason =
        typeof form.reason === "string" && form.reason.trim() !== "" ? form.reason.trim() : undefined;
      const body = JSON.stringify(action === "reject" && reason !== undefined ? { reason } : {});
      const url = new URL(
        `/v1/clinics/${encodeURIComponent(clinic)}/approvals/${encodeURIComponent(planId)}/${action}`,
        c.req.url,
      );
      const res = await deps.api(
        actingAs(
          new Request(url, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "content-length": String(Buffer.byteLength(body)),
            },
            body,
          }),
          principal,
        ),
        c.env,
      );
      if (!res.ok) throw await apiError(res);
      const answer = (await res.json()) as { incident_id: string };
      return c.redirect(
        `/dashboard/clinics/${encodeURIComponent(clinic)}/incidents/${encodeURIComponent(answer.incident_id)}`,
        303,
      );
    });
  decide("approve");
  decide("reject");

  dash.get("/evidence", (c) => {
    const { principal, csrf } = c.get("session");
    const f = parseQuery(EvidenceFilterQuery, c.req.query());
    const clinics = clinicsOf(principal);
    const clinic = f.clinic !== "" ? clinicParam(principal, f.clinic) : (clinics[0]?.client_id ?? "");
    const from = utc(f.from);
    const to = utc(f.to);
    const result =
      clinic === ""
        ? { items: [], next_cursor: null }
        : deps.evidence.search({
            client_id: clinic,
            limit: 50,
            ...(f.agent ? { agent_id: f.agent } : {}),
            ...(f.kind ? { kind: f.kind } : {}),
            ...(from ? { from } : {}),
            ...(to ? { to } : {}),
            ...(f.cursor ? { cursor: f.cursor } : {}),
          });
    let nextHref: string | null = null;
    if (result.next_cursor !== null) {
      const params = new URLSearchParams({ ...f, clinic, cursor: result.next_cursor });
      nextHref = `/dashboard/evidence?${params.toString()}`;
    }
    return page(
      c,
      <Page title="Evidence" principal={principal} csrf={csrf} section="evidence">
        <EvidenceSearch
          packets={clinic === "" ? [] : deps.packets.list(clinic)}
          clinics={clinics}
          filter={{ clinic, agent: f.agent, kind: f.kind, from: f.from, to: f.to }}
          bundles={result.items}
          next={result.next_cursor}
          nextHref={nextHref}
        />
      </Page>,
    );
  });

  const sha = (c: Context<DashEnv>) => {
    const s = c.req.param("sha256") ?? "";
    if (!/^[0-9a-f]{64}$/.test(s))
      throw new MspError("invalid_input", "a bundle is named by its sha256 (64 hex)");
    return s;
  };

  dash.get("/clinics/:clinic_id/evidence/:sha256/bundle.json", (c) => {
    const { principal } = c.get("session");
    const clinic = clinicParam(principal, c.req.param("clinic_id"));
    const hash = sha(c);
    const raw = deps.queries.rawBody(clinic, hash);
    if (raw === null) throw new MspError("not_found", `bundle ${hash} not found`);
    const stored = deps.evidence.get(hash, { client_id: clinic });
    const name = stored === null ? hash : `${stored.agent_id}-${stored.seq}-${stored.bundle_id}`;
    return c.body(raw, 200, {
      "content-type": "application/json",
      "content-disposition": `attachment; filename="${name}.json"`,
    });
  });

  // Packet files come from the API's own download route (its checks of packet id and file name).
  dash.get("/clinics/:clinic_id/packets/:packet_id/:file", async (c) => {
    const { principal } = c.get("session");
    const [clinic, packet, file] = [
      c.req.param("clinic_id"),
      c.req.param("packet_id"),
      c.req.param("file"),
    ].map(encodeURIComponent);
    const path = `${clinic}/packets/${packet}/${file}`;
    const res = await deps.api(
      actingAs(new Request(new URL(`/v1/clinics/${path}`, c.req.url)), principal),
      c.env,
    );
    if (!res.ok) throw await apiError(res);
    return c.body(await res.arrayBuffer(), 200, {
      "content-type": res.headers.get("content-type") ?? "application/octet-stream",
      "content-disposition": `attachment; filename="${c.req.param("packet_id")}-${c.req.param("file")}"`,
    });
  });

  dash.get("/clinics/:clinic_id/evidence/:sha256", (c) => {
    const { principal, csrf } = c.get("session");
    const clinic = clinicParam(principal, c.req.param("clinic_id"));
    const hash = sha(c);
    const stored = deps.evidence.get(hash, { client_id: clinic });
    const raw = deps.queries.rawBody(clinic, hash);
    if (stored === null || raw === null) throw new MspError("not_found", `bundle ${hash} not found`);
    const worm = deps.queries.worm(clinic, stored.agent_id, stored.seq);
    return page(
      c,
      <Page title={`Bundle ${stored.bundle_id}`} principal={principal} csrf={csrf} section="evidence" verify>
        <BundleView
          stored={stored}
          raw={raw}
          publicKey={deps.registry.evidenceKeyOf(stored.agent_id) ?? null}
          serverSigningText={bundleSigningBytes(stored.bundle).toString("utf8")}
          worm={worm}
          wormStorage={deps.wormStorage}
          checkpoint={deps.queries.checkpoint(clinic, worm?.received_day ?? null)}
          downloadHref={`/dashboard/clinics/${encodeURIComponent(clinic)}/evidence/${hash}/bundle.json`}
        />
      </Page>,
    );
  });

  return dash;
}
