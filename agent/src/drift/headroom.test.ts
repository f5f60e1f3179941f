import { spawn } from "node:child_process";
import { FakeClock } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import type { CheckOf } from "./context.js";
import { createExec } from "./exec.js";
import { checkCpuLoad, checkDiskUsage } from "./headroom.js";
import { contextFor, put, removeTempRoots, replayExec, tempRoot } from "./testkit.js";

afterAll(removeTempRoots);

const clock = new FakeClock();
const exec = createExec();
const disk: CheckOf<"disk_usage"> = {
  type: "disk_usage",
  id: "disk-root",
  citation: ["164.308(a)(7)(ii)(B)"],
  severity: "high",
  event_type: "disk_full",
  mount: "/",
  max_used_percent: 100,
};
const cpu: CheckOf<"cpu_load"> = {
  type: "cpu_load",
  id: "cpu",
  citation: ["164.308(a)(7)(ii)(B)"],
  severity: "medium",
  event_type: "high_cpu",
  max_percent: 100,
  sample_ms: 300,
};

describe("disk headroom (real systeminformation and du)", () => {
  it("reads the real root filesystem: within 100% passes, a 0% limit fails", async () => {
    const ctx = contextFor("/", exec, clock);
    const ok = await checkDiskUsage(disk, ctx);
    expect(ok.status).toBe("pass");
    expect(ok.observed).toMatch(/ at \/: \d+\.\d% used/);
    expect((await checkDiskUsage({ ...disk, max_used_percent: 0 }, ctx)).status).toBe("fail");
  });

  it("fails a mount that is not there", async () => {
    const out = await checkDiskUsage(
      { ...disk, mount: "/srv/msp-not-mounted" },
      contextFor("/", exec, clock),
    );
    expect(out).toMatchObject({ status: "fail", observed: "not mounted" });
  });

  it("measures a directory against its quota with du", async () => {
    const root = await tempRoot();
    await put(root, "/var/lib/ehr/exports/batch1.hl7", Buffer.alloc(3 * 1024 * 1024, 1));
    const quota = { ...disk, mount: undefined, directory: "/var/lib/ehr", quota_mb: 4, max_used_percent: 50 };
    const out = await checkDiskUsage(quota, contextFor(root, exec, clock));
    expect(out.status).toBe("fail");
    expect(out.observed).toMatch(/^3\.\d MB of 4 MB \(7\d\.\d%\)$/);
    expect((await checkDiskUsage({ ...quota, quota_mb: 100 }, contextFor(root, exec, clock))).status).toBe(
      "pass",
    );
    const gone = await checkDiskUsage(
      { ...quota, directory: "/var/lib/none" },
      contextFor(root, exec, clock),
    );
    expect(gone.status).toBe("fail");
    const noDu = await checkDiskUsage(
      { ...quota, quota_mb: 100 },
      contextFor(root, replayExec({ du: "missing" }), clock),
    );
    expect(noDu.status).toBe("skipped");
  });
});

describe("CPU headroom (real systeminformation)", () => {
  it("passes under a 100% ceiling and fails a 0% ceiling while a real process burns CPU", async () => {
    const ctx = contextFor("/", exec, clock);
    const ok = await checkCpuLoad(cpu, ctx);
    expect(ok.status).toBe("pass");
    expect(ok.observed).toMatch(/^\d+\.\d% over 300 ms$/);
    const burner = spawn(process.execPath, [
      "-e",
      "const end = Date.now() + 3000; while (Date.now() < end) {}",
    ]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const busy = await checkCpuLoad({ ...cpu, max_percent: 0 }, ctx);
      expect(busy.status).toBe("fail");
      expect(busy.reason).toMatch(/^CPU load \d+\.\d% exceeds 0%$/);
    } finally {
      burner.kill();
    }
  });
});
