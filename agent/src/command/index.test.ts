import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "@msp/shared";
import {
  canonicalBytes,
  FakeClock,
  generateSigningKey,
  type RunbookCommand,
  type SigningKey,
  signBytes,
} from "@msp/shared";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOutbox, type Outbox } from "../outbox/index.js";
import { createExecutor, type Executor } from "../runbook/index.js";
import { type AgentState, openAgentState } from "../state/index.js";
import { type CommandHandler, type CommandStatus, createCommandHandler } from "./index.js";

const RUNBOOKS = resolve(import.meta.dirname, "..", "..", "..", "runbooks");
const WHO = { agent_id: "srv-primary", client_id: "clinic-001" };
const silent: Logger = { log: () => undefined };

let dir: string;
let cpKey: SigningKey;
let clock: FakeClock;
let outbox: Outbox;
let executor: Executor;
let state: AgentState;
let sent: CommandStatus[];
let handler: CommandHandler;
let diskDir: string;

function build(): void {
  state = openAgentState(join(dir, "state", "agent-state.sqlite"), WHO);
  handler = createCommandHandler({
    identity: WHO,
    controlPlanePublicKey: cpKey.publicKey.toString("base64"),
    executor,
    sink: outbox,
    ledger: state.commands,
    pathRoots: { disk_targets: [diskDir] },
    clock,
    logger: silent,
    send: (frame) => {
      sent.push(frame);
      return true;
    },
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "msp-command-"));
  diskDir = join(dir, "disk");
  mkdirSync(diskDir);
  writeFileSync(join(diskDir, "scan.dcm"), "x".repeat(10_000));
  cpKey = generateSigningKey();
  clock = new FakeClock(new Date());
  outbox = createOutbox({
    dbPath: join(dir, "state", "outbox.sqlite"),
    signingKey: generateSigningKey(),
    identity: { ...WHO, hostname: "srv-primary" },
    maxBytes: 64 << 20,
    clock,
    controlPlanePublicKey: cpKey.publicKey.toString("base64"),
  });
  executor = createExecutor({
    runbooks: RUNBOOKS,
    config: {
      state_dir: join(dir, "state"),
      path_roots: { disk_targets: [diskDir] },
      service_allowlist: [],
      process_allowlist: [],
      service_manager: "systemd",
    },
    sink: outbox,
    clock,
  });
  sent = [];
  build();
});

afterEach(() => {
  executor.close();
  outbox.close();
  state.close();
  rmSync(dir, { recursive: true, force: true });
});

function command(overrides: Partial<RunbookCommand> = {}): RunbookCommand {
  const now = clock.now();
  return {
    command_id: `CMD-${Math.random().toString(36).slice(2, 12)}`,
    ...WHO,
    incident_id: null,
    runbook_id: "RB-DISK-001",
    runbook_sha256: executor.get("RB-DISK-001")?.sha256 ?? "",
    params: { target_dir: diskDir, quota_mb: 1 },
    issued_at: now.toISOString(),
    expires_at: new Date(now.getTime() + 600_000).toISOString(),
    dry_run: true,
    planner: { kind: "rules", confidence: 1, fallback_reason: null },
    approval: { decision: "not_required", approver: null, decided_at: null },
    ...overrides,
  };
}

function signed(cmd: RunbookCommand, key: SigningKey = cpKey) {
  return {
    type: "execute_runbook" as const,
    command: cmd,
    signature: {
      alg: "ed25519" as const,
      key_id: key.keyId,
      value: signBytes(key, canonicalBytes(cmd)).toString("base64"),
    },
  };
}

describe("command verification", () => {
  it("accepts a well-signed command for this agent and runs it through the executor", async () => {
    const cmd = command();
    const out = await handler.handle(signed(cmd));
    expect(out.status).toBe("accepted");
    expect(sent).toEqual([
      { type: "command_status", command_id: cmd.command_id, status: "accepted", reason: null },
    ]);
    expect(out.bundle?.kind).toBe("runbook_execution");
    expect(out.bundle?.execution).toMatchObject({
      command_id: cmd.command_id,
      outcome: "dry_run",
      trigger: "control_plane",
    });
  });

  const refusals: [string, () => unknown, RegExp, "envelope" | "validity" | "catalog"][] = [
    [
      "a signature by another key",
      () => signed(command(), generateSigningKey()),
      /not the pinned control-plane key/,
      "envelope",
    ],
    [
      "a signature over different bytes",
      () => {
        const f = signed(command());
        return { ...f, command: { ...f.command, dry_run: false } };
      },
      /does not verify/,
      "envelope",
    ],
    [
      "a command for another agent",
      () => signed(command({ agent_id: "srv-backup" })),
      /for agent srv-backup/,
      "envelope",
    ],
    [
      "a command for another clinic",
      () => signed(command({ client_id: "clinic-002" })),
      /of clinic clinic-002/,
      "envelope",
    ],
    [
      "an expired command",
      () =>
        signed(
          command({
            issued_at: new Date(clock.now().getTime() - 600_000).toISOString(),
            expires_at: new Date(clock.now().getTime() - 1).toISOString(),
          }),
        ),
      /expired at/,
      "validity",
    ],
    [
      "a command issued in the future",
      () =>
        signed(
          command({
            issued_at: new Date(clock.now().getTime() + 3_600_000).toISOString(),
            expires_at: new Date(clock.now().getTime() + 7_200_000).toISOString(),
          }),
        ),
      /issued in the future/,
      "validity",
    ],
    [
      "an unknown runbook",
      () => signed(command({ runbook_id: "RB-NOPE-001" })),
      /not in this agent's catalog/,
      "catalog",
    ],
    [
      "a different runbook pin",
      () => signed(command({ runbook_sha256: "e".repeat(64) })),
      /catalog pins/,
      "catalog",
    ],
    [
      "undeclared parameters",
      () => signed(command({ params: { target_dir: diskDir, rm_rf: "/" } })),
      /invalid parameters/,
      "catalog",
    ],
    [
      "a path outside its root",
      () => signed(command({ params: { target_dir: "/etc" } })),
      /invalid parameters/,
      "catalog",
    ],
  ];

  for (const [what, frame, reason, stage] of refusals) {
    it(`refuses ${what} with a signed refusal bundle and a refused status`, async () => {
      const before = outbox.head().last_seq;
      const out = await handler.handle(frame());
      expect(out.status).toBe("refused");
      expect(out.reason).toMatch(reason);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({ status: "refused", reason: expect.stringMatching(reason) });
      expect(outbox.head().last_seq).toBe(before + 1);
      const [stored] = outbox.pending(before, 10);
      expect(stored?.kind).toBe("runbook_refusal");
      expect(stored?.execution).toMatchObject({ outcome: "refused", reason: expect.stringMatching(reason) });
      expect(stored?.actions_taken).toEqual([]);
      if (stage !== "catalog") expect(stored?.outputs.refusal_stage).toBe(stage);
      expect(outbox.verifyIntegrity().ok).toBe(true);
    });
  }

  it("runs a replayed command once, also after a restart, and answers the replay with its first status", async () => {
    const frame = signed(command());
    expect((await handler.handle(frame)).status).toBe("accepted");
    const head = outbox.head().last_seq;
    const again = await handler.handle(frame);
    expect(again).toMatchObject({ status: "replayed", bundle: null });
    expect(sent[1]).toMatchObject({ status: "accepted", reason: expect.stringMatching(/not run again/) });

    state.close();
    build();
    expect((await handler.handle(frame)).status).toBe("replayed");
    expect(outbox.head().last_seq).toBe(head);
  });

  it("runs two concurrent deliveries of one command once", async () => {
    const frame = signed(command());
    const [a, b] = await Promise.all([handler.handle(frame), handler.handle(frame)]);
    expect([a.status, b.status].sort()).toEqual(["accepted", "replayed"]);
    expect(outbox.head().last_seq).toBe(1);
  });

  it("throws invalid_input for a frame that is not an execute_runbook frame, and records nothing", async () => {
    await expect(handler.handle({ type: "execute_runbook", command: {} })).rejects.toMatchObject({
      code: "invalid_input",
    });
    expect(outbox.head().last_seq).toBe(0);
    expect(sent).toEqual([]);
  });
});
