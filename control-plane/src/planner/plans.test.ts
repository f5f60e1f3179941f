import {
  canonicalBytes,
  ExecuteRunbookFrame,
  FakeClock,
  type Incident,
  isMspError,
  signingKeyFromSeed,
  verifyBytes,
} from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRunbooks } from "../../../runbooks/build-catalog.js";
import { type Db, migrate, openDatabase } from "../db/index.js";
import {
  buildSignedCommand,
  createPlanner,
  createPlanStore,
  PLANNER_MIGRATIONS,
  type Planner,
  type PlanStore,
} from "./index.js";

const RUNBOOKS = loadRunbooks().map((r) => r.definition);
const KEY = signingKeyFromSeed(Buffer.alloc(32, 9));
const SHA = "a".repeat(64);

function incident(over: Partial<Incident> = {}): Incident {
  return {
    incident_id: "INC-20260101-0001",
    client_id: "clinic-a",
    agent_id: "agent-1",
    hostname: "srv1",
    incident_type: "service_crash",
    severity: "high",
    detected_at: "2026-01-01T00:00:00.000Z",
    source: "drift_check",
    details: { service_name: "nginx" },
    ...over,
  };
}

let db: Db;
let clock: FakeClock;
let planner: Planner;
let plans: PlanStore;

beforeEach(() => {
  db = openDatabase(":memory:");
  migrate(db, PLANNER_MIGRATIONS);
  clock = new FakeClock("2026-03-01T10:00:00.000Z");
  planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
  plans = createPlanStore(db);
});
afterEach(() => db.close());

const rejects = (fn: () => unknown, code: string) => {
  try {
    fn();
  } catch (e) {
    expect(isMspError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
};

describe("plan store", () => {
  it("stores a plan that needs no approval as approved", async () => {
    const plan = plans.create(await planner.plan(incident()));
    expect(plan.status).toBe("approved");
    expect(plan.approval_required).toBe(false);
    expect(plan.runbook_id).toBe("RB-SERVICE-001");
    expect(plan.params.service_name).toBe("nginx");
    expect(plans.get(plan.plan_id)).toEqual(plan);
    expect(plans.listPending("clinic-a")).toEqual([]);
  });

  it("queues a critical incident, approves it once and refuses a second decision", async () => {
    const plan = plans.create(await planner.plan(incident({ severity: "critical" })));
    expect(plan.status).toBe("pending_approval");
    expect(plan.approval_reasons).toEqual(["severity is critical"]);
    expect(plans.listPending("clinic-a").map((p) => p.plan_id)).toEqual([plan.plan_id]);
    expect(plans.listPending("clinic-b")).toEqual([]);
    await clock.advance(60_000);
    const approved = plans.approve(plan.plan_id, "ops@msp.example", clock);
    expect(approved).toMatchObject({
      status: "approved",
      approver: "ops@msp.example",
      decided_at: "2026-03-01T10:01:00.000Z",
    });
    rejects(() => plans.approve(plan.plan_id, "other", clock), "conflict");
    rejects(() => plans.reject(plan.plan_id, "other", "no", clock), "conflict");
    expect(plans.get(plan.plan_id).approver).toBe("ops@msp.example");
  });

  it("rejects with a reason, and a rejected plan can neither be approved nor executed", async () => {
    const plan = plans.create(await planner.plan(incident({ severity: "critical" })));
    rejects(() => plans.reject(plan.plan_id, "ops", "   ", clock), "invalid_input");
    const rejected = plans.reject(plan.plan_id, "ops", "maintenance window", clock);
    expect(rejected).toMatchObject({ status: "rejected", reject_reason: "maintenance window" });
    rejects(() => plans.approve(plan.plan_id, "ops", clock), "conflict");
    rejects(
      () =>
        buildSignedCommand(rejected, {
          agentId: "agent-1",
          runbookSha256: SHA,
          signingKey: KEY,
          clock,
          ttlSeconds: 60,
        }),
      "conflict",
    );
  });

  it("refuses an auto-approved plan a second decision", async () => {
    const plan = plans.create(await planner.plan(incident()));
    rejects(() => plans.approve(plan.plan_id, "ops", clock), "conflict");
  });

  it("answers bad ids and approvers with typed errors and changes nothing", async () => {
    const plan = plans.create(await planner.plan(incident({ severity: "critical" })));
    rejects(() => plans.get("PLAN-nope"), "invalid_input");
    rejects(() => plans.get(`PLAN-${"0".repeat(24)}`), "not_found");
    rejects(() => plans.approve(plan.plan_id, "", clock), "invalid_input");
    rejects(() => plans.approve(plan.plan_id, "ops\nforged", clock), "invalid_input");
    rejects(() => plans.listPending("clinic-a", 0), "invalid_input");
    expect(plans.get(plan.plan_id).status).toBe("pending_approval");
  });

  it("refuses to make a plan of a human-review decision", async () => {
    const d = await planner.plan(incident({ incident_type: "firewall_drift" }));
    expect(d.outcome).toBe("human_review");
    rejects(() => plans.create(d), "invalid_input");
  });
});

describe("buildSignedCommand", () => {
  it("signs the canonical command of an approved plan, with the approval recorded", async () => {
    const plan = plans.approve(
      plans.create(await planner.plan(incident({ severity: "critical" }))).plan_id,
      "ops",
      clock,
    );
    const frame = buildSignedCommand(plan, {
      agentId: "agent-1",
      runbookSha256: SHA,
      signingKey: KEY,
      clock,
      ttlSeconds: 300,
    });
    expect(ExecuteRunbookFrame.safeParse(frame).success).toBe(true);
    const c = frame.command;
    expect(c.command_id).toMatch(/^CMD-[0-9a-f]{24}$/);
    expect(c).toMatchObject({
      agent_id: "agent-1",
      client_id: "clinic-a",
      incident_id: "INC-20260101-0001",
      runbook_id: "RB-SERVICE-001",
      runbook_sha256: SHA,
      issued_at: "2026-03-01T10:00:00.000Z",
      expires_at: "2026-03-01T10:05:00.000Z",
      dry_run: false,
      planner: { kind: "rules", confidence: 0.9, fallback_reason: null },
      approval: { decision: "approved", approver: "ops", decided_at: "2026-03-01T10:00:00.000Z" },
    });
    expect(frame.signature.key_id).toBe(KEY.keyId);
    const pub = KEY.publicKey.toString("base64");
    const sig = Buffer.from(frame.signature.value, "base64");
    expect(verifyBytes(pub, canonicalBytes(c), sig)).toBe(true);
    expect(
      verifyBytes(pub, canonicalBytes({ ...c, params: { ...c.params, service_name: "sshd" } }), sig),
    ).toBe(false);
  });

  it("marks a plan that needed no approval as not_required", async () => {
    const plan = plans.create(await planner.plan(incident()));
    const frame = buildSignedCommand(plan, {
      agentId: "agent-1",
      runbookSha256: SHA,
      signingKey: KEY,
      clock,
      ttlSeconds: 60,
    });
    expect(frame.command.approval).toEqual({ decision: "not_required", approver: null, decided_at: null });
  });

  it("refuses a pending plan, another agent, a bad ttl or pin", async () => {
    const pending = plans.create(await planner.plan(incident({ severity: "critical" })));
    const ok = plans.create(await planner.plan(incident()));
    const opts = { agentId: "agent-1", runbookSha256: SHA, signingKey: KEY, clock, ttlSeconds: 60 };
    rejects(() => buildSignedCommand(pending, opts), "conflict");
    rejects(() => buildSignedCommand(ok, { ...opts, agentId: "agent-2" }), "invalid_input");
    rejects(() => buildSignedCommand(ok, { ...opts, ttlSeconds: 0 }), "invalid_input");
    rejects(() => buildSignedCommand(ok, { ...opts, ttlSeconds: 86_401 }), "invalid_input");
    rejects(() => buildSignedCommand(ok, { ...opts, runbookSha256: "xyz" }), "invalid_input");
  });
});
