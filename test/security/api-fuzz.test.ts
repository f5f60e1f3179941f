/**
 * Property-based fuzzing of every operator API body (invariant 5: bad input
 * gets a clear error and changes nothing), against a real control plane over
 * HTTPS on 127.0.0.1. The list of endpoints with a request body is read from
 * the live `/openapi.json`, so a new endpoint is fuzzed without touching this
 * file, and an endpoint this file cannot fuzz (an unknown path parameter, a
 * JSON Schema keyword the generator does not know) fails its test.
 *
 * Per endpoint: arbitrary JSON values the document calls invalid, near misses
 * of its schema (one rule broken), text that is not JSON or not sent as JSON,
 * and values the document calls valid. Every answer must be 2xx or 4xx (never
 * 5xx); every 4xx must carry the documented error body, leave every mutable
 * table byte-identical and add exactly one audit row with that status.
 */
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { enrollTestAgent, startTestControlPlane } from "../support/control-plane.js";
import {
  auditHead,
  auditSince,
  digest,
  errorShapeProblem,
  FUZZ_SEED,
  fuzz,
  type RawResponse,
  send,
} from "./harness.js";
import { assertSupported, conforms, nearMissOf, type Schema, validOf } from "./json-schema.js";

type Operation = {
  security: unknown[];
  requestBody?: { content: { "application/json": { schema: Schema } } };
};
type Doc = { paths: Record<string, Record<string, Operation>> };

const t = await startTestControlPlane();
afterAll(() => t.stop());

for (const id of ["clinic-a", "clinic-b"]) {
  const res = await t.api("POST", "/v1/clinics", t.adminKey, { client_id: id, name: id });
  if (res.status !== 201) throw new Error(`clinic ${id}: ${res.status}`);
}
await enrollTestAgent(t, "clinic-a", "srv-a");

/** A concrete value for each path parameter the API declares; a new one must be added here. */
const PATH_VALUES: Record<string, string> = {
  clinic_id: "clinic-a",
  agent_id: "srv-a",
  incident_id: "INC-20261121-0001",
  bundle_id: "EB-20261121-0001",
  plan_id: `PLAN-${"a".repeat(24)}`,
  runbook_id: "RB-BACKUP-001",
  key_id: "0123456789abcdef",
  name: "llm",
  seq: "1",
};

const runbooks = (await t.api<{ runbooks: { id: string }[] }>("GET", "/v1/runbooks", t.adminKey)).body
  .runbooks;

/**
 * Body fields that name things the fuzzer's clinic has: valid values get them
 * half of the time, so they reach the planner, guardrails and registry instead
 * of stopping at "no such agent".
 */
const PINS: Record<string, fc.Arbitrary<unknown>> = {
  client_id: fc.constant("clinic-a"),
  agent_id: fc.constant("srv-a"),
  runbook_id: fc.constantFrom(...runbooks.map((r) => r.id)),
};

/** Valid values, half of them with the pinned fields set to existing things. */
function validPinned(schema: Schema): fc.Arbitrary<unknown> {
  return fc.oneof(
    validOf(schema),
    fc.tuple(validOf(schema), fc.record(PINS)).map(([v, pins]) => {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
      const out = { ...(v as Record<string, unknown>) };
      for (const [k, x] of Object.entries(pins)) if (k in (schema.properties ?? {})) out[k] = x;
      return out;
    }),
  );
}

const doc = (await t.api<Doc>("GET", "/openapi.json")).body;
const bodyRoutes = Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops)
    .filter(([, op]) => op.requestBody !== undefined)
    .map(([method, op]) => ({
      method,
      path,
      public: op.security.length === 0,
      schema: op.requestBody?.content["application/json"].schema as Schema,
    })),
);
const fuzzed = new Set<string>();

/** The concrete URL of a documented path; throws for a parameter without a value. */
function concrete(path: string): string {
  return path.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const v = PATH_VALUES[name];
    if (v === undefined)
      throw new Error(`no fuzzing value for path parameter {${name}}: add one to PATH_VALUES`);
    return v;
  });
}

/** Sends one body and checks the invariants; `mustRefuse` also demands 400 invalid_input. */
async function probe(
  r: (typeof bodyRoutes)[number],
  body: string,
  opts: { contentType?: string; mustRefuse: boolean },
): Promise<RawResponse> {
  const before = digest(t.cp.db);
  const head = auditHead(t.cp.db);
  const res = await send(t, r.method, concrete(r.path), {
    ...(r.public ? {} : { key: t.adminKey }),
    body,
    ...(opts.contentType === undefined ? {} : { contentType: opts.contentType }),
  });
  const what = `${r.method.toUpperCase()} ${r.path} <- ${body.slice(0, 200)} => ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeGreaterThanOrEqual(200);
  expect(res.status, what).toBeLessThan(500);
  if (res.status >= 300) {
    expect(res.status, what).toBeGreaterThanOrEqual(400);
    expect(errorShapeProblem(res.json), what).toBeNull();
    expect(digest(t.cp.db), what).toEqual(before);
    const audit = auditSince(t.cp.db, head);
    expect(
      audit.map((a) => [a.action, a.status, a.outcome === "ok"]),
      what,
    ).toEqual([[`${r.method.toUpperCase()} ${concrete(r.path)}`, res.status, false]]);
    expect(audit[0]?.error_code, what).toBe((res.json as { error: { code: string } }).error.code);
  }
  if (opts.mustRefuse) {
    expect(res.status, what).toBe(400);
    expect((res.json as { error?: { code?: string } }).error?.code, what).toBe("invalid_input");
  }
  return res;
}

describe("API bodies", () => {
  it("are listed from the live OpenAPI document", () => {
    // The operator API had 10 body endpoints when this suite was written; fewer means the derivation broke.
    expect(bodyRoutes.length).toBeGreaterThanOrEqual(10);
    expect(bodyRoutes.map((r) => `${r.method} ${r.path}`)).toContain(
      "post /v1/clinics/{clinic_id}/incidents",
    );
  });

  for (const r of bodyRoutes) {
    const name = `${r.method.toUpperCase()} ${r.path}`;
    it(`${name}: refuses every invalid body with 400 and changes nothing (seed ${FUZZ_SEED})`, async () => {
      assertSupported(r.schema);
      concrete(r.path);

      await fuzz(
        `${name} arbitrary JSON`,
        fc.jsonValue({ maxDepth: 3 }).filter((v) => !conforms(r.schema, v)),
        async (v) => void (await probe(r, JSON.stringify(v), { mustRefuse: true })),
        15,
      );
      await fuzz(
        `${name} near misses`,
        nearMissOf(r.schema),
        async (v) => void (await probe(r, JSON.stringify(v), { mustRefuse: true })),
        30,
      );
      await fuzz(
        `${name} not JSON`,
        fc
          .oneof(
            fc.string({ maxLength: 64 }).map((s) => ({ body: s, contentType: "application/json" })),
            validOf(r.schema).map((v) => ({ body: JSON.stringify(v), contentType: "text/plain" })),
            validOf(r.schema).map((v) => ({
              body: JSON.stringify(v),
              contentType: "application/x-www-form-urlencoded",
            })),
          )
          .filter(({ body, contentType }) => {
            if (contentType !== "application/json") return true;
            try {
              JSON.parse(body);
              return false;
            } catch {
              return true;
            }
          }),
        async ({ body, contentType }) => void (await probe(r, body, { contentType, mustRefuse: true })),
        8,
      );
      // Valid by the document: may be accepted, or refused for what the schema cannot say (a missing
      // plan, an unknown agent, a guardrail); a refusal must still store nothing.
      await fuzz(
        `${name} valid`,
        validPinned(r.schema),
        async (v) => {
          expect(conforms(r.schema, v)).toBe(true);
          await probe(r, JSON.stringify(v), { mustRefuse: false });
        },
        // Few: an accepted body may do real work (a compliance packet renders a PDF in seconds).
        5,
      );
      fuzzed.add(name);
    }, 90_000);
  }

  it("fuzzed every endpoint that takes a body", () => {
    expect([...fuzzed].sort()).toEqual(bodyRoutes.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort());
  });

  it("kept serving: health answers and the agent's clinic is intact", async () => {
    // The database check, not the overall status: packet artifacts accepted above currently fail
    // their WORM upload (content type with a charset), which degrades /v1/health; that is reported
    // as a packets bug, not something this fuzzing caused by slipping past validation.
    const health = await send(t, "GET", "/v1/health");
    expect(health.json, health.text).toMatchObject({ checks: { database: "ok" } });
    const agents = await t.api<{ agents: { agent_id: string }[] }>(
      "GET",
      "/v1/clinics/clinic-a/agents",
      t.adminKey,
    );
    expect(agents.status).toBe(200);
  });
});
