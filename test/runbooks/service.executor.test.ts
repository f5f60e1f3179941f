/**
 * RB-SERVICE-001 through the executor, against a real supervisord: a program
 * killed with SIGKILL (a crash) is restarted and runs again under a new pid;
 * one that dies right after its restart is reported as a failure. Each
 * signed bundle is checked, including an SLA that was missed.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  actionTable,
  expectPinned,
  expectSealed,
  incident,
  type LibraryExecutor,
  libraryExecutor,
  outputsOf,
  stepEvidence,
} from "./executor-harness.js";
import { alive, type Supervisor, sandbox, startSupervisor, writeExecutable } from "./helpers.js";

const box = sandbox("msp-rbx-service-");
let supervisor: Supervisor;
let h: LibraryExecutor;

beforeAll(async () => {
  const api = writeExecutable(
    join(box.dir, "clinic-api"),
    'echo "clinic-api listening on 127.0.0.1:8080 (pid $$)" >&2\nwhile :; do sleep 1; done',
  );
  const flaky = writeExecutable(
    join(box.dir, "fax-gateway"),
    'echo "fax-gateway: modem not found" >&2\nsleep 0.8\nexit 1',
  );
  supervisor = await startSupervisor(box.mkdir("supervisor"), [
    { name: "clinic-api", command: api },
    { name: "fax-gateway", command: flaky, autostart: false },
  ]);
  h = libraryExecutor({
    path_roots: {},
    service_allowlist: ["clinic-api", "fax-gateway"],
    service_manager: "supervisor",
    supervisorConf: supervisor.conf,
  });
});
afterAll(async () => {
  h?.close();
  await supervisor?.stop();
  box.cleanup();
});

describe("RB-SERVICE-001 through the executor", () => {
  it("restarts a crashed service, proves it runs under a new pid, and signs the evidence", async () => {
    const crashed = await supervisor.pid("clinic-api");
    expect(crashed).toBeGreaterThan(1);
    process.kill(crashed, "SIGKILL");
    await supervisor.waitFor("clinic-api", "EXITED");

    const b = await h.run({
      runbookId: "RB-SERVICE-001",
      params: { service_name: "clinic-api", verify_wait_seconds: 10 },
      incident: incident("service_crash", 3, "critical"),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-SERVICE-001", 180);
    expect(b.execution).toMatchObject({ outcome: "success", reason: null, sla_met: true });
    expect(b.execution?.success_criteria.every((c) => c.met)).toBe(true);
    expect(actionTable(b)).toEqual([
      ["step", "check_status", "ok", 0],
      ["step", "collect_logs", "ok", 0],
      ["step", "restart_service", "ok", 0],
      ["step", "verify_running", "ok", 0],
      ["validation", "service_still_running", "ok", 0],
    ]);
    expect(outputsOf(b, "check_status")).toMatchObject({
      service_state: "EXITED",
      service_pid: "0",
      service_allowlisted: "yes",
    });
    const ev = stepEvidence(b);
    expect(ev.log_excerpt).toContain(`clinic-api listening on 127.0.0.1:8080 (pid ${crashed})`);
    expect(ev).toMatchObject({ service_restarted: "yes", service_running: "yes", pid_changed: "yes" });

    // The effect: running again, under the pid the bundle names, which is a live process.
    const now = await supervisor.pid("clinic-api");
    expect(await supervisor.state("clinic-api")).toBe("RUNNING");
    expect(now).not.toBe(crashed);
    expect(alive(now)).toBe(true);
    expect(ev.service_pid_after).toBe(String(now));
  });

  it("reports a service that dies right after its restart as a failure, past its SLA", async () => {
    const b = await h.run({
      runbookId: "RB-SERVICE-001",
      params: { service_name: "fax-gateway", verify_wait_seconds: 1 },
      incident: incident("service_crash", 20),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-SERVICE-001", 1200);
    expect(b.execution?.sla_met).toBe(false);
    expect(actionTable(b)).toEqual([
      ["step", "check_status", "ok", 0],
      ["step", "collect_logs", "ok", 0],
      ["step", "restart_service", "ok", 0],
      ["step", "verify_running", "failed", 1],
      ["rollback", "alert_administrator", "ok", null],
    ]);
    expect(b.execution).toMatchObject({
      outcome: "failure",
      reason: "step 4 (verify_running) exited 1, expected 0; no rollback script",
    });
    expect(stepEvidence(b)).toMatchObject({ service_restarted: "yes", service_running: "no" });
    expect(await supervisor.state("fax-gateway")).not.toBe("RUNNING");
  });
});
