import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock, generateSigningKey, silentLogger } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { createApp } from "../api/app.js";
import { createAuditLog } from "../audit/index.js";
import { createApiKeys } from "../auth/index.js";
import { migrate, openDatabase } from "../db/index.js";
import { createEvidenceStore } from "../evidence/index.js";
import { createIncidentStore } from "../incidents/store.js";
import { createMetrics } from "../metrics/index.js";
import { createPacketService } from "../packets/index.js";
import { computePosture } from "../packets/posture.js";
import { createPlanStore } from "../planner/index.js";
import { createRegistry } from "../registry/index.js";
import { incidentRoutes } from "../routes/incidents.js";
import { ALL_MIGRATIONS } from "../server/migrations.js";
import { createAuthThrottle, createDashboardEvents, mountDashboard } from "./index.js";

/** The API app with the dashboard mounted as the server does; API handlers are declared but never reached here. */
function setup() {
  const db = openDatabase(":memory:");
  migrate(db, ALL_MIGRATIONS);
  const clock = new FakeClock("2026-11-21T10:00:00Z");
  const apiKeys = createApiKeys(db, clock);
  const audit = createAuditLog(db, clock);
  const registry = createRegistry(db, clock);
  registry.createClinic({ client_id: "clinic-a", name: "Clinic A", service_allowlist: [] });
  registry.createClinic({ client_id: "clinic-b", name: "Clinic B", service_allowlist: [] });
  const apiRoutes = incidentRoutes(undefined as never);
  // One throttle for both ways in, as the server is meant to compose it.
  const throttle = createAuthThrottle({
    clock,
    limits: { windowSeconds: 600, perAddress: 3, global: 100, maxAddresses: 100 },
  });
  const app = createApp({
    authThrottle: throttle,
    clock,
    logger: silentLogger,
    metrics: createMetrics(),
    apiKeys,
    audit,
    clinicExists: (id) => registry.getClinic(id) !== undefined,
    routes: apiRoutes,
    version: "test",
  });
  const events = createDashboardEvents();
  mountDashboard(app, {
    db,
    clock,
    apiKeys,
    registry,
    evidence: createEvidenceStore({ db, keys: registry }),
    incidents: createIncidentStore(db, clock),
    plans: createPlanStore(db),
    connected: () => false,
    posture: (clinicId, month) => computePosture(db, { clinicId, month }),
    packets: createPacketService({
      db,
      dataDir: mkdtempSync(join(tmpdir(), "msp-dash-packets-")),
      signingKey: generateSigningKey(),
      clock,
      clinicName: (id) => registry.getClinic(id)?.name,
      retentionYears: 6,
    }),
    wormStorage: "local",
    events,
    apiRoutes,
    throttle,
  });
  const key = (role: "operator" | "auditor" | "admin", client_id: string | null) =>
    apiKeys.create({ name: role, role, client_id, created_by: null }).key;
  return { app, audit, key, db, events, clock };
}

const cookieOf = (res: Response, name: string) =>
  /^([^=]+)=([^;]*)/.exec(
    res.headers.getSetCookie().find((c) => c.startsWith(`__Host-${name}=`)) ?? "",
  )?.[2] ?? "";

/** What the Node listener passes as the request's env, seen from `address`. */
const from = (address: string) => ({ incoming: { socket: { remoteAddress: address } } });

async function signIn(app: ReturnType<typeof setup>["app"], apiKey: string, env?: unknown) {
  const form = await app.request("/dashboard/login");
  const loginToken = cookieOf(form, "msp_login");
  const res = await app.request(
    "/dashboard/login",
    {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        cookie: `__Host-msp_login=${loginToken}`,
      },
      body: new URLSearchParams({ csrf: loginToken, api_key: apiKey }).toString(),
    },
    env,
  );
  return { res, cookie: `__Host-msp_session=${cookieOf(res, "msp_session")}` };
}

const csrfIn = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

describe("dashboard routes", () => {
  it("sends to the sign-in page without a session and sets strict cookies", async () => {
    const { app } = setup();
    const res = await app.request("/dashboard/fleet");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/dashboard/login");
    const login = await app.request("/dashboard/login");
    const set = login.headers.getSetCookie().join("\n");
    expect(set).toMatch(/__Host-msp_login=[^;]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Strict/);
    expect(login.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(login.headers.get("cache-control")).toBe("no-store");
    expect((await app.request("/dashboard/events")).status).toBe(401);
  });

  it("refuses a sign-in without the form's token, and a bad key, opening no session", async () => {
    const { app, key, db } = setup();
    const noToken = await app.request("/dashboard/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ api_key: key("operator", "clinic-a") }).toString(),
    });
    expect(noToken.status).toBe(403);
    const bad = await signIn(app, "msp_key_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect(bad.res.status).toBe(401);
    expect(await bad.res.text()).toContain("unknown, malformed or revoked");
    expect(db.prepare("SELECT count(*) AS n FROM dashboard_sessions").get()).toEqual({ n: 0 });
  });

  it("throttles failed sign-ins per address, on the form and on Bearer keys alike, audited", async () => {
    const { app, key, db, audit, clock } = setup();
    const good = key("operator", "clinic-a");
    const bad = "msp_key_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const sessions = () => db.prepare("SELECT count(*) AS n FROM dashboard_sessions").get();
    // Three failures from one address, two through the form and one as a Bearer key.
    expect((await signIn(app, bad, from("203.0.113.7"))).res.status).toBe(401);
    expect((await signIn(app, bad, from("203.0.113.7"))).res.status).toBe(401);
    const api = (apiKey: string, address: string) =>
      app.request("/v1/no-such-endpoint", { headers: { authorization: `Bearer ${apiKey}` } }, from(address));
    expect((await api(bad, "203.0.113.7")).status).toBe(401);
    await clock.advance(60_000);
    // Now even the right key is refused there, unread, for the rest of the window.
    const refused = await signIn(app, good, from("203.0.113.7"));
    expect(refused.res.status).toBe(429);
    expect(refused.res.headers.get("retry-after")).toBe("540");
    expect(await refused.res.text()).toContain("Too many failed sign-ins");
    expect(sessions()).toEqual({ n: 0 });
    const refusedApi = await api(good, "203.0.113.7");
    expect(refusedApi.status).toBe(429);
    expect(refusedApi.headers.get("retry-after")).toBe("540");
    expect(((await refusedApi.json()) as { error: { code: string } }).error.code).toBe("rate_limited");
    expect(audit.list({ limit: 20 })).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: "POST /dashboard/login",
          actor_key_id: null,
          outcome: "denied",
          status: 429,
          remote: "203.0.113.7",
        }),
        expect.objectContaining({
          action: "GET /v1/no-such-endpoint",
          actor_key_id: null,
          outcome: "denied",
          status: 429,
          error_code: "rate_limited",
          remote: "203.0.113.7",
        }),
      ]),
    );
    // Another address is not affected, and its success clears nothing for the first.
    expect((await signIn(app, good, from("198.51.100.2"))).res.status).toBe(303);
    // (No route answers this path: 404 means the key was accepted.)
    expect((await api(good, "198.51.100.2")).status).toBe(404);
    expect((await signIn(app, good, from("203.0.113.7"))).res.status).toBe(429);
    // Once the window has passed, the first address signs in again.
    await clock.advance(540_000);
    expect((await signIn(app, good, from("203.0.113.7"))).res.status).toBe(303);
  });

  it("signs in, renders the pages, and checks the CSRF token of every form", async () => {
    const { app, key } = setup();
    const { res, cookie } = await signIn(app, key("operator", "clinic-a"));
    expect(res.status).toBe(303);
    expect(res.headers.getSetCookie().join("\n")).toMatch(
      /__Host-msp_session=[^;]+; Max-Age=43200; Path=\/; HttpOnly; Secure; SameSite=Strict/,
    );
    for (const path of [
      "/dashboard/fleet",
      "/dashboard/posture",
      "/dashboard/incidents",
      "/dashboard/approvals",
      "/dashboard/evidence",
    ]) {
      const page = await app.request(path, { headers: { cookie } });
      expect(page.status, path).toBe(200);
      const html = await page.text();
      expect(html).toContain("clinic-a");
      expect(html).not.toContain("clinic-b");
    }
    const wrong = await app.request("/dashboard/logout", {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=nope",
    });
    expect(wrong.status).toBe(403);
    const html = await (await app.request("/dashboard/fleet", { headers: { cookie } })).text();
    const out = await app.request("/dashboard/logout", {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: csrfIn(html) }).toString(),
    });
    expect(out.status).toBe(303);
    expect((await app.request("/dashboard/fleet", { headers: { cookie } })).status).toBe(303);
  });

  it("pages the fleet server-side, keeping the filters in the page links", async () => {
    const { app, key, db } = setup();
    const insert = db.prepare(
      `INSERT INTO agents (agent_id, client_id, hostname, evidence_public_key, agent_version, enrolled_at, last_seen_at)
       VALUES (?, ?, ?, ?, '1.0.0', '2026-11-21T09:00:00.000Z', NULL)`,
    );
    for (let i = 0; i < 450; i++) {
      const id = `srv-${String(i).padStart(3, "0")}`;
      insert.run(id, "clinic-a", `${id}.example`, `${"A".repeat(43)}=`);
    }
    insert.run("srv-b", "clinic-b", "srv-b.example", `${"A".repeat(43)}=`);
    const { cookie } = await signIn(app, key("admin", null));
    const fleet = async (query: string) => {
      const res = await app.request(`/dashboard/fleet${query}`, { headers: { cookie } });
      const html = await res.text();
      return {
        status: res.status,
        html,
        agents: [...html.matchAll(/<tr data-agent-id="([^"]+)"/g)].map((m) => m[1]),
        count: /<p id="fleet-count">([^<]*)<\/p>/.exec(html)?.[1]?.replace(/<!-- -->/g, ""),
      };
    };
    const filter = "?clinic=clinic-a&connection=offline&q=srv-";
    const first = await fleet(filter);
    expect(first.agents).toHaveLength(200);
    expect(first.agents[0]).toBe("srv-000");
    expect(first.count).toBe("200 of 450 agents shown (1–200).");
    expect(first.html).toContain("Page 1 of 3");
    const next =
      '<a href="/dashboard/fleet?clinic=clinic-a&amp;connection=offline&amp;q=srv-&amp;page=2" rel="next">';
    expect(first.html).toContain(next);
    const last = await fleet(`${filter}&page=3`);
    expect(last.agents).toHaveLength(50);
    expect(last.agents[0]).toBe("srv-400");
    expect(last.count).toBe("50 of 450 agents shown (401–450).");
    expect(last.html).toContain(
      'href="/dashboard/fleet?clinic=clinic-a&amp;connection=offline&amp;q=srv-&amp;page=2" rel="prev"',
    );
    // Past the end shows the last page; a filter that fits on one page has no page links.
    expect((await fleet(`${filter}&page=99`)).agents).toEqual(last.agents);
    const narrow = await fleet("?q=srv-00");
    expect(narrow.agents).toHaveLength(10);
    expect(narrow.count).toBe("10 of 10 agents shown; 451 in scope before the filters.");
    expect(narrow.html).not.toContain('class="pager"');
    for (const bad of ["0", "-1", "1.5", "two"]) expect((await fleet(`?page=${bad}`)).status, bad).toBe(400);
  });

  it("answers 404 for another clinic and 400 for bad filters", async () => {
    const { app, key } = setup();
    const { cookie } = await signIn(app, key("auditor", "clinic-a"));
    expect((await app.request("/dashboard/evidence?clinic=clinic-b", { headers: { cookie } })).status).toBe(
      404,
    );
    expect((await app.request("/dashboard/posture?clinic=clinic-b", { headers: { cookie } })).status).toBe(
      404,
    );
    expect((await app.request("/dashboard/posture?month=2026-13", { headers: { cookie } })).status).toBe(400);
    expect((await app.request("/dashboard/fleet?connection=maybe", { headers: { cookie } })).status).toBe(
      400,
    );
  });

  it("sends an auditor's approval through the API route, which refuses it and audits it", async () => {
    const { app, key, audit } = setup();
    const { cookie } = await signIn(app, key("auditor", "clinic-a"));
    const html = await (await app.request("/dashboard/approvals", { headers: { cookie } })).text();
    expect(html).toContain("can read approvals but not decide");
    const res = await app.request("/dashboard/clinics/clinic-a/approvals/PLAN-0123/approve", {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: csrfIn(html) }).toString(),
    });
    expect(res.status).toBe(403);
    const entries = audit.list({ limit: 10 });
    expect(entries).toContainEqual(
      expect.objectContaining({
        action: "POST /v1/clinics/clinic-a/approvals/PLAN-0123/approve",
        actor_role: "auditor",
        outcome: "denied",
        status: 403,
      }),
    );
  });

  it("streams only the caller's clinic events", async () => {
    const { app, key, events } = setup();
    const { cookie } = await signIn(app, key("operator", "clinic-a"));
    const res = await app.request("/dashboard/events", { headers: { cookie } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    events.publish({ type: "agent", client_id: "clinic-b", agent_id: "srv-b1", connection: "online" });
    events.publish({ type: "agent", client_id: "clinic-a", agent_id: "srv-a1", connection: "online" });
    while (!text.includes("srv-a1")) text += decoder.decode((await reader.read()).value);
    expect(text).not.toContain("srv-b1");
    events.close();
    await reader.cancel();
  });
});
