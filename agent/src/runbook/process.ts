/**
 * Runs one script as its own process group. A remediation script may start
 * helpers (`restic`, `tar | sha256sum`, a backgrounded `sleep`); a timeout
 * that killed only `bash` would leave those running with nobody watching.
 * So every script is spawned detached (a new session and process group) and
 * every kill targets the whole group: SIGTERM first, SIGKILL after a grace
 * period. Anything still in the group when the script exits normally is
 * killed at once: scripts must not leave processes behind.
 *
 * Timeouts use real timers, not the injected Clock: a fake clock cannot make
 * a real process run faster, and a hung script must die in real time.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { OutputCapture } from "@msp/shared";
import { EvidenceParser, OutputCollector } from "./capture.js";

/** What to run and how long to let it run. */
export interface ProcessSpec {
  command: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment; nothing is inherited. */
  env: Record<string, string>;
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL for a timed-out group. */
  killGraceMs: number;
  /** Called with the process group id as soon as the process exists, so a journal can record it. */
  onSpawn?: (pgid: number) => void;
}

/** How a process ended; outcomes are values, never exceptions. */
export interface ProcessResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Set when the process could not be started at all. */
  spawnError: string | null;
  stdout: OutputCapture;
  stderr: OutputCapture;
  /** `key=value` lines printed on stdout. */
  outputs: Record<string, string>;
}

/**
 * Runs one process spec to its result. The executor takes one through its
 * options so that a benchmark can measure the executor's own work per step
 * with process creation taken out; production always uses {@link runProcess}.
 */
export type ProcessRunner = (spec: ProcessSpec) => Promise<ProcessResult>;

const POLL_MS = 20;

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone, which is what we want.
  }
}

/**
 * True while any non-zombie process is in group `pgid`. Zombies are dead
 * (and in a container whose PID 1 does not reap they may linger forever).
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  for (const pid of listPids()) {
    const stat = procStat(pid);
    if (stat !== null && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X") return true;
  }
  return false;
}

function listPids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return [];
  }
}

/** State and process group of a pid from /proc/<pid>/stat, or null when it is gone. */
export function procStat(pid: number): { state: string; pgrp: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: rest[0] ?? "?", pgrp: Number(rest[2]) };
  } catch {
    return null;
  }
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `spec` to completion (or timeout) and resolves with what happened. */
export function runProcess(spec: ProcessSpec): Promise<ProcessResult> {
  const out = new OutputCollector();
  const err = new OutputCollector();
  const evidence = new EvidenceParser();
  return new Promise((resolve) => {
    let timedOut = false;
    let termSentAt = 0;
    let exit: { code: number | null; signal: string | null } | null = null;
    let spawnError: string | null = null;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    let fallback: NodeJS.Timeout | undefined;

    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const pgid = child.pid;

    const finish = async () => {
      if (settled) return;
      settled = true;
      clearTimeout(timeoutTimer);
      clearTimeout(fallback);
      if (pgid !== undefined && timedOut) {
        // Give members of a timed-out group the rest of their grace period, then make sure.
        while (groupAlive(pgid) && Date.now() - termSentAt < spec.killGraceMs) await delay(POLL_MS);
        signalGroup(pgid, "SIGKILL");
        while (groupAlive(pgid) && Date.now() - termSentAt < spec.killGraceMs + 2000) await delay(POLL_MS);
      }
      clearTimeout(killTimer);
      resolve({
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        timedOut,
        spawnError,
        stdout: out.finish(),
        stderr: err.finish(),
        outputs: evidence.finish(),
      });
    };

    const timeoutTimer = setTimeout(() => {
      if (pgid === undefined || exit !== null) return;
      timedOut = true;
      termSentAt = Date.now();
      signalGroup(pgid, "SIGTERM");
      killTimer = setTimeout(() => signalGroup(pgid, "SIGKILL"), spec.killGraceMs);
    }, spec.timeoutMs);

    if (pgid !== undefined) spec.onSpawn?.(pgid);
    child.stdout.on("data", (c: Buffer) => {
      out.write(c);
      evidence.write(c);
    });
    child.stderr.on("data", (c: Buffer) => err.write(c));
    child.on("error", (e) => {
      spawnError = e.message;
      if (pgid === undefined) void finish();
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      if (pgid !== undefined && !timedOut) signalGroup(pgid, "SIGKILL");
      // A process that escaped the group (setsid) may hold the pipes open; do not wait for it forever.
      fallback = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        void finish();
      }, spec.killGraceMs + 1000);
    });
    child.on("close", () => void finish());
  });
}

/**
 * Kills process group `pgid` left behind by a dead agent, but only if one of
 * its members carries `MSP_RUN_ID=<runId>` in its environment: after a
 * reboot the number may belong to an unrelated process group.
 */
export async function killOrphanedGroup(pgid: number, runId: string): Promise<boolean> {
  const marker = `MSP_RUN_ID=${runId}`;
  const ours = listPids().some((pid) => {
    if (procStat(pid)?.pgrp !== pgid) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`).toString("utf8").split("\0").includes(marker);
    } catch {
      return false;
    }
  });
  if (!ours) return false;
  signalGroup(pgid, "SIGKILL");
  const until = Date.now() + 2000;
  while (groupAlive(pgid) && Date.now() < until) await delay(POLL_MS);
  return true;
}
