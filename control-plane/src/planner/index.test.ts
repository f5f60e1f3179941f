import { canonicalSha256, FakeClock, type Incident, isMspError } from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadRunbooks } from "../../../runbooks/build-catalog.js";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { createPlanner, type LlmCircuit, PLANNER_MIGRATIONS, RULE_CONFIDENCE } from "./index.js";

const RUNBOOKS = loadRunbooks().map((r) => r.definition);

function incident(over: Partial<Incident> = {}): Incident {
  return {
    incident_id: "INC-20260101-0001",
    client_id: "clinic-a",
    agent_id: "agent-1",
    hostname: "srv1",
    incident_type: "high_cpu",
    severity: "high",
    detected_at: "2026-01-01T00:00:00.000Z",
    source: "drift_check",
    details: {},
    ...over,
  };
}

let db: Db;
let clock: FakeClock;
beforeEach(() => {
  db = openDatabase(":memory:");
  migrate(db, PLANNER_MIGRATIONS);
  clock = new FakeClock("2026-03-01T10:00:00.000Z");
});
afterEach(() => db.close());

describe("planner.decide", () => {
  it("logs nothing until record(), which logs once and refuses a second call", async () => {
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    const pending = await planner.decide(incident());
    expect(planner.log.query()).toHaveLength(0);
    const decision = pending.record();
    expect(planner.log.query().map((e) => e.id)).toEqual([decision.decision_id]);
    expect(() => pending.record()).toThrow(/twice/);
    expect(planner.log.query()).toHaveLength(1);
  });

  it("logs nothing when the transaction around record() rolls back", async () => {
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    const pending = await planner.decide(incident());
    expect(() =>
      db.transaction(() => {
        pending.record();
        throw new Error("later write failed");
      })(),
    ).toThrow(/later write/);
    expect(planner.log.query()).toHaveLength(0);
  });
});

describe("createPlanner (rules only)", () => {
  it("fails fast on bad options", () => {
    expect(() => createPlanner({ db, runbooks: [...RUNBOOKS, ...RUNBOOKS], clock })).toThrow(/given twice/);
    expect(() => createPlanner({ db, runbooks: RUNBOOKS, clock, approvalThreshold: 1.5 })).toThrow(/0..1/);
    expect(() =>
      createPlanner({ db, runbooks: RUNBOOKS, clock, llm: { baseURL: "ftp://x", apiKey: "k", model: "m" } }),
    ).toThrow(/http/);
  });

  it("plans without a model, logs the decision and never touches the circuit", async () => {
    const calls: string[] = [];
    const circuit: LlmCircuit = {
      allowRequest: () => {
        calls.push("allow");
        return true;
      },
      recordSuccess: () => calls.push("ok"),
      recordFailure: () => calls.push("fail"),
    };
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock, circuit });
    const inc = incident({ details: { process_name: "runaway", cpu_threshold_percent: 95 } });
    const d = await planner.plan(inc);
    expect(calls).toEqual([]);
    expect(d).toMatchObject({
      outcome: "plan",
      runbook_id: "RB-CPU-001",
      planner: { kind: "rules", confidence: RULE_CONFIDENCE.exact, fallback_reason: null },
      requires_approval: false,
      model: null,
      prompt_version: null,
      inputs_sha256: canonicalSha256(inc),
    });
    expect(d.params).toEqual({
      cpu_threshold_percent: 95,
      grace_seconds: 10,
      process_name: "runaway",
      sample_ms: 3000,
      top_count: 5,
    });
    const [row] = planner.log.query({ incidentId: inc.incident_id });
    expect(row).toMatchObject({
      id: d.decision_id,
      planner_kind: "rules",
      runbook_id: "RB-CPU-001",
      params: d.params,
    });
  });

  it("ignores details that fail the rules and falls back to defaults", async () => {
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    const d = await planner.plan(
      incident({ details: { process_name: "x; rm -rf /", cpu_threshold_percent: 99999, sample_ms: "100" } }),
    );
    expect(d.params).toEqual({ cpu_threshold_percent: 90, grace_seconds: 10, sample_ms: 3000, top_count: 5 });
  });

  it("requires approval under the configured threshold and for a severity the runbook does not list", async () => {
    const strict = createPlanner({ db, runbooks: RUNBOOKS, clock, approvalThreshold: 0.95 });
    expect((await strict.plan(incident())).approval_reasons).toEqual([
      "confidence 0.9 is below the threshold 0.95",
    ]);
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    const low = await planner.plan(incident({ severity: "low" }));
    expect(low.planner.confidence).toBe(RULE_CONFIDENCE.severityMismatch);
    expect(low.requires_approval).toBe(true);
  });

  it("sends an event type no runbook handles, or missing required parameters, to human review", async () => {
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    const none = await planner.plan(incident({ incident_type: "firewall_drift" }));
    expect(none).toMatchObject({ outcome: "human_review", runbook_id: null, requires_approval: false });
    expect(none.review_reason).toContain("firewall_drift");
    const missing = await planner.plan(incident({ incident_type: "backup_failure", severity: "high" }));
    expect(missing.outcome).toBe("human_review");
    expect(missing.review_reason).toContain("source_dir, repository_dir");
    const site = createPlanner({
      db,
      runbooks: RUNBOOKS,
      clock,
      siteParams: (_inc, id) =>
        id === "RB-BACKUP-001" ? { source_dir: "/srv/ehr", repository_dir: "/backup" } : {},
    });
    const ok = await site.plan(incident({ incident_type: "backup_failure", severity: "high" }));
    expect(ok).toMatchObject({ outcome: "plan", runbook_id: "RB-BACKUP-001" });
    expect(ok.params).toMatchObject({ source_dir: "/srv/ehr", repository_dir: "/backup", min_free_mb: 100 });
    expect(planner.log.query({ clientId: "clinic-a" })).toHaveLength(3);
  });

  it("refuses an invalid incident with a typed error and logs nothing", async () => {
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    for (const bad of [
      { ...incident(), incident_type: "rm -rf /" },
      { ...incident(), extra: 1 },
      { ...incident(), details: { "Bad Key": "x" } },
      null,
    ]) {
      await expect(planner.plan(bad)).rejects.toSatisfy((e) => isMspError(e, "invalid_input"));
    }
    expect(planner.log.query()).toEqual([]);
  });
});

describe("planning log queries", () => {
  it("filters by clinic, incident and time range, newest first, with a limit", async () => {
    const planner = createPlanner({ db, runbooks: RUNBOOKS, clock });
    for (let i = 1; i <= 4; i++) {
      await planner.plan(
        incident({ incident_id: `INC-20260101-000${i}`, client_id: i % 2 === 0 ? "clinic-b" : "clinic-a" }),
      );
      await clock.advance(60_000);
    }
    expect(planner.log.query().map((r) => r.incident_id)).toEqual([
      "INC-20260101-0004",
      "INC-20260101-0003",
      "INC-20260101-0002",
      "INC-20260101-0001",
    ]);
    expect(planner.log.query({ clientId: "clinic-a" }).map((r) => r.incident_id)).toEqual([
      "INC-20260101-0003",
      "INC-20260101-0001",
    ]);
    expect(planner.log.query({ incidentId: "INC-20260101-0002" })).toHaveLength(1);
    const range = planner.log.query({
      from: new Date("2026-03-01T10:01:00.000Z"),
      to: new Date("2026-03-01T10:03:00.000Z"),
    });
    expect(range.map((r) => r.incident_id)).toEqual(["INC-20260101-0003", "INC-20260101-0002"]);
    expect(planner.log.query({ limit: 1 })).toHaveLength(1);
    expect(() => planner.log.query({ limit: 0 })).toThrow(/limit/);
    expect(() => planner.log.query({ limit: 1001 })).toThrow(/limit/);
    expect(() => planner.log.query({ from: new Date("nope") })).toThrow(/valid date/);
  });
});
