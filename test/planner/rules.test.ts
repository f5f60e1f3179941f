/**
 * The rule-based planner over the real library: every trigger of each of the
 * six runbooks in runbooks/*.yaml (loaded with `yaml` and the shared
 * RunbookDefinition schema) maps to that runbook, with parameters that the
 * agent's own validator accepts.
 */
import { describe, expect, it } from "vitest";
import { validateParams } from "../../agent/src/runbook/params.js";
import { applicableRunbooks, planByRules, RULE_CONFIDENCE } from "../../control-plane/src/planner/index.js";
import { EventType } from "../../shared/src/index.js";
import { incident, RUNBOOKS } from "./helpers.js";

const SITE: Record<string, Record<string, unknown>> = {
  "RB-BACKUP-001": { source_dir: "/srv/ehr", repository_dir: "/backup" },
  "RB-RESTORE-001": { repository_dir: "/backup" },
  "RB-CERT-001": { cert_path: "/etc/ssl/srv.pem", key_path: "/etc/ssl/srv.key" },
  "RB-DISK-001": { target_dir: "/srv" },
  "RB-SERVICE-001": { service_name: "nginx" },
  "RB-CPU-001": {},
};
const ROOTS = Object.fromEntries(
  RUNBOOKS.flatMap((rb) => Object.values(rb.params)).flatMap((p) =>
    p.type === "path" ? [[p.root, ["/"]]] : [],
  ),
);

describe("rule-based planner over the real library", () => {
  it("loads the six runbooks", () => {
    expect(RUNBOOKS.map((r) => r.id).sort()).toEqual([
      "RB-BACKUP-001",
      "RB-CERT-001",
      "RB-CPU-001",
      "RB-DISK-001",
      "RB-RESTORE-001",
      "RB-SERVICE-001",
    ]);
  });

  const triggers = RUNBOOKS.flatMap((rb) =>
    rb.triggers.map((t) => [t.event_type, rb.id, rb.severity[0]] as const),
  );
  it.each(triggers)("maps %s to %s", (eventType, id, severity) => {
    const inc = incident({ incident_type: eventType, severity: severity ?? "high", details: {} });
    const plan = planByRules(inc, RUNBOOKS, (_i, rbId) => SITE[rbId] ?? {});
    expect(plan.runbook?.id).toBe(id);
    expect(plan.confidence).toBe(RULE_CONFIDENCE.exact);
    expect(plan.missing).toEqual([]);
    const rb = RUNBOOKS.find((r) => r.id === id);
    if (rb === undefined) throw new Error(id);
    expect(validateParams(rb, plan.params, ROOTS)).toMatchObject({ ok: true });
    // Every declared default is stated in the plan.
    for (const [name, decl] of Object.entries(rb.params)) {
      if (decl.default !== undefined) expect(plan.params[name]).toBe(decl.default);
    }
  });

  it("maps no runbook for event types nothing triggers", () => {
    const triggered = new Set(RUNBOOKS.flatMap((rb) => rb.triggers.map((t) => t.event_type)));
    const untriggered = EventType.options.filter((e) => !triggered.has(e));
    expect(untriggered.length).toBeGreaterThan(0);
    for (const e of untriggered) {
      expect(applicableRunbooks(RUNBOOKS, e)).toEqual([]);
      expect(planByRules(incident({ incident_type: e }), RUNBOOKS).runbook).toBeNull();
    }
  });

  it("takes parameters from details only when they pass the rules, else site values or defaults", () => {
    const plan = planByRules(
      incident({ details: { service_name: "postgresql@15-main", log_lines: 500, verify_wait_seconds: 30 } }),
      RUNBOOKS,
    );
    expect(plan.params).toEqual({
      service_name: "postgresql@15-main",
      log_lines: 20,
      verify_wait_seconds: 30,
    });
    expect(plan.refused).toEqual(["detail log_lines: 500 is outside 1..200"]);
    const bad = planByRules(incident({ details: { service_name: "nginx && reboot" } }), RUNBOOKS, () => ({
      service_name: "nginx",
    }));
    expect(bad.params.service_name).toBe("nginx");
    expect(bad.refused[0]).toContain("shell metacharacter");
  });

  it("picks deterministically when several runbooks share a trigger, with less confidence", () => {
    const first = RUNBOOKS.find((r) => r.id === "RB-SERVICE-001");
    if (first === undefined) throw new Error("RB-SERVICE-001");
    const twin = { ...first, id: "RB-SERVICE-002" };
    const plan = planByRules(incident(), [twin, ...RUNBOOKS]);
    expect(plan.runbook?.id).toBe("RB-SERVICE-001");
    expect(plan.confidence).toBe(RULE_CONFIDENCE.ambiguous);
  });
});
