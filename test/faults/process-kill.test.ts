/**
 * Fault suite, processes dying: the control plane (`msp-cp serve`) and the
 * agent daemon run as real child processes and are SIGKILLed by PID at the
 * worst moments (mid-ingest, mid-outbox-write, mid-runbook), then restarted.
 * Each case ends with the suite's invariant (harness `expectEvidenceIntact`):
 * every seq the agent produced is stored once, signed, chained, acked, with
 * no open anomaly, and nobody had to step in but the restart.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { groupAlive } from "../../agent/src/runbook/process.js";
import { runbookDefinition, writeLibrary } from "../../agent/src/runbook/testkit.js";
import {
  createDeployment,
  type Deployment,
  drained,
  enrollAgent,
  expectEvidenceIntact,
  FAST_TRANSPORT,
  type Proc,
  scratchDir,
  spawnAgent,
  storedCount,
  storedEvidence,
  until,
} from "./harness.js";

const CLINIC = "clinic-faults";
/** Drift cycles once a day: only the cycle at each start runs, so every bundle is accounted for. */
const QUIET = { check_interval_seconds: 86_400 };

// A runbook whose second step blocks until killed, so the agent can die mid-run.
const SLOW_RUNBOOK = {
  definition: runbookDefinition("RB-SERVICE-001", {
    triggers: [{ event_type: "service_crash" }],
    steps: [
      { step: 1, name: "check", script: "scripts/check.sh", timeout_seconds: 10 },
      { step: 2, name: "slow", script: "scripts/slow.sh", timeout_seconds: 600 },
      { step: 3, name: "after", script: "scripts/after.sh", timeout_seconds: 10 },
    ],
  }),
  scripts: {
    "scripts/check.sh": "echo checked=1\n",
    // Written atomically so the test never reads half a number.
    "scripts/slow.sh":
      'echo $$ > "$MSP_STATE_DIR/slow.tmp"\nmv "$MSP_STATE_DIR/slow.tmp" "$MSP_STATE_DIR/slow.pid"\nsleep 1000\n',
    "scripts/after.sh": "echo after=1\n",
  },
};

let work: string;
let library: string;
let dep: Deployment;
const running: Proc[] = [];
const track = (p: Proc) => {
  running.push(p);
  return p;
};

beforeAll(async () => {
  work = scratchDir("msp-faults-kill-");
  library = writeLibrary(join(work, "runbooks"), [SLOW_RUNBOOK]);
  dep = await createDeployment(join(work, "cp"), library);
  track(await dep.serve());
}, 120_000);

afterAll(async () => {
  for (const p of running) await p.kill("SIGKILL");
  for (const pidFile of [join(work, "srv-runbook", "state", "runbooks", "state", "slow.pid")]) {
    // The recovered run's script is killed by the agent; this only guards against a failed test leaking it.
    if (existsSync(pidFile)) {
      try {
        process.kill(-Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      } catch {
        // Already gone, as it should be.
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe("fault suite: processes killed with SIGKILL", () => {
  it("control plane killed during ingest of a 3,000-bundle backlog: restarted, nothing lost or doubled", async () => {
    const agent = await enrollAgent(dep, work, CLINIC, "srv-ingest", library, (c) => ({ ...c, ...QUIET }));
    const backlog = 3_000;
    const proc = track(await spawnAgent(agent, { backlog, transport: FAST_TRANSPORT }));
    await until("some of the backlog stored", () =>
      storedCount(dep, agent.agentId) >= 300 ? true : undefined,
    );
    await dep.proc?.kill("SIGKILL");
    const atKill = storedCount(dep, agent.agentId);
    // The kill landed mid-ingest: part of the backlog stored, the rest still only in the outbox.
    expect(atKill).toBeGreaterThanOrEqual(300);
    expect(atKill).toBeLessThan(backlog);
    track(await dep.serve());
    // The backlog plus the drift cycle the daemon runs at start.
    await drained(agent, backlog + 1, proc);
    await proc.kill("SIGTERM");
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    const stored = await expectEvidenceIntact(dep, agent);
    expect(stored.length).toBe(backlog + 1);
  }, 120_000);

  it("agent killed while writing its outbox: every durable append arrives once after restart", async () => {
    const agent = await enrollAgent(dep, work, CLINIC, "srv-writes", library, (c) => ({ ...c, ...QUIET }));
    const first = track(await spawnAgent(agent, { produce: 1_000_000, transport: FAST_TRANSPORT }));
    const printed = () => first.lines.filter((l) => l.startsWith("seq=")).map((l) => Number(l.slice(4)));
    await until("500 durable appends", () => (printed().length >= 500 ? true : undefined));
    await first.kill("SIGKILL");
    expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
    const durable = Math.max(...printed());

    const second = track(await spawnAgent(agent, { transport: FAST_TRANSPORT }));
    // Everything the killed process reported as durable, plus the restarted daemon's first drift cycle.
    const head = await drained(agent, durable + 1, second);
    await second.kill("SIGTERM");
    const stored = await expectEvidenceIntact(dep, agent);
    expect(stored.length).toBe(head.last_seq);
    // A bundle may have been committed in the instant between its append and its printed line; never fewer.
    expect(head.last_seq).toBeGreaterThanOrEqual(durable + 1);
  }, 120_000);

  it("agent killed during a runbook: the restarted agent reports one interrupted bundle for the command", async () => {
    const agent = await enrollAgent(dep, work, CLINIC, "srv-runbook", library, (c) => ({ ...c, ...QUIET }));
    const first = track(await spawnAgent(agent, { transport: FAST_TRANSPORT }));
    await drained(agent, 1, first);
    const requested = await dep.api<{ command_id: string | null; status: string }>(
      "POST",
      `/v1/clinics/${CLINIC}/executions`,
      {
        agent_id: agent.agentId,
        runbook_id: "RB-SERVICE-001",
        params: {},
        reason: "fault suite: kill mid-run",
      },
    );
    expect(requested.status, JSON.stringify(requested.body)).toBe(202);
    const commandId = requested.body.command_id;
    expect(commandId).toMatch(/^CMD-/);
    const pidFile = join(agent.config.state_dir, "runbooks", "state", "slow.pid");
    await until(
      "the slow step running",
      () => (existsSync(pidFile) ? true : undefined),
      30_000,
      () => first.stderr().slice(-3000),
    );
    await first.kill("SIGKILL");

    const second = track(await spawnAgent(agent, { transport: FAST_TRANSPORT }));
    const interrupted = await until("the interrupted bundle stored", () =>
      storedEvidence(dep, agent.agentId).find((s) => s.kind === "runbook_interrupted"),
    );
    await drained(agent, interrupted.seq, second);
    await second.kill("SIGTERM");
    const stored = await expectEvidenceIntact(dep, agent);
    const forCommand = stored.filter((s) => s.bundle.execution?.command_id === commandId);
    // One bundle for the command: the interrupted one. The run is never reported twice, nor re-run.
    expect(forCommand.map((s) => s.kind)).toEqual(["runbook_interrupted"]);
    expect(interrupted.bundle.execution).toMatchObject({
      outcome: "interrupted",
      command_id: commandId,
      trigger: "control_plane",
    });
    expect(interrupted.bundle.execution?.reason).toMatch(/step 2 \(slow\)/);
    expect(interrupted.bundle.actions_taken.map((a) => [a.action, a.result])).toEqual([
      ["check", "ok"],
      ["slow", "interrupted"],
    ]);
    // The script the dead agent left running was killed by the recovery.
    const pgid = Number(readFileSync(pidFile, "utf8"));
    await until(
      "the orphaned step's process group gone",
      () => (groupAlive(pgid) ? undefined : true),
      10_000,
    );
  }, 120_000);
});
