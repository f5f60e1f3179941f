import { FakeClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import type { CheckOf } from "./context.js";
import { contextFor, fixture, replayExec } from "./testkit.js";
import { checkTimeSync, parseChronyTracking } from "./time.js";

const check: CheckOf<"time_sync"> = {
  type: "time_sync",
  id: "ntp",
  citation: ["164.312(b)"],
  severity: "medium",
  event_type: "time_drift",
  max_offset_ms: 500,
};
const clock = new FakeClock();
const NO_SYSTEMD = {
  code: 1,
  stderr:
    "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n",
};

describe("time synchronisation check", () => {
  it("passes a synchronised chrony and reads the signed offset", async () => {
    const text = fixture("chronyc-tracking.synced.txt");
    expect(parseChronyTracking(text)?.offsetSeconds).toBeCloseTo(-0.000231567, 9);
    const out = await checkTimeSync(
      check,
      contextFor("/", replayExec({ "chronyc tracking": { stdout: text } }), clock),
    );
    expect(out.status).toBe("pass");
    expect(out.observed).toBe(
      "chrony: reference A29FC87B (time.cloudflare.com); offset -0.232 ms; leap status Normal",
    );
  });

  it("fails an offset over the threshold", async () => {
    const exec = replayExec({ "chronyc tracking": { stdout: fixture("chronyc-tracking.offset.txt") } });
    const out = await checkTimeSync(check, contextFor("/", exec, clock));
    expect(out).toMatchObject({ status: "fail", reason: "offset 2481.937 ms exceeds 500 ms" });
  });

  it("fails when chrony has no source", async () => {
    const exec = replayExec({ "chronyc tracking": { stdout: fixture("chronyc-tracking.unsynced.txt") } });
    expect(await checkTimeSync(check, contextFor("/", exec, clock))).toMatchObject({
      status: "fail",
      reason: "chrony is not synchronised",
    });
  });

  it("uses timedatectl when chrony is not installed", async () => {
    const show = fixture("timedatectl-show.txt");
    const ok = await checkTimeSync(
      check,
      contextFor("/", replayExec({ chronyc: "missing", "timedatectl show": { stdout: show } }), clock),
    );
    expect(ok.status).toBe("pass");
    expect(ok.reason).toContain("offset not measured");
    const unsynced = show.replace("NTPSynchronized=yes", "NTPSynchronized=no");
    const bad = await checkTimeSync(
      check,
      contextFor("/", replayExec({ chronyc: "missing", "timedatectl show": { stdout: unsynced } }), clock),
    );
    expect(bad.status).toBe("fail");
  });

  it("is skipped when no time tool can answer (no chronyc, timedatectl missing or without systemd)", async () => {
    const missing = await checkTimeSync(
      check,
      contextFor("/", replayExec({ chronyc: "missing", timedatectl: "missing" }), clock),
    );
    expect(missing).toMatchObject({
      status: "skipped",
      reason: "chronyc is not installed and timedatectl is not installed",
    });
    const noSystemd = await checkTimeSync(
      check,
      contextFor("/", replayExec({ chronyc: "missing", timedatectl: NO_SYSTEMD }), clock),
    );
    expect(noSystemd.status).toBe("skipped");
  });

  it("fails when chrony is installed but chronyd is down and nothing else syncs", async () => {
    const exec = replayExec({
      chronyc: { code: 1, stderr: "506 Cannot talk to daemon\n" },
      timedatectl: NO_SYSTEMD,
    });
    const out = await checkTimeSync(check, contextFor("/", exec, clock));
    expect(out.status).toBe("fail");
    expect(out.reason).toContain("chronyd not answering: 506 Cannot talk to daemon (exit 1)");
  });
});
