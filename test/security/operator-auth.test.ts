/**
 * Invariant 4 for operators, over real HTTPS: a missing, wrong or revoked
 * API key is refused; a clinic-scoped key reading or writing another clinic
 * gets the same 404 as for a clinic that does not exist (so it learns
 * nothing), and an auditor cannot write. Every refused write stores nothing
 * and is in the audit log with who tried, on which clinic, and the error.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startTestControlPlane } from "../support/control-plane.js";
import { auditHead, auditSince, digest, errorShapeProblem, send } from "./harness.js";

const t = await startTestControlPlane();
afterAll(() => t.stop());
for (const id of ["clinic-a", "clinic-b"]) {
  if ((await t.api("POST", "/v1/clinics", t.adminKey, { client_id: id, name: id })).status !== 201)
    throw new Error(`clinic ${id}`);
}

async function makeKey(role: string, clinic: string) {
  const res = await t.api<{ key: string; info: { key_id: string } }>("POST", "/v1/api-keys", t.adminKey, {
    name: `${role}-${clinic}`,
    role,
    client_id: clinic,
  });
  if (res.status !== 201) throw new Error(`key: ${res.status}`);
  return { key: res.body.key, id: res.body.info.key_id };
}
const opA = await makeKey("operator", "clinic-a");
const audA = await makeKey("auditor", "clinic-a");
const revoked = await makeKey("operator", "clinic-a");
if ((await t.api("POST", `/v1/api-keys/${revoked.id}/revoke`, t.adminKey, {})).status !== 200)
  throw new Error("revoke");

const incident = (clinic: string) => ({
  incident_id: "INC-20261121-0001",
  client_id: clinic,
  hostname: "srv-x",
  incident_type: "backup_failure",
  severity: "high",
  detected_at: "2026-11-21T08:00:00.000Z",
  source: "operator",
});

/** A write that must be refused: status, error shape, nothing stored, one audit row as expected. */
async function refusedWrite(
  path: string,
  body: unknown,
  key: string | undefined,
  expected: { status: number; code: string; actor: string | null; client: string | null },
) {
  const before = digest(t.cp.db);
  const head = auditHead(t.cp.db);
  const res = await send(t, "POST", path, { ...(key ? { key } : {}), body: JSON.stringify(body) });
  expect(res.status, path).toBe(expected.status);
  expect(errorShapeProblem(res.json)).toBeNull();
  expect((res.json as { error: { code: string } }).error.code).toBe(expected.code);
  expect(digest(t.cp.db)).toEqual(before);
  expect(auditSince(t.cp.db, head)).toMatchObject([
    {
      action: `POST ${path}`,
      actor_key_id: expected.actor,
      client_id: expected.client,
      outcome: "denied",
      status: expected.status,
      error_code: expected.code,
    },
  ]);
}

const WRITES = [
  ["/v1/clinics/clinic-a/incidents", incident("clinic-a")],
  ["/v1/clinics/clinic-a/enrollment-tokens", {}],
  ["/v1/api-keys", { name: "x", role: "admin", client_id: null }],
] as const;

describe("operator API keys", () => {
  it("refuses a missing key: reads and writes 401, writes audited", async () => {
    expect((await send(t, "GET", "/v1/clinics/clinic-a/incidents")).status).toBe(401);
    for (const [path, body] of WRITES) {
      await refusedWrite(path, body, undefined, {
        status: 401,
        code: "unauthenticated",
        actor: null,
        client: path.includes("clinic-a") ? "clinic-a" : null,
      });
    }
  });

  it("refuses wrong keys: unknown id, a real id with a wrong secret, and malformed ones", async () => {
    const wrong = [
      `msp_key_0123456789abcdef_${"x".repeat(43)}`,
      `msp_key_${opA.id}_${"y".repeat(43)}`,
      `${opA.key}x`,
      "msp_key_",
    ];
    for (const key of wrong) {
      expect((await send(t, "GET", "/v1/clinics/clinic-a/incidents", { key })).status).toBe(401);
      await refusedWrite("/v1/clinics/clinic-a/incidents", incident("clinic-a"), key, {
        status: 401,
        code: "unauthenticated",
        actor: null,
        client: "clinic-a",
      });
    }
  });

  it("refuses a revoked key on reads and writes", async () => {
    expect((await send(t, "GET", "/v1/clinics/clinic-a/incidents", { key: revoked.key })).status).toBe(401);
    for (const [path, body] of WRITES) {
      await refusedWrite(path, body, revoked.key, {
        status: 401,
        code: "unauthenticated",
        actor: null,
        client: path.includes("clinic-a") ? "clinic-a" : null,
      });
    }
  });

  it("answers a clinic-A key on clinic B exactly as on a clinic that does not exist (reads), audited", async () => {
    for (const tail of ["", "/incidents", "/agents", "/evidence", "/anomalies", "/audit"]) {
      const head = auditHead(t.cp.db);
      const other = await send(t, "GET", `/v1/clinics/clinic-b${tail}`, { key: opA.key });
      // The refused read is in the audit trail under the key that tried and the clinic it tried.
      expect(auditSince(t.cp.db, head), tail).toMatchObject([
        {
          action: `GET /v1/clinics/clinic-b${tail}`,
          actor_key_id: opA.id,
          client_id: "clinic-b",
          outcome: "denied",
          status: tail === "/audit" ? 403 : 404,
        },
      ]);
      const none = await send(t, "GET", `/v1/clinics/clinic-zz${tail}`, { key: opA.key });
      // An operator may not read audit logs at all (403 before the clinic is looked at); the rest is 404.
      expect(other.status, tail).toBe(tail === "/audit" ? 403 : 404);
      expect(none.status, tail).toBe(other.status);
      expect(other.text.replace("clinic-b", "X")).toBe(none.text.replace("clinic-zz", "X"));
    }
    // The same key reads its own clinic (the control).
    expect((await send(t, "GET", "/v1/clinics/clinic-a/incidents", { key: opA.key })).status).toBe(200);
    // A read without a key is refused and audited too (a failed sign-in an auditor should see).
    const head = auditHead(t.cp.db);
    expect((await send(t, "GET", "/v1/clinics/clinic-a/incidents")).status).toBe(401);
    expect(auditSince(t.cp.db, head)).toMatchObject([
      { action: "GET /v1/clinics/clinic-a/incidents", actor_key_id: null, outcome: "denied", status: 401 },
    ]);
  });

  it("refuses a clinic-A key's writes on clinic B with 404, audited under that key and clinic B", async () => {
    for (const [path, body] of [
      ["/v1/clinics/clinic-b/incidents", incident("clinic-b")],
      ["/v1/clinics/clinic-b/enrollment-tokens", {}],
      ["/v1/clinics/clinic-b/agents/srv-x/revoke", {}],
      ["/v1/clinics/clinic-b/runbook-params", { runbook_id: "RB-BACKUP-001", params: {} }],
    ] as const) {
      await refusedWrite(path, body, opA.key, {
        status: 404,
        code: "not_found",
        actor: opA.id,
        client: "clinic-b",
      });
    }
  });

  it("refuses an auditor's writes on its own clinic with 403, audited", async () => {
    await refusedWrite("/v1/clinics/clinic-a/incidents", incident("clinic-a"), audA.key, {
      status: 403,
      code: "forbidden",
      actor: audA.id,
      client: "clinic-a",
    });
    await refusedWrite("/v1/clinics/clinic-a/enrollment-tokens", {}, audA.key, {
      status: 403,
      code: "forbidden",
      actor: audA.id,
      client: "clinic-a",
    });
  });
});
