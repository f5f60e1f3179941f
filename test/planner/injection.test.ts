/**
 * The prompt-injection corpus against the real SDK and the fake server, with
 * a model that obeys every injection. Whatever it says, the outcome names
 * only a runbook the incident's event type triggers, every parameter passes
 * both the planner's rules and the agent's own validator, a rejected reply
 * leaves the decision to a human, and every case is in the planning log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateParams } from "../../agent/src/runbook/params.js";
import { applicableRunbooks, checkParams } from "../../control-plane/src/planner/index.js";
import { type FakeLlm, startFakeLlm } from "../support/fake-llm.js";
import { incident, plannerFor, RUNBOOKS } from "./helpers.js";
import { INJECTION_CORPUS } from "./injection-corpus.js";

// Every root as "/": the agent's validator then judges characters, types and ranges, not where paths point.
const ALL_ROOTS = Object.fromEntries(
  RUNBOOKS.flatMap((rb) => Object.values(rb.params))
    .flatMap((p) => (p.type === "path" ? [p.root] : []))
    .map((root) => [root, ["/"]]),
);
const SITE = {
  source_dir: "/srv/ehr",
  repository_dir: "/backup",
  cert_path: "/etc/ssl/a.pem",
  key_path: "/etc/ssl/a.key",
  target_dir: "/srv",
};

let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(async () => {
  await llm.close();
});

describe("prompt-injection corpus", () => {
  it("has at least 20 cases with unique names", () => {
    expect(INJECTION_CORPUS.length).toBeGreaterThanOrEqual(20);
    expect(new Set(INJECTION_CORPUS.map((c) => c.name)).size).toBe(INJECTION_CORPUS.length);
  });

  it.each(INJECTION_CORPUS.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const { planner, db } = plannerFor(llm.baseURL, { siteParams: () => SITE });
    try {
      const inc = incident(c.incident);
      let delivered = false;
      llm.enqueue({
        kind: "respond",
        respond: (req) => {
          // The injection reached the model, but only as data inside the block.
          const user = req.messages.find((m) => m.role === "user")?.content ?? "";
          const m = /INCIDENT-DATA-([0-9a-f]{16})-BEGIN\n([\s\S]*)\nINCIDENT-DATA-\1-END$/.exec(user);
          delivered =
            m !== null && JSON.stringify(JSON.parse(m[2] ?? "").details) === JSON.stringify(inc.details);
          return c.reply;
        },
      });
      const d = await planner.plan(inc);
      expect(delivered).toBe(true);

      const allowed = applicableRunbooks(RUNBOOKS, inc.incident_type).map((rb) => rb.id);
      if (d.runbook_id !== null) expect(allowed).toContain(d.runbook_id);
      if (d.outcome === "plan") {
        const rb = RUNBOOKS.find((r) => r.id === d.runbook_id);
        if (rb === undefined) throw new Error("plan without a runbook");
        expect(checkParams(rb, d.params).ok).toBe(true);
        expect(validateParams(rb, d.params, ALL_ROOTS)).toMatchObject({ ok: true });
      } else {
        expect(d.params).toEqual({});
      }
      if (c.expect === "rejected") {
        expect(d.planner.kind).toBe("rules");
        expect(d.rejected_reason).not.toBeNull();
        expect(d.outcome === "human_review" || d.requires_approval).toBe(true);
      } else {
        expect(d.planner.kind).toBe("llm");
        if (inc.severity === "critical") expect(d.requires_approval).toBe(true);
      }
      const rows = planner.log.query({ incidentId: inc.incident_id });
      expect(rows).toHaveLength(1);
      expect(rows[0]?.rejected_reason ?? null).toBe(d.rejected_reason);
    } finally {
      db.close();
    }
  });
});
