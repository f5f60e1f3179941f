/**
 * Fault suite, the link and the clocks: the control plane runs as a child
 * process (`msp-cp serve`), the agent daemon in this process (so its clock
 * and outbox can be driven through its own API), and every agent connection
 * passes through a TCP proxy on 127.0.0.1 the test controls.
 *
 * Time is compressed, not faked: the agent's keepalive is 300 ms instead of
 * 30 s, its welcome timeout 1 s instead of 10 s and its reconnect backoff
 * 100-500 ms instead of 1-60 s, so an outage of about 5 minutes in production
 * timings (ten missed keepalives, repeated reconnects into the black hole and
 * against the partition) takes a few seconds here. The ratios between the
 * timers, which decide what the agent does, are kept.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import {
  type Clock,
  isMspError,
  loadSigningKey,
  type MspError,
  RunbookCommand,
  systemClock,
} from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AgentParts,
  agentParts,
  type BundleDraft,
  createDaemon,
  type Daemon,
  type Logger,
} from "../../agent/src/index.js";
import { runbookDefinition, writeLibrary } from "../../agent/src/runbook/testkit.js";
import { newCommandId, signCommand } from "../../control-plane/src/planner/command.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import {
  createDeployment,
  type Deployment,
  drained,
  enrollAgent,
  expectEvidenceIntact,
  type FaultAgent,
  scratchDir,
  storedCount,
  storedEvidence,
  until,
} from "./harness.js";

const CLINIC = "clinic-link";
const QUIET = { check_interval_seconds: 86_400 };
const COMPRESSED = { backoff: { initialMs: 100, maxMs: 500 }, pingIntervalMs: 300, welcomeTimeoutMs: 1_000 };
const TEN_MINUTES = 10 * 60_000;

// One quick runbook, pinned by both sides, for commands and offline runbook evidence.
const QUICK_RUNBOOK = {
  definition: runbookDefinition("RB-DISK-001", {
    steps: [{ step: 1, name: "measure", script: "scripts/measure.sh", timeout_seconds: 10 }],
  }),
  // About 5 KB of output: its bundle cannot fit in what a full outbox has left.
  scripts: { "scripts/measure.sh": "head -c 5000 /dev/zero | tr '\\0' m\necho\necho measured=1\n" },
};

let work: string;
let library: string;
let dep: Deployment;
let proxy: TcpProxy;

/** A daemon in this process with captured logs; `stop()` stops it and closes its parts. */
interface LocalAgent {
  agent: FaultAgent;
  parts: AgentParts;
  daemon: Daemon;
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  /** The last log lines, for failure messages. */
  stderr(): string;
}
const started: LocalAgent[] = [];

async function startAgent(
  agentId: string,
  options: { clock?: Clock; maxBytes?: number; sendWindow?: number } = {},
): Promise<LocalAgent> {
  const agent = await enrollAgent(dep, work, CLINIC, agentId, library, (c) => ({
    ...c,
    ...QUIET,
    control_plane: { ...c.control_plane, url: `wss://127.0.0.1:${proxy.port}/v1/agent` },
    outbox: {
      max_bytes: options.maxBytes ?? c.outbox.max_bytes,
      send_window: options.sendWindow ?? c.outbox.send_window,
    },
  }));
  const clock = options.clock ?? systemClock;
  const logs: LocalAgent["logs"] = [];
  const logger: Logger = { log: (level, msg, fields) => void logs.push({ level, msg, fields }) };
  const parts = agentParts(agent.config, logger, { clock });
  const daemon = createDaemon({ parts, logger, clock, shutdownGraceMs: 2_000, transport: COMPRESSED });
  await daemon.start();
  const local = {
    agent,
    parts,
    daemon,
    logs,
    stderr: () =>
      logs
        .slice(-20)
        .map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields ?? {})}`)
        .join("\n"),
  };
  started.push(local);
  return local;
}

/** Real time shifted by `offsetMs`; sleeps do not keep the test process alive. */
function shiftedClock(offsetMs: number): Clock {
  return {
    now: () => new Date(Date.now() + offsetMs),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)).unref()),
  };
}

/** A small drift draft; `wide` adds four more results of ~1.5 KB each (a ~6 KB bundle). */
function driftDraft(i: number, wide = false): BundleDraft {
  const result = (n: number, observed: string) => ({
    check_id: `phi_quota_${n}`,
    status: "pass" as const,
    citation: ["164.308(a)(1)(ii)(D)"],
    observed,
    expected: "<= 90%",
    reason: null,
    exception: null,
    event_type: null,
  });
  const extra = wide ? [1, 2, 3, 4].map((n) => result(n, `sample ${i}: ${"x".repeat(1_500)}`)) : [];
  return {
    kind: "drift_check",
    incident: null,
    runbook: null,
    actions_taken: [],
    drift: {
      baseline_id: "faults-v1",
      baseline_version: "1.0.0",
      results: [result(0, `queued sample ${i}`), ...extra],
    },
    hipaa_controls: ["164.308(a)(1)(ii)(D)"],
    execution: null,
    outputs: {},
  };
}

beforeAll(async () => {
  work = scratchDir("msp-faults-link-");
  library = writeLibrary(join(work, "runbooks"), [QUICK_RUNBOOK]);
  dep = await createDeployment(join(work, "cp"), library);
  await dep.serve();
  proxy = await startTcpProxy(dep.port);
}, 120_000);

afterAll(async () => {
  for (const a of started) await a.daemon.stop("test over");
  await proxy?.close();
  await dep?.proc?.kill("SIGTERM");
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe("fault suite: the link and the clocks", () => {
  it("black hole, then partition, with 10,000 bundles queued: all arrive once when the link returns", async () => {
    const { agent, daemon, parts } = await startAgent("srv-partition", { sendWindow: 1_024 });
    await drained(agent, 1, null);
    const outbox = await parts.outbox();

    // Packets silently dropped: only the keepalive can tell; the agent must notice and redial.
    proxy.setMode("blackhole");
    await until("the agent to notice the black hole", () =>
      daemon.stats().transport !== "ready" ? true : undefined,
    );
    for (let i = 0; i < 10_000; i++) await outbox.append(driftDraft(i));
    const holed = proxy.stats().accepted;
    await until("three redials swallowed by the black hole", () =>
      proxy.stats().accepted >= holed + 3 ? true : undefined,
    );
    expect(proxy.stats().swallowedBytes).toBeGreaterThan(0);

    // Then a partition: every redial refused at once.
    proxy.setMode("partition");
    const resets = proxy.stats().reset;
    await until("three redials refused by the partition", () =>
      proxy.stats().reset >= resets + 3 ? true : undefined,
    );
    expect(storedCount(dep, agent.agentId)).toBe(1);
    expect(outbox.head()).toMatchObject({ last_seq: 10_001, acked_seq: 1 });

    proxy.setMode("pass");
    await drained(agent, 10_001, null, 120_000);
    await daemon.stop("case over");
    const stored = await expectEvidenceIntact(dep, agent);
    expect(stored).toHaveLength(10_001);
  }, 240_000);

  it("outbox at its bound offline: drift refused with a local alert, runbook evidence kept, all drained on reconnect", async () => {
    proxy.setMode("partition");
    const maxBytes = 1 << 20;
    const local = await startAgent("srv-full", { maxBytes });
    const { agent, daemon, parts, logs } = local;
    const outbox = await parts.outbox();
    // Drift samples of ~6 KB until the outbox refuses one.
    let refusal: unknown = null;
    for (let i = 0; i < 1_000 && refusal === null; i++) {
      await outbox.append(driftDraft(i, true)).catch((e: unknown) => {
        refusal = e;
      });
    }
    expect(isMspError(refusal) && refusal.code === "unavailable" && refusal.retryable).toBe(true);
    expect((refusal as MspError).message).toMatch(/outbox is full/);
    const alerts = () => logs.filter((l) => l.msg === "outbox alert").map((l) => l.fields?.alert);
    expect(alerts()).toContainEqual(
      expect.objectContaining({ kind: "outbox_full", refused_kind: "drift_check" }),
    );
    const full = outbox.stats();
    expect(full.full_since).not.toBeNull();

    // Runbook evidence is never refused for size: an offline run is kept past the bound.
    const executor = await parts.executor();
    const run = await executor.run({
      runbookId: "RB-DISK-001",
      params: {},
      incident: null,
      commandId: null,
      trigger: "offline_autonomy",
      approval: { decision: "not_required", approver: null, decided_at: null },
      dryRun: false,
    });
    expect(run.kind).toBe("runbook_execution");
    expect(outbox.stats().bytes).toBeGreaterThan(maxBytes);
    expect(alerts()).toContainEqual(expect.objectContaining({ kind: "outbox_over_limit", seq: run.seq }));
    // Still full for drift.
    await expect(outbox.append(driftDraft(-1))).rejects.toMatchObject({ code: "unavailable" });

    proxy.setMode("pass");
    const head = await drained(agent, run.seq, local);
    expect(outbox.stats().full_since).toBeNull();
    expect(alerts()).toContainEqual(expect.objectContaining({ kind: "outbox_recovered" }));
    // Once drained, drift is accepted again.
    const after = await outbox.append(driftDraft(0));
    expect(after.seq).toBe(head.last_seq + 1);
    // The daemon tells the transport of new bundles after each cycle; this one was appended directly,
    // so one more drop of the link (and the replay at the next welcome) delivers it.
    proxy.setMode("partition");
    proxy.setMode("pass");
    await drained(agent, after.seq, local);
    await daemon.stop("case over");
    const stored = await expectEvidenceIntact(dep, agent);
    const kinds = stored.map((s) => s.kind);
    // One local_alert for the episode tells the control plane drift samples were dropped.
    expect(kinds.filter((k) => k === "local_alert")).toHaveLength(1);
    expect(stored.find((s) => s.kind === "local_alert")?.bundle.outputs).toMatchObject({
      alert: "outbox_full",
      refused_kind: "drift_check",
    });
    expect(stored.find((s) => s.seq === run.seq)?.kind).toBe("runbook_execution");
  }, 120_000);

  it("agent clock 10 minutes ahead: evidence accepted, a one-hour command runs, a 5-minute command is refused as expired", async () => {
    proxy.setMode("pass");
    const { agent, daemon } = await startAgent("srv-ahead", { clock: shiftedClock(TEN_MINUTES) });
    await drained(agent, 1, null);
    // The control plane stores evidence by seq and hash, not by time: the agent's created_at is kept as signed.
    const [first] = storedEvidence(dep, agent.agentId);
    const ahead = Date.parse(first?.bundle.created_at ?? "") - Date.now();
    expect(ahead).toBeGreaterThan(TEN_MINUTES - 60_000);

    // A command the control plane issues (valid one hour) is inside the agent's window.
    const requested = await dep.api<{ command_id: string }>("POST", `/v1/clinics/${CLINIC}/executions`, {
      agent_id: agent.agentId,
      runbook_id: "RB-DISK-001",
      params: {},
      reason: "fault suite: clock skew",
    });
    expect(requested.status, JSON.stringify(requested.body)).toBe(202);
    const ran = await until("the command's execution evidence", () =>
      storedEvidence(dep, agent.agentId).find(
        (s) => s.bundle.execution?.command_id === requested.body.command_id,
      ),
    );
    expect(ran.kind).toBe("runbook_execution");
    expect(ran.bundle.execution?.outcome).toBe("success");

    // A command valid for 5 minutes has already expired on a clock 10 minutes ahead: refused, with evidence.
    const key = await loadSigningKey(join(dep.dir, "signing.key"));
    const now = new Date();
    const short = signCommand(
      RunbookCommand.parse({
        command_id: newCommandId(),
        agent_id: agent.agentId,
        client_id: CLINIC,
        incident_id: null,
        runbook_id: "RB-DISK-001",
        runbook_sha256: ran.bundle.runbook?.runbook_sha256,
        params: {},
        issued_at: now.toISOString(),
        expires_at: new Date(now.getTime() + 5 * 60_000).toISOString(),
        dry_run: false,
        planner: { kind: "operator", confidence: 1, fallback_reason: null },
        approval: { decision: "not_required", approver: null, decided_at: null },
      }),
      key,
    );
    const outcome = await daemon.commands().handle(short);
    expect(outcome.status).toBe("refused");
    expect(outcome.reason).toMatch(/expired/);
    expect(outcome.bundle?.kind).toBe("runbook_refusal");
    await drained(agent, outcome.bundle?.seq ?? Number.NaN, null);
    await daemon.stop("case over");
    const stored = await expectEvidenceIntact(dep, agent);
    expect(
      stored.filter((s) => s.bundle.execution?.command_id === short.command.command_id).map((s) => s.kind),
    ).toEqual(["runbook_refusal"]);
  }, 120_000);

  it("agent clock 10 minutes behind: every control-plane command is refused as issued in the future", async () => {
    proxy.setMode("pass");
    const { agent, daemon } = await startAgent("srv-behind", { clock: shiftedClock(-TEN_MINUTES) });
    await drained(agent, 1, null);
    const requested = await dep.api<{ command_id: string }>("POST", `/v1/clinics/${CLINIC}/executions`, {
      agent_id: agent.agentId,
      runbook_id: "RB-DISK-001",
      params: {},
      reason: "fault suite: clock behind",
    });
    expect(requested.status, JSON.stringify(requested.body)).toBe(202);
    const refused = await until("the command's refusal evidence", () =>
      storedEvidence(dep, agent.agentId).find(
        (s) => s.bundle.execution?.command_id === requested.body.command_id,
      ),
    );
    expect(refused.kind).toBe("runbook_refusal");
    expect(refused.bundle.execution?.reason).toMatch(/issued in the future/);
    await drained(agent, refused.seq, null);
    await daemon.stop("case over");
    await expectEvidenceIntact(dep, agent);
  }, 120_000);
});
