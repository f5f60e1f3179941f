import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FakeClock } from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckOf } from "./context.js";
import { createExec, isMissing } from "./exec.js";
import { checkServices } from "./services.js";
import { contextFor, put, removeTempRoots, replayExec, tempRoot } from "./testkit.js";

const clock = new FakeClock();
const exec = createExec();
const base: CheckOf<"services"> = {
  type: "services",
  id: "services",
  citation: ["164.308(a)(7)(ii)(B)"],
  severity: "high",
  event_type: "service_crash",
  manager: "supervisor",
  supervisor_config: "/etc/supervisor/supervisord.conf",
  services: ["ehr-sync"],
};

/** A real supervisord under a temp root: one program running, one configured but stopped. */
function supervisorConf(root: string): string {
  return `[unix_http_server]
file=${root}/run/supervisor.sock
chmod=0700

[supervisord]
${process.getuid?.() === 0 ? "user=root" : ""}
logfile=${root}/log/supervisord.log
pidfile=${root}/run/supervisord.pid
childlogdir=${root}/log
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://${root}/run/supervisor.sock

[program:ehr-sync]
command=/bin/sleep 300
autostart=true
startsecs=0

[program:pacs-bridge]
command=/bin/sleep 300
autostart=false
`;
}

let root = "";
let daemon: ChildProcess | null = null;
const haveSupervisor = !isMissing(await exec.run("supervisord", ["--version"]));

beforeAll(async () => {
  if (!haveSupervisor) return;
  root = await tempRoot();
  const conf = await put(root, "/etc/supervisor/supervisord.conf", supervisorConf(root));
  await put(root, "/log/.keep", "");
  await put(root, "/run/.keep", "");
  daemon = spawn("supervisord", ["-n", "-c", conf], { stdio: "ignore" });
  // Wait for the socket first (cheap), then for the program (supervisorctl is slow to start).
  const sock = join(root, "run/supervisor.sock");
  for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  for (let i = 0; i < 50; i++) {
    const r = await exec.run("supervisorctl", ["-c", conf, "status", "ehr-sync"]);
    if (!isMissing(r) && r.stdout.includes("RUNNING")) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("supervisord did not start ehr-sync within 10 s");
});

afterAll(async () => {
  if (daemon?.pid !== undefined && daemon.exitCode === null) {
    const exited = new Promise((resolve) => daemon?.once("exit", resolve));
    daemon.kill("SIGTERM");
    await exited;
  }
  removeTempRoots();
});

describe.runIf(haveSupervisor)("services check with a real supervisord", () => {
  it("passes a running program", async () => {
    const out = await checkServices(base, contextFor(root, exec, clock));
    expect(out.status).toBe("pass");
    expect(out.observed).toMatch(/^ehr-sync: RUNNING$/);
  });

  it("fails a stopped program and an unknown one", async () => {
    const out = await checkServices(
      { ...base, services: ["ehr-sync", "pacs-bridge", "fax-gw"] },
      contextFor(root, exec, clock),
    );
    expect(out.status).toBe("fail");
    expect(out.reason).toBe("pacs-bridge is STOPPED; fax-gw is ERROR (no such process)");
  });

  it("fails when supervisord itself cannot be reached", async () => {
    const other = await tempRoot();
    await put(other, "/etc/supervisor/supervisord.conf", supervisorConf(other));
    const out = await checkServices(base, contextFor(other, exec, clock));
    expect(out.status).toBe("fail");
    expect(out.observed).toContain("supervisord unreachable");
  });
});

describe("services check with systemd", () => {
  const systemd: CheckOf<"services"> = {
    ...base,
    manager: "systemd",
    services: ["msp-drift-test-nonexistent.service"],
  };

  it("never passes a unit that does not exist: fail on a systemd host, skipped where systemd is not running", async () => {
    const out = await checkServices(systemd, contextFor("/", exec, clock));
    expect(["fail", "skipped"]).toContain(out.status);
    if (out.status === "skipped")
      expect(out.reason).toMatch(/systemd is not running|systemctl is not installed/);
  });

  it("is skipped when systemctl is missing", async () => {
    const out = await checkServices(systemd, contextFor("/", replayExec({ systemctl: "missing" }), clock));
    expect(out).toMatchObject({ status: "skipped", reason: "systemctl is not installed" });
  });

  it("reads is-active states", async () => {
    const states = replayExec({
      "systemctl is-active sshd.service": { stdout: "active\n" },
      "systemctl is-active postgresql.service": { code: 3, stdout: "failed\n" },
    });
    const out = await checkServices(
      { ...systemd, services: ["sshd.service", "postgresql.service"] },
      contextFor("/", states, clock),
    );
    expect(out).toMatchObject({ status: "fail", reason: "postgresql.service is failed" });
  });
});
