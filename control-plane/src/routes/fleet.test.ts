import { describe, expect, it } from "vitest";
import { apiTestkit } from "../api/testkit.js";

const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

describe("fleet routes", () => {
  it("admin creates a clinic; bad bodies are refused and store nothing", async () => {
    const t = apiTestkit();
    const ok = await t.call("POST", "/v1/clinics", t.admin, {
      client_id: "clinic-c",
      name: "C",
      service_allowlist: ["sshd"],
    });
    expect(ok.status).toBe(201);
    expect(await ok.json()).toMatchObject({ client_id: "clinic-c", service_allowlist: ["sshd"] });
    const before = t.count("clinics");
    const bad: [unknown, number, string][] = [
      [{ client_id: "Clinic C!", name: "x" }, 400, "invalid_input"],
      [{ client_id: "clinic-d", name: 5 }, 400, "invalid_input"],
      [{ client_id: "clinic-d", name: "x", extra: 1 }, 400, "invalid_input"],
      [{ client_id: "clinic-d'; DROP TABLE clinics;--", name: "x" }, 400, "invalid_input"],
      [{ client_id: "clinic-d", name: "x", service_allowlist: ["nginx; rm -rf /"] }, 400, "invalid_input"],
      ["{not json", 400, "invalid_input"],
      [{ client_id: "clinic-c", name: "dup" }, 409, "conflict"],
    ];
    for (const [body, status, code] of bad) {
      const res = await t.call("POST", "/v1/clinics", t.admin, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect((await errorOf(res)).code).toBe(code);
    }
    expect(t.count("clinics")).toBe(before);
  });

  it("refuses oversized bodies with 413 and wrong content types with 400", async () => {
    const t = apiTestkit();
    const huge = JSON.stringify({ client_id: "clinic-z", name: "x".repeat(300 * 1024) });
    const res = await t.call("POST", "/v1/clinics", t.admin, huge);
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe("payload_too_large");
    const text = await t.call("POST", "/v1/clinics", t.admin, undefined, { "content-type": "text/plain" });
    expect(text.status).toBe(400);
    expect(t.registry.getClinic("clinic-z")).toBeUndefined();
  });

  it("authenticates: missing, malformed, unknown and revoked keys get 401; wrong role 403", async () => {
    const t = apiTestkit();
    expect((await t.call("GET", "/v1/clinics")).status).toBe(401);
    expect((await t.call("GET", "/v1/clinics", "nonsense")).status).toBe(401);
    expect((await t.call("GET", "/v1/clinics", `msp_key_0123456789abcdef_${"A".repeat(43)}`)).status).toBe(
      401,
    );
    const op = t.keyFor("operator", "clinic-a");
    const id = /^msp_key_([0-9a-f]{16})_/.exec(op)?.[1] ?? "";
    expect((await t.call("GET", "/v1/clinics", op)).status).toBe(200);
    expect((await t.call("POST", `/v1/api-keys/${id}/revoke`, t.admin)).status).toBe(200);
    expect((await t.call("GET", "/v1/clinics", op)).status).toBe(401);
    const auditor = t.keyFor("auditor", "clinic-a");
    const denied = await t.call("POST", "/v1/clinics/clinic-a/enrollment-tokens", auditor, {});
    expect(denied.status).toBe(403);
    expect((await errorOf(denied)).code).toBe("forbidden");
    expect(t.count("enrollment_tokens")).toBe(0);
  });

  it("a key of clinic A gets 404 for clinic B, and the attempt is audited", async () => {
    const t = apiTestkit();
    const a = t.keyFor("operator", "clinic-a");
    expect((await t.call("GET", "/v1/clinics/clinic-a", a)).status).toBe(200);
    for (const path of ["/v1/clinics/clinic-b", "/v1/clinics/clinic-b/agents", "/v1/clinics/clinic-nope"]) {
      const res = await t.call("GET", path, a);
      expect(res.status, path).toBe(404);
    }
    const list = (await (await t.call("GET", "/v1/clinics", a)).json()) as {
      clinics: { client_id: string }[];
    };
    expect(list.clinics.map((c) => c.client_id)).toEqual(["clinic-a"]);
    const write = await t.call("POST", "/v1/clinics/clinic-b/enrollment-tokens", a, {});
    expect(write.status).toBe(404);
    expect(t.count("enrollment_tokens")).toBe(0);
    const entry = t.audit.list({ limit: 1 })[0];
    expect(entry).toMatchObject({
      client_id: "clinic-b",
      outcome: "denied",
      status: 404,
      error_code: "not_found",
    });
  });

  it("records every mutating call in the audit log, including unauthenticated ones", async () => {
    const t = apiTestkit();
    await t.call("POST", "/v1/clinics", undefined, { client_id: "x1", name: "x" });
    await t.call("POST", "/v1/clinics/clinic-a/enrollment-tokens", t.admin, { ttl_seconds: 600 });
    const [ok, refused] = t.audit.list({ limit: 10 });
    expect(refused).toMatchObject({
      actor_key_id: null,
      outcome: "denied",
      status: 401,
      error_code: "unauthenticated",
    });
    expect(ok).toMatchObject({ client_id: "clinic-a", actor_role: "admin", outcome: "ok", status: 201 });
    expect(() => t.db.prepare("DELETE FROM audit_log").run()).toThrow(/append-only/);
  });

  it("creates keys with scope rules and never returns secrets in listings", async () => {
    const t = apiTestkit();
    const bad = await t.call("POST", "/v1/api-keys", t.admin, {
      name: "x",
      role: "operator",
      client_id: null,
    });
    expect(bad.status).toBe(400);
    const missing = await t.call("POST", "/v1/api-keys", t.admin, {
      name: "x",
      role: "auditor",
      client_id: "clinic-zz",
    });
    expect(missing.status).toBe(404);
    const made = await t.call("POST", "/v1/api-keys", t.admin, {
      name: "ops",
      role: "operator",
      client_id: "clinic-a",
    });
    expect(made.status).toBe(201);
    const { key } = (await made.json()) as { key: string };
    expect((await t.call("GET", "/v1/clinics/clinic-a/agents", key)).status).toBe(200);
    const listing = await (await t.call("GET", "/v1/api-keys", t.admin)).text();
    expect(listing).not.toContain(key.slice(-43));
    expect(listing).not.toContain("secret");
  });

  it("serves health, metrics to admins only, and an OpenAPI document listing every route", async () => {
    const t = apiTestkit();
    expect(await (await t.call("GET", "/v1/health")).json()).toMatchObject({
      status: "ok",
      protocol_version: 1,
    });
    expect((await t.call("GET", "/metrics")).status).toBe(401);
    const metrics = await (await t.call("GET", "/metrics", t.admin)).text();
    expect(metrics).toContain("msp_api_requests_total");
    const doc = (await (await t.call("GET", "/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(doc.paths)).toContain("/v1/clinics/{clinic_id}/agents/{agent_id}");
    expect(doc.paths["/v1/clinics"]).toHaveProperty("post.requestBody");
    expect((await t.call("GET", "/v1/nope", t.admin)).status).toBe(404);
  });

  it("enrollment tokens are one-time secrets with an expiry", async () => {
    const t = apiTestkit();
    const res = await t.call("POST", "/v1/clinics/clinic-a/enrollment-tokens", t.admin, {
      ttl_seconds: 3600,
    });
    const body = (await res.json()) as { token: string; expires_at: string };
    expect(body.token).toMatch(/^msp_enr_[A-Za-z0-9_-]{43}$/);
    expect(body.expires_at).toBe("2026-11-01T13:00:00.000Z");
    const stored = t.db.prepare("SELECT * FROM enrollment_tokens").get() as Record<string, unknown>;
    expect(JSON.stringify(stored)).not.toContain(body.token);
    expect(
      (await t.call("POST", "/v1/clinics/clinic-a/enrollment-tokens", t.admin, { ttl_seconds: 5 })).status,
    ).toBe(400);
  });

  it("sets a runbook's site parameters through the guardrail check", async () => {
    const t = apiTestkit();
    const op = t.keyFor("operator", "clinic-a");
    const ok = await t.call("POST", "/v1/clinics/clinic-a/runbook-params", op, {
      runbook_id: "RB-BACKUP-001",
      params: { source_dir: "/srv/ehr" },
    });
    expect(ok.status).toBe(200);
    expect(t.registry.getClinic("clinic-a")?.runbook_params).toEqual({
      "RB-BACKUP-001": { source_dir: "/srv/ehr" },
    });
    const bad = await t.call("POST", "/v1/clinics/clinic-a/runbook-params", op, {
      runbook_id: "RB-BACKUP-001",
      params: { source_dir: "/srv/$(reboot)" },
    });
    expect(bad.status).toBe(400);
    expect(t.registry.getClinic("clinic-a")?.runbook_params).toEqual({
      "RB-BACKUP-001": { source_dir: "/srv/ehr" },
    });
    expect(
      (
        await t.call("POST", "/v1/clinics/clinic-b/runbook-params", op, {
          runbook_id: "RB-BACKUP-001",
          params: {},
        })
      ).status,
    ).toBe(404);
  });
});
