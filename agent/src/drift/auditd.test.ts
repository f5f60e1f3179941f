import { FakeClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { checkAuditd } from "./auditd.js";
import type { CheckOf } from "./context.js";
import { contextFor, fixture, replayExec } from "./testkit.js";

const check: CheckOf<"auditd"> = {
  type: "auditd",
  id: "auditd",
  citation: ["164.312(b)", "164.308(a)(1)(ii)(D)"],
  severity: "high",
  event_type: "audit_drift",
  min_rules: 5,
  required_keys: ["identity", "logins", "phi-access", "time-change"],
  require_immutable: false,
};
const clock = new FakeClock();
const status = fixture("auditctl-s.txt");
const rules = fixture("auditctl-l.txt");
const run = (s: string, l: string, c = check) =>
  checkAuditd(
    c,
    contextFor("/", replayExec({ "auditctl -s": { stdout: s }, "auditctl -l": { stdout: l } }), clock),
  );

describe("auditd check", () => {
  it("passes with auditing enabled, auditd running and the required rule keys loaded", async () => {
    const out = await run(status, rules);
    expect(out.status).toBe("pass");
    expect(out.observed).toBe(
      "enabled 1; auditd pid 734; 11 rules; keys: identity, logins, phi-access, privileged, root-commands, time-change",
    );
  });

  it("fails when auditing is off, auditd is down and no rules are loaded", async () => {
    const off = status.replace("enabled 1", "enabled 0").replace("pid 734", "pid 0");
    const out = await run(off, "No rules\n");
    expect(out.status).toBe("fail");
    expect(out.reason).toBe(
      "kernel auditing is disabled; auditd is not running; only 0 rules loaded; missing rule keys: identity, logins, phi-access, time-change",
    );
  });

  it("requires locked rules only when asked", async () => {
    const out = await run(status, rules, { ...check, require_immutable: true });
    expect(out).toMatchObject({ status: "fail", reason: "audit rules are not locked" });
    expect(
      (await run(status.replace("enabled 1", "enabled 2"), rules, { ...check, require_immutable: true }))
        .status,
    ).toBe("pass");
  });

  it("is skipped when auditctl is not installed, and an error when it is refused", async () => {
    const ctx = contextFor("/", replayExec({ auditctl: "missing" }), clock);
    expect((await checkAuditd(check, ctx)).status).toBe("skipped");
    const denied = replayExec({ auditctl: { code: 1, stderr: "You must be root to run this program.\n" } });
    expect(await checkAuditd(check, contextFor("/", denied, clock))).toMatchObject({ status: "error" });
  });
});
