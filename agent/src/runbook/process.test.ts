import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SCRIPT_PATH } from "./environment.js";
import { groupAlive, type ProcessSpec, procStat, runProcess } from "./process.js";

const dir = mkdtempSync(join(tmpdir(), "msp-proc-"));
const script = (name: string, body: string) => {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
};
const spec = (file: string, over: Partial<ProcessSpec> = {}): ProcessSpec => ({
  command: "bash",
  args: [file],
  cwd: dir,
  env: { PATH: SCRIPT_PATH },
  timeoutMs: 10_000,
  killGraceMs: 300,
  ...over,
});
/** A process is gone when /proc has no entry or only a zombie (PID 1 here may never reap it). */
const alive = (pid: number) => {
  const s = procStat(pid);
  return s !== null && s.state !== "Z" && s.state !== "X";
};

describe("runProcess", () => {
  it("captures exit code, both streams and key=value evidence", async () => {
    const r = await runProcess(spec(script("ok.sh", 'echo "free_pct=12"\necho oops >&2\nexit 3\n')));
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, spawnError: null });
    expect(r.outputs).toEqual({ free_pct: "12" });
    expect(r.stdout.excerpt).toBe("free_pct=12\n");
    expect(r.stderr.excerpt).toBe("oops\n");
  });

  it("kills the whole process group on timeout, grandchildren included", async () => {
    const file = script(
      "loop.sh",
      'sleep 1000 &\necho "sleeper=$!"\necho "pgid=$$"\nwhile :; do sleep 0.05; done\n',
    );
    let spawned = 0;
    const r = await runProcess(spec(file, { timeoutMs: 400, onSpawn: (p) => (spawned = p) }));
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe("SIGTERM");
    const pgid = Number(r.outputs.pgid);
    const sleeper = Number(r.outputs.sleeper);
    expect(pgid).toBe(spawned);
    expect(sleeper).toBeGreaterThan(0);
    expect(alive(sleeper)).toBe(false);
    expect(groupAlive(pgid)).toBe(false);
  });

  it("escalates to SIGKILL when the group ignores SIGTERM", async () => {
    const file = script(
      "stubborn.sh",
      'trap \'\' TERM\nsleep 1000 &\necho "sleeper=$!"\necho "pgid=$$"\nwhile :; do sleep 0.05; done\n',
    );
    const t0 = Date.now();
    const r = await runProcess(spec(file, { timeoutMs: 300, killGraceMs: 400 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300 + 400 - 20);
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe("SIGKILL");
    expect(alive(Number(r.outputs.sleeper))).toBe(false);
    expect(groupAlive(Number(r.outputs.pgid))).toBe(false);
  });

  it("kills processes a script leaves behind when it exits normally", async () => {
    const file = script("leaver.sh", 'sleep 1000 >/dev/null 2>&1 &\necho "sleeper=$!"\nexit 0\n');
    const r = await runProcess(spec(file));
    expect(r.exitCode).toBe(0);
    const sleeper = Number(r.outputs.sleeper);
    for (let i = 0; i < 50 && alive(sleeper); i++) await new Promise((res) => setTimeout(res, 20));
    expect(alive(sleeper)).toBe(false);
  });

  it("keeps memory bounded for huge output while hashing all of it", async () => {
    const r = await runProcess(spec(script("big.sh", "head -c 20000000 /dev/zero\necho done=1\n")));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.bytes).toBe(20_000_000 + "done=1\n".length);
    expect(r.stdout.truncated).toBe(true);
    expect(r.outputs).toEqual({});
  });

  it("reports a process that cannot start as a value", async () => {
    const r = await runProcess(spec("x", { command: "/nonexistent/bash" }));
    expect(r.spawnError).toMatch(/ENOENT/);
    expect(r.exitCode).toBeNull();
  });
});
