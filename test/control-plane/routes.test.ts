/**
 * Every operator endpoint of the composed control plane, driven from its own
 * OpenAPI document through `app.request()`: no key -> 401; a clinic-A key on
 * clinic B -> 404; an auditor on a mutating route -> 403 (or 404); bad bodies
 * (unknown fields, wrong types, injection strings, not JSON, oversized) -> the
 * right error code. Nothing outside the audit log changes on any refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestControlPlane, type TestControlPlane } from "../support/control-plane.js";

let t: TestControlPlane;
let opA: string;
let audA: string;
type Doc = { paths: Record<string, Record<string, { security: unknown[]; requestBody?: unknown }>> };
let routes: { method: string; path: string; public: boolean; body: boolean }[] = [];

const call = (method: string, path: string, key?: string, body?: string) =>
  t.cp.app.request(path, {
    method: method.toUpperCase(),
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body } : {}),
  });

/** Row counts of every table except the audit log, which records refusals by design. */
const snapshot = () => {
  const tables = t.cp.db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('audit_log', 'sqlite_sequence')",
    )
    .all() as { name: string }[];
  return Object.fromEntries(
    tables.map(({ name }) => [
      name,
      (t.cp.db.prepare(`SELECT count(*) AS n FROM "${name}"`).get() as { n: number }).n,
    ]),
  );
};

const concrete = (path: string, clinic: string) =>
  path
    .replace("{clinic_id}", clinic)
    .replace("{agent_id}", "srv-x")
    .replace("{incident_id}", "INC-20261121-0001")
    .replace("{bundle_id}", "EB-20261121-0001")
    .replace("{plan_id}", `PLAN-${"a".repeat(24)}`)
    .replace("{runbook_id}", "RB-BACKUP-001")
    .replace("{key_id}", "0123456789abcdef")
    .replace("{name}", "llm");

beforeAll(async () => {
  t = await startTestControlPlane();
  for (const id of ["clinic-a", "clinic-b"]) {
    expect(
      (await call("post", "/v1/clinics", t.adminKey, JSON.stringify({ client_id: id, name: id }))).status,
    ).toBe(201);
  }
  const key = async (role: string) =>
    (
      (await (
        await call(
          "post",
          "/v1/api-keys",
          t.adminKey,
          JSON.stringify({ name: role, role, client_id: "clinic-a" }),
        )
      ).json()) as { key: string }
    ).key;
  opA = await key("operator");
  audA = await key("auditor");
  const doc = (await (await call("get", "/openapi.json")).json()) as Doc;
  routes = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method,
      path,
      public: op.security.length === 0,
      body: op.requestBody !== undefined,
    })),
  );
}, 60_000);

afterAll(async () => {
  await t?.stop();
});

describe("every endpoint", () => {
  it("is documented: the OpenAPI document lists the operator API", () => {
    expect(routes.length).toBeGreaterThan(30);
    expect(
      routes
        .filter((r) => r.public)
        .map((r) => r.path)
        .sort(),
    ).toEqual(["/openapi.json", "/v1/agents/renew", "/v1/enroll", "/v1/health"]);
  });

  it("refuses callers without a key (401) and with a revoked-format or unknown key (401), storing nothing", async () => {
    const before = snapshot();
    for (const r of routes.filter((x) => !x.public)) {
      const path = concrete(r.path, "clinic-a");
      for (const key of [undefined, `msp_key_0123456789abcdef_${"x".repeat(43)}`, "Bearer-nonsense"]) {
        const res = await call(r.method, path, key, r.body ? "{}" : undefined);
        expect(res.status, `${r.method} ${path} key=${key}`).toBe(401);
      }
    }
    expect(snapshot()).toEqual(before);
  });

  it("answers a clinic-A key on clinic B with 404, storing nothing", async () => {
    const before = snapshot();
    for (const r of routes.filter((x) => x.path.includes("{clinic_id}"))) {
      const res = await call(r.method, concrete(r.path, "clinic-b"), opA, r.body ? "{}" : undefined);
      expect([403, 404], `${r.method} ${r.path}`).toContain(res.status);
      if (res.status === 403) expect(r.path.startsWith("/v1/clinics/{clinic_id}/audit")).toBe(true);
    }
    expect(snapshot()).toEqual(before);
  });

  it("lets an auditor change nothing", async () => {
    const before = snapshot();
    for (const r of routes.filter((x) => !x.public && x.method !== "get")) {
      const res = await call(r.method, concrete(r.path, "clinic-a"), audA, r.body ? "{}" : undefined);
      expect([403, 404], `${r.method} ${r.path}`).toContain(res.status);
    }
    expect(snapshot()).toEqual(before);
  });

  it("answers bad bodies with 400 or 413 and the error code, storing nothing", async () => {
    const bodies: [string, number, string][] = [
      ['{"unknown_field_xyz": 1}', 400, "invalid_input"],
      ["[1, 2, 3]", 400, "invalid_input"],
      ['"\'; DROP TABLE clinics;--"', 400, "invalid_input"],
      ["{not json", 400, "invalid_input"],
      [JSON.stringify({ name: "x".repeat(300 * 1024) }), 413, "payload_too_large"],
    ];
    const before = snapshot();
    for (const r of routes.filter((x) => x.body && !x.public)) {
      for (const [body, status, code] of bodies) {
        const res = await call(r.method, concrete(r.path, "clinic-a"), t.adminKey, body);
        const error = ((await res.json()) as { error?: { code: string } }).error;
        // A route may refuse earlier for a missing resource (404); it must never store or 500.
        expect([status, 404], `${r.method} ${r.path} ${body.slice(0, 30)}`).toContain(res.status);
        if (res.status === status) expect(error?.code).toBe(code);
      }
    }
    for (const r of routes.filter((x) => x.body && x.public)) {
      const res = await call(r.method, r.path, undefined, '{"unknown_field_xyz": 1}');
      expect([400, 401], `${r.method} ${r.path}`).toContain(res.status);
    }
    expect(snapshot()).toEqual(before);
  });

  it("recorded the refused mutating calls in the audit log", async () => {
    const res = await call("get", "/v1/audit?limit=500", t.adminKey);
    const entries = ((await res.json()) as { entries: { outcome: string }[] }).entries;
    expect(entries.filter((e) => e.outcome === "denied").length).toBeGreaterThan(20);
  });
});
