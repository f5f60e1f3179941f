/**
 * Test support for drift checks: an Exec that replays recorded outputs for the
 * few tools a test machine cannot have (and delegates everything else to the
 * real commands), temp roots, and an evidence sink that really seals and signs.
 * Kept out of `index.ts`; only tests import it.
 */
import { readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  bundleHash,
  type Clock,
  type EvidenceBundle,
  formatBundleId,
  GENESIS_HASH,
  generateSigningKey,
  PROTOCOL_VERSION,
  signBundle,
} from "@msp/shared";
import type { BundleDraft, EvidenceSink } from "../evidence/index.js";
import type { CheckContext } from "./context.js";
import { underRoot } from "./context.js";
import { createExec, type Exec } from "./exec.js";
import { createSystemInfo } from "./sysinfo.js";

const FIXTURES = new URL("./fixtures/", import.meta.url);

/** Reads a recorded output from `fixtures/`. */
export function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), "utf8");
}

/** A recorded command result; `"missing"` replays ENOENT. */
export type Recorded = { stdout?: string; stderr?: string; code?: number | null } | "missing";

/**
 * Replays results keyed by `cmd args...` or by `cmd` alone (any args); other
 * commands run for real. `calls` lists every command line asked for.
 */
export function replayExec(
  recorded: Record<string, Recorded>,
  real: Exec = createExec(),
): Exec & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async run(cmd, args, opts) {
      const line = [cmd, ...args].join(" ");
      calls.push(line);
      const r = recorded[line] ?? recorded[cmd];
      if (r === undefined) return real.run(cmd, args, opts);
      if (r === "missing") return { missing: true };
      return { code: r.code === undefined ? 0 : r.code, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
    },
  };
}

const roots: string[] = [];

/** A fresh temp directory to use as the agent root; see {@link removeTempRoots}. */
export async function tempRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "msp-drift-"));
  roots.push(root);
  return root;
}

/** Removes every temp root made so far; test files pass it to `afterAll`. */
export function removeTempRoots(): void {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
}

/** Writes `text` at host path `hostPath` under `root`, creating directories. */
export async function put(root: string, hostPath: string, text: string | Buffer): Promise<string> {
  const full = join(root, hostPath);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, text);
  return full;
}

/** A check context over a temp root, real systeminformation and the given exec and clock. */
export function contextFor(root: string, exec: Exec, clock: Clock): CheckContext {
  return { exec, sys: createSystemInfo(), clock, path: underRoot(root) };
}

/** An in-memory sink that seals drafts the way the outbox does: seq, chain, id, signature. */
export function signingSink(
  clock: Clock,
  identity = { client_id: "clinic-001", agent_id: "agent-01", hostname: "srv01" },
) {
  const key = generateSigningKey();
  const bundles: EvidenceBundle[] = [];
  const sink: EvidenceSink & { bundles: EvidenceBundle[]; publicKeyB64: string } = {
    bundles,
    publicKeyB64: key.publicKey.toString("base64"),
    async append(draft: BundleDraft) {
      const prev = bundles.at(-1);
      const now = clock.now();
      const bundle = signBundle(
        {
          ...draft,
          ...identity,
          protocol_version: PROTOCOL_VERSION,
          bundle_id: formatBundleId(now, bundles.length + 1),
          seq: bundles.length + 1,
          prev_hash: prev === undefined ? GENESIS_HASH : bundleHash(prev),
          created_at: now.toISOString(),
        },
        key,
      );
      bundles.push(bundle);
      return bundle;
    },
  };
  return sink;
}
