import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { EvidenceSink } from "../evidence/index.js";
import { createExecutor } from "./executor.js";
import { groupAlive } from "./process.js";
import {
  createMemorySink,
  createTestExecutor,
  RecordingClock,
  runbookDefinition,
  testRequest,
  writeLibrary,
} from "./testkit.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const executorTs = fileURLToPath(new URL("./executor.ts", import.meta.url));

const slowRunbook = {
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
    // The pid file is written atomically so the test never reads a half-written number.
    "scripts/slow.sh":
      'echo $$ > "$MSP_STATE_DIR/slow.tmp"\nmv "$MSP_STATE_DIR/slow.tmp" "$MSP_STATE_DIR/slow.pid"\nsleep 1000\n',
    "scripts/after.sh": "echo after=1\n",
  },
};

async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("execution journal recovery", () => {
  it("turns a run whose agent was SIGKILLed mid-step into one interrupted bundle", async () => {
    const root = mkdtempSync(join(tmpdir(), "msp-recover-"));
    const libDir = writeLibrary(join(root, "lib"), [slowRunbook]);
    const stateDir = join(root, "state");
    const config = {
      state_dir: stateDir,
      path_roots: {},
      service_allowlist: [],
      process_allowlist: [],
      service_manager: "systemd" as const,
    };
    const child = join(root, "agent.mts");
    writeFileSync(
      child,
      [
        `import { createExecutor } from ${JSON.stringify(executorTs)};`,
        `const sink = { append: async () => { throw new Error("the agent must die before any bundle"); } };`,
        `const exec = createExecutor({ runbooks: ${JSON.stringify(libDir)}, config: ${JSON.stringify(config)}, sink });`,
        `await exec.run(${JSON.stringify(testRequest({ runbookId: "RB-SERVICE-001", commandId: "CMD-kill-00000001" }))});`,
      ].join("\n"),
    );
    const agent = spawn(process.execPath, ["--import", "tsx", child], {
      cwd: repoRoot,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    agent.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<string | null>((r) => agent.on("exit", (_code, signal) => r(signal)));
    const pidFile = join(stateDir, "runbooks", "state", "slow.pid");
    try {
      await waitFor(() => existsSync(pidFile) || agent.exitCode !== null, 20_000, "the slow step to start");
    } finally {
      agent.kill("SIGKILL");
    }
    expect(stderr).toBe("");
    expect(await exited).toBe("SIGKILL");
    const pgid = Number(readFileSync(pidFile, "utf8"));
    // The dead agent's script runs on in its own process group...
    expect(groupAlive(pgid)).toBe(true);

    const clock = new RecordingClock("2030-01-01T00:00:00.000Z");
    const sink = createMemorySink(clock);
    const exec = createExecutor({ runbooks: libDir, config, sink, clock });
    try {
      const recovered = await exec.recoverInterrupted();
      expect(recovered).toHaveLength(1);
      const b = recovered[0];
      expect(b?.kind).toBe("runbook_interrupted");
      expect(b?.execution).toMatchObject({
        outcome: "interrupted",
        command_id: "CMD-kill-00000001",
        finished_at: "2030-01-01T00:00:00.000Z",
        reason: "the agent stopped during step 2 (slow); recovered from the execution journal",
      });
      expect(b?.actions_taken.map((a) => [a.action, a.result, a.attempts, a.exit_code])).toEqual([
        ["check", "ok", 1, 0],
        ["slow", "interrupted", 1, null],
      ]);
      expect(b?.actions_taken[0]?.outputs).toEqual({ checked: "1" });
      expect(b?.runbook).toMatchObject({ runbook_id: "RB-SERVICE-001", steps_total: 3, steps_executed: 2 });
      expect(sink.problems()).toEqual([]);
      // ...until recovery finds it by its run id and kills it.
      expect(groupAlive(pgid)).toBe(false);
      expect(readdirSync(join(stateDir, "runbooks", "runs"))).toEqual([]);
      expect(await exec.recoverInterrupted()).toEqual([]);
    } finally {
      exec.close();
    }
  });

  it("re-sends a finished run's own bundle when the sink failed to store it", async () => {
    const def = runbookDefinition("RB-DISK-001", {
      steps: [{ step: 1, name: "a", script: "scripts/a.sh", timeout_seconds: 5 }],
    });
    const { exec, libDir, stateDir } = createTestExecutor(
      [{ definition: def, scripts: { "scripts/a.sh": "echo ok=1\n" } }],
      {
        sink: { append: async () => Promise.reject(new Error("disk full")) } satisfies EvidenceSink,
      },
    );
    await expect(exec.run(testRequest())).rejects.toThrow("disk full");
    exec.close();
    const sink = createMemorySink();
    const again = createExecutor({
      runbooks: libDir,
      config: {
        state_dir: stateDir,
        path_roots: {},
        service_allowlist: [],
        process_allowlist: [],
        service_manager: "systemd",
      },
      sink,
    });
    try {
      const [b, ...rest] = await again.recoverInterrupted();
      expect(rest).toEqual([]);
      expect(b?.kind).toBe("runbook_execution");
      expect(b?.execution?.outcome).toBe("success");
      expect(b?.actions_taken[0]?.outputs).toEqual({ ok: "1" });
      expect(sink.problems()).toEqual([]);
    } finally {
      again.close();
    }
  });
});
