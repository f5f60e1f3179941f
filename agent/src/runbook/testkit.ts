/**
 * Test support for the executor and for whoever integrates it (transport,
 * end-to-end tests): a tiny in-memory EvidenceSink that seals drafts the way
 * the outbox does (seq, prev_hash, bundle id, ed25519 signature), and a
 * writer for small runbook libraries with a correct catalog.json, and an
 * executor wired to both with fake time. Production code never imports this
 * module.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  bundleHash,
  type Clock,
  type EvidenceBundle,
  FakeClock,
  formatBundleId,
  GENESIS_HASH,
  generateSigningKey,
  PROTOCOL_VERSION,
  sha256Hex,
  signBundle,
  systemClock,
  verifyBundle,
  verifyChain,
} from "@msp/shared";
import { stringify } from "yaml";
import type { BundleDraft, EvidenceSink } from "../evidence/index.js";
import { createExecutor, type ExecutorOptions, type RunRequest } from "./executor.js";

/** An in-memory sink plus what a test needs to inspect and verify what it sealed. */
export interface MemorySink extends EvidenceSink {
  readonly bundles: EvidenceBundle[];
  readonly publicKeyB64: string;
  /** Problems with any bundle's signature or the chain; empty when everything verifies. */
  problems(): string[];
}

/** Creates a sink that signs with a fresh key and chains bundles from genesis. */
export function createMemorySink(clock: Clock = systemClock): MemorySink {
  const key = generateSigningKey();
  const bundles: EvidenceBundle[] = [];
  const publicKeyB64 = key.publicKey.toString("base64");
  return {
    bundles,
    publicKeyB64,
    append: async (draft: BundleDraft) => {
      const prev = bundles.at(-1);
      const seq = bundles.length + 1;
      const now = clock.now();
      const bundle = signBundle(
        {
          protocol_version: PROTOCOL_VERSION,
          bundle_id: formatBundleId(now, seq),
          seq,
          prev_hash: prev === undefined ? GENESIS_HASH : bundleHash(prev),
          client_id: "clinic-test",
          agent_id: "agent-test",
          hostname: "host-test",
          created_at: now.toISOString(),
          ...draft,
        },
        key,
      );
      bundles.push(bundle);
      return bundle;
    },
    problems: () => [
      ...bundles.flatMap((b) => {
        const v = verifyBundle(b, publicKeyB64);
        return v.ok ? [] : [v.message];
      }),
      ...verifyChain(bundles).problems.map((p) => p.message),
    ],
  };
}

/** One runbook for {@link writeLibrary}: its definition (as YAML data) and the scripts it uses. */
export interface RunbookFixture {
  definition: Record<string, unknown>;
  /** Script bodies keyed by `scripts/<name>.sh`, and libraries by `scripts/lib/<name>.sh` (pinned alike). */
  scripts: Record<string, string>;
}

/** A minimal valid runbook definition; `over` replaces top-level fields. */
export function runbookDefinition(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name: `Test runbook ${id}`,
    version: "1.0",
    description: "A runbook built by a test.",
    triggers: [{ event_type: "disk_full" }],
    severity: ["high"],
    applicable_to: ["linux_server"],
    hipaa_controls: ["164.308(a)(1)(ii)(D)"],
    sla_target_seconds: 1800,
    steps: [],
    ...over,
  };
}

/** Writes RB-*.yaml, scripts/ and a catalog.json pinning them all; returns the directory. */
export function writeLibrary(dir: string, runbooks: readonly RunbookFixture[]): string {
  mkdirSync(join(dir, "scripts"), { recursive: true });
  const entries = runbooks.map((rb) => {
    const id = String(rb.definition.id);
    const file = `${id}.yaml`;
    const yaml = stringify(rb.definition);
    writeFileSync(join(dir, file), yaml);
    for (const [path, body] of Object.entries(rb.scripts)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), body, { mode: 0o755 });
    }
    const scripts = Object.fromEntries(Object.entries(rb.scripts).map(([p, body]) => [p, sha256Hex(body)]));
    return { id, version: String(rb.definition.version), file, sha256: sha256Hex(yaml), scripts };
  });
  writeFileSync(join(dir, "catalog.json"), JSON.stringify({ version: 1, runbooks: entries }, null, 2));
  return dir;
}

/** A FakeClock that remembers every sleep it was asked for, so tests can assert backoff. */
export class RecordingClock extends FakeClock {
  readonly sleeps: number[] = [];
  override sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    return super.sleep(ms);
  }
}

/** Runs `p` to completion, advancing fake time by the latest requested sleep whenever the executor sleeps. */
export async function drive<T>(clock: RecordingClock, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    if (clock.pendingSleeps > 0) await clock.advance(clock.sleeps.at(-1) ?? 0);
    else await new Promise((r) => setTimeout(r, 5));
  }
  return p;
}

/** A request with harmless defaults for RB-DISK-001. */
export function testRequest(over: Partial<RunRequest> = {}): RunRequest {
  return {
    runbookId: "RB-DISK-001",
    params: {},
    incident: null,
    commandId: "CMD-test-00000001",
    trigger: "control_plane",
    approval: { decision: "not_required", approver: null, decided_at: null },
    dryRun: false,
    ...over,
  };
}

/**
 * A temp dir holding a library of `runbooks`, a `targets` dir configured as
 * path root "targets", a state dir, and an executor over them with a
 * RecordingClock and a MemorySink. The caller closes `exec`.
 */
export function createTestExecutor(runbooks: readonly RunbookFixture[], over: Partial<ExecutorOptions> = {}) {
  const root = mkdtempSync(join(tmpdir(), "msp-exec-"));
  const targets = join(root, "targets");
  mkdirSync(targets);
  const libDir = writeLibrary(join(root, "lib"), runbooks);
  const stateDir = join(root, "state");
  const clock = new RecordingClock("2026-03-01T10:00:00.000Z");
  const sink = createMemorySink(clock);
  const exec = createExecutor({
    runbooks: libDir,
    config: {
      state_dir: stateDir,
      path_roots: { targets: [targets], logs: ["/var/log", "/srv/logs"] },
      service_allowlist: ["nginx", "postgresql"],
      process_allowlist: ["burn"],
      service_manager: "supervisor",
      supervisorConf: "/etc/supervisor/supervisord.conf",
    },
    sink,
    clock,
    killGraceMs: 200,
    ...over,
  });
  /** A file in MSP_STATE_DIR, where test scripts leave markers. */
  const state = (name: string) => join(stateDir, "runbooks", "state", name);
  return { root, targets, libDir, stateDir, clock, sink, exec, state };
}
