import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "@msp/shared";
import { type EvidenceBundle, FakeClock, type Incident, RunbookDefinition } from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LoadedRunbook, RunRequest } from "../runbook/index.js";
import { type AgentState, openAgentState } from "../state/index.js";
import { type AutonomyExecutor, createOfflineAutonomy, derivedParams } from "./index.js";

const WHO = { agent_id: "srv-primary", client_id: "clinic-001" };
const silent: Logger = { log: () => undefined };

const definition = RunbookDefinition.parse({
  id: "RB-DISK-001",
  name: "Disk",
  version: "1.0",
  description: "test",
  triggers: [{ event_type: "disk_full" }],
  severity: ["high"],
  applicable_to: ["linux_server"],
  hipaa_controls: ["164.308(a)(1)(ii)(D)"],
  sla_target_seconds: 60,
  params: {
    target_dir: { type: "path", root: "disk_targets" },
    log_dir: { type: "path", root: "log", required: false },
    threshold_percent: { type: "integer", min: 1, max: 99, default: 90 },
    note: { type: "string", pattern: "^[a-z]+$", required: false },
  },
  steps: [{ step: 1, name: "measure", script: "scripts/disk_usage.sh", timeout_seconds: 10 }],
});

/** An executor that records requests and returns a minimal bundle-shaped value. */
function fakeExecutor(ids: string[]): AutonomyExecutor & { runs: RunRequest[] } {
  const runs: RunRequest[] = [];
  return {
    runs,
    get: (id) => (ids.includes(id) ? ({ id, definition } as unknown as LoadedRunbook) : undefined),
    run: async (req) => {
      runs.push(req);
      return {
        bundle_id: `B-${runs.length}`,
        seq: runs.length,
        execution: { outcome: "success" },
      } as unknown as EvidenceBundle;
    },
  };
}

const incident = (type: Incident["incident_type"], n = 1): Incident => ({
  incident_id: `INC-20260101-${String(n).padStart(4, "0")}`,
  ...WHO,
  hostname: "srv-primary",
  incident_type: type,
  severity: "high",
  detected_at: "2026-01-01T00:00:00.000Z",
  source: "drift_check",
  details: {},
});

let dir: string;
let state: AgentState;
let clock: FakeClock;
let online: boolean;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "msp-autonomy-"));
  state = openAgentState(join(dir, "agent-state.sqlite"), WHO);
  clock = new FakeClock("2026-01-01T00:00:00.000Z");
  online = false;
});
afterEach(() => {
  state.close();
  rmSync(dir, { recursive: true, force: true });
});

function autonomy(executor: AutonomyExecutor, runbooks = ["RB-DISK-001"]) {
  return createOfflineAutonomy({
    runbooks,
    cooldownSeconds: 1800,
    executor,
    cooldowns: state.cooldowns,
    pathRoots: { disk_targets: ["/srv/data"], log: ["/var/log/a", "/var/log/b"] },
    clock,
    logger: silent,
    online: () => online,
  });
}

describe("offline autonomy", () => {
  it("runs a listed runbook whose trigger matches, with derived parameters and the incident reference", async () => {
    const ex = fakeExecutor(["RB-DISK-001"]);
    const decisions = await autonomy(ex).onIncident(incident("disk_full"));
    expect(decisions.map((d) => d.action)).toEqual(["ran"]);
    expect(ex.runs).toEqual([
      {
        runbookId: "RB-DISK-001",
        params: { target_dir: "/srv/data", threshold_percent: 90 },
        incident: {
          incident_id: "INC-20260101-0001",
          event_type: "disk_full",
          severity: "high",
          detected_at: "2026-01-01T00:00:00.000Z",
        },
        commandId: null,
        trigger: "offline_autonomy",
        approval: null,
        dryRun: false,
      },
    ]);
  });

  it("does nothing while online, for other event types, or for runbooks not listed", async () => {
    const ex = fakeExecutor(["RB-DISK-001", "RB-CPU-001"]);
    online = true;
    expect(await autonomy(ex).onIncident(incident("disk_full"))).toEqual([]);
    online = false;
    expect(await autonomy(ex).onIncident(incident("high_cpu"))).toEqual([]);
    expect(await autonomy(ex, []).onIncident(incident("disk_full"))).toEqual([]);
    expect(await autonomy(ex, ["RB-GONE-001"]).onIncident(incident("disk_full"))).toEqual([]);
    expect(ex.runs).toEqual([]);
  });

  it("honours the cooldown, also across a restart, and runs again once it has passed", async () => {
    const ex = fakeExecutor(["RB-DISK-001"]);
    await autonomy(ex).onIncident(incident("disk_full", 1));
    await clock.advance(1799_000);
    const cooling = await autonomy(ex).onIncident(incident("disk_full", 2));
    expect(cooling).toEqual([
      { runbook_id: "RB-DISK-001", action: "cooldown", until: "2026-01-01T00:30:00.000Z" },
    ]);

    state.close();
    state = openAgentState(join(dir, "agent-state.sqlite"), WHO);
    expect((await autonomy(ex).onIncident(incident("disk_full", 3)))[0]?.action).toBe("cooldown");
    expect(ex.runs).toHaveLength(1);

    await clock.advance(1000);
    expect((await autonomy(ex).onIncident(incident("disk_full", 4)))[0]?.action).toBe("ran");
    expect(ex.runs).toHaveLength(2);
  });

  it("keeps cooldowns per clinic in one state file", async () => {
    const ex = fakeExecutor(["RB-DISK-001"]);
    await autonomy(ex).onIncident(incident("disk_full"));
    const other = openAgentState(join(dir, "agent-state.sqlite"), {
      agent_id: "srv-x",
      client_id: "clinic-002",
    });
    expect(other.cooldowns.lastRun("RB-DISK-001")).toBeUndefined();
    expect(state.cooldowns.lastRun("RB-DISK-001")).toEqual(clock.now());
    other.close();
  });

  it("refuses a cooldown under a minute", () => {
    expect(() =>
      createOfflineAutonomy({
        runbooks: [],
        cooldownSeconds: 10,
        executor: fakeExecutor([]),
        cooldowns: state.cooldowns,
        pathRoots: {},
        clock,
        logger: silent,
        online: () => false,
      }),
    ).toThrow(/at least 60/);
  });

  it("derives only defaults and single-directory roots, leaving the rest to the executor's validation", () => {
    expect(derivedParams(definition, {})).toEqual({ threshold_percent: 90 });
    expect(derivedParams(definition, { disk_targets: ["/a", "/b"] })).toEqual({ threshold_percent: 90 });
  });
});
