/**
 * RB-SERVICE-001 against a real supervisord: a program is killed (a crash),
 * the runbook records its state and last log lines, restarts it through the
 * supervisor adapter and verifies it runs again under a new pid.
 */

import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  alive,
  contractEnv,
  type RunOptions,
  runbook,
  runRunbook,
  runScript,
  type Supervisor,
  sandbox,
  startSupervisor,
  stepNamed,
  writeExecutable,
} from "./helpers.js";

const box = sandbox();
let supervisor: Supervisor;
let runs = 0;

beforeAll(async () => {
  const api = writeExecutable(
    join(box.dir, "clinic-api"),
    'echo "clinic-api listening on 127.0.0.1:8080 (pid $$)" >&2\nwhile :; do sleep 1; done',
  );
  const other = writeExecutable(join(box.dir, "billing"), "while :; do sleep 1; done");
  const flaky = writeExecutable(
    join(box.dir, "fax-gateway"),
    'echo "fax-gateway: modem not found" >&2\nsleep 0.8\nexit 1',
  );
  supervisor = await startSupervisor(box.mkdir("supervisor"), [
    { name: "clinic-api", command: api },
    { name: "billing", command: other },
    { name: "fax-gateway", command: flaky, autostart: false },
  ]);
});
afterAll(async () => {
  await supervisor?.stop();
  box.cleanup();
});

function options(params: Record<string, string | number>, extra: Partial<RunOptions> = {}): RunOptions {
  runs += 1;
  return {
    params: { verify_wait_seconds: 10, ...params },
    workDir: box.mkdir(`work-${runs}`),
    stateDir: box.mkdir("state"),
    env: {
      MSP_SERVICE_MANAGER: "supervisor",
      MSP_SUPERVISOR_CONF: supervisor.conf,
      MSP_SERVICE_ALLOWLIST: "clinic-api",
    },
    ...extra,
  };
}

/** Kills the program with SIGKILL, as a crash would, and waits until supervisor sees it down. */
async function crash(program: string): Promise<number> {
  const pid = await supervisor.pid(program);
  expect(pid).toBeGreaterThan(1);
  process.kill(pid, "SIGKILL");
  await supervisor.waitFor(program, "EXITED");
  return pid;
}

describe("RB-SERVICE-001", () => {
  it("restarts a crashed, allow-listed service and proves it is running again", async () => {
    const crashed = await crash("clinic-api");
    const run = await runRunbook("RB-SERVICE-001", options({ service_name: "clinic-api" }));
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);
    expect(stepNamed(run, "check_status").evidence).toMatchObject({
      service_name: "clinic-api",
      service_manager: "supervisor",
      service_allowlisted: "yes",
      service_state: "EXITED",
      service_pid: "0",
    });
    expect(run.evidence.log_source).toBe("supervisor_stderr");
    expect(run.evidence.log_excerpt).toContain(`clinic-api listening on 127.0.0.1:8080 (pid ${crashed})`);
    expect(run.evidence).toMatchObject({
      restart_method: "supervisorctl",
      service_restarted: "yes",
      service_running: "yes",
      pid_changed: "yes",
    });

    const now = await supervisor.pid("clinic-api");
    expect(await supervisor.state("clinic-api")).toBe("RUNNING");
    expect(now).not.toBe(crashed);
    expect(alive(now)).toBe(true);
    expect(run.evidence.service_pid_after).toBe(String(now));
    expect(run.validations.map((v) => [v.name, v.code])).toEqual([["service_still_running", 0]]);
  });

  it("does not report a service that dies right after its restart as fixed", async () => {
    const run = await runRunbook(
      "RB-SERVICE-001",
      options(
        { service_name: "fax-gateway", verify_wait_seconds: 1 },
        {
          env: {
            MSP_SERVICE_MANAGER: "supervisor",
            MSP_SUPERVISOR_CONF: supervisor.conf,
            MSP_SERVICE_ALLOWLIST: "fax-gateway",
          },
        },
      ),
    );
    expect(stepNamed(run, "restart_service").evidence.service_restarted).toBe("yes");
    expect(run.failedAt).toBe("verify_running");
    expect(run.evidence.service_running).toBe("no");
    expect(run.evidence.service_state_after).toBe("EXITED");
  });

  it("refuses a service that is not allow-listed and leaves it down", async () => {
    await crash("billing");
    const run = await runRunbook("RB-SERVICE-001", options({ service_name: "billing" }));
    expect(run.failedAt).toBe("check_status");
    expect(run.steps).toHaveLength(1);
    expect(run.steps[0]?.code).toBe(65);
    expect(run.evidence).toMatchObject({ refused: "not_allowlisted", refused_name: "billing" });
    expect(await supervisor.state("billing")).toBe("EXITED");
  });

  it("rejects a malformed service name before asking the service manager", async () => {
    for (const name of ["-c /tmp/evil.conf", "clinic-api; reboot", "$(id)"]) {
      const run = await runRunbook("RB-SERVICE-001", options({ service_name: name }, {}));
      expect(run.evidence.refused).toBe("invalid_service_name");
    }
  });

  it("changes nothing in dry-run mode", async () => {
    await crash("clinic-api");
    const env = contractEnv(
      runbook("RB-SERVICE-001"),
      options({ service_name: "clinic-api" }, { dryRun: true }),
    );
    for (const script of [
      "scripts/service_status.sh",
      "scripts/service_logs.sh",
      "scripts/service_restart.sh",
    ]) {
      const run = await runScript(script, env, { cwd: box.dir });
      expect([script, run.code]).toEqual([script, 0]);
      if (script.endsWith("restart.sh"))
        expect(run.evidence).toMatchObject({ dry_run: "1", service_restarted: "dry_run" });
    }
    expect(await supervisor.state("clinic-api")).toBe("EXITED");
  });

  it("fails for an allow-listed name the service manager does not know", async () => {
    const run = await runRunbook(
      "RB-SERVICE-001",
      options(
        { service_name: "ghost" },
        {
          env: {
            MSP_SERVICE_MANAGER: "supervisor",
            MSP_SUPERVISOR_CONF: supervisor.conf,
            MSP_SERVICE_ALLOWLIST: "ghost",
          },
        },
      ),
    );
    expect(run.failedAt).toBe("check_status");
    expect(run.steps[0]?.code).toBe(1);
  });
});
