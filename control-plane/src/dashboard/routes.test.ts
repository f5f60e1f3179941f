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
import { createDashboardEvents, mountDashboard } from "./index.js";

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
  const app = createApp({
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
  });
  const key = (role: "operator" | "auditor" | "admin", client_id: string | null) =>
    apiKeys.create({ name: role, role, client_id, created_by: null }).key;
  return { app, audit, key, db, events };
}

const cookieOf = (res: Response, name: string) =>
  /^([^=]+)=([^;]*)/.exec(
    res.headers.getSetCookie().find((c) => c.startsWith(`__Host-${name}=`)) ?? "",
  )?.[2] ?? "";

async function signIn(app: ReturnType<typeof setup>["app"], apiKey: string) {
  const form = await app.request("/dashboard/login");
  const loginToken = cookieOf(form, "msp_login");
  const res = await app.request("/dashboard/login", {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: `__Host-msp_login=${loginToken}`,
    },
    body: new URLSearchParams({ csrf: loginToken, api_key: apiKey }).toString(),
  });
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
