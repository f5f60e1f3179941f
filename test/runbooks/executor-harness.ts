/**
 * Running the real runbook library through the real executor, and checking
 * the evidence it produces. The `*.executor.test.ts` files build a real
 * target, run a runbook with `createExecutor` over `runbooks/` (pins,
 * parameter validation, timeouts, rollback, journal and all), then assert
 * the effect on the target with these helpers' help and the signed bundle
 * with `expectSealed` and `expectPinned`.
 *
 * The clock is fake (a RecordingClock) so MTTR and SLA fields are exact; the
 * scripts themselves run in real time against real files and processes.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bundleSigningBytes,
  type EventType,
  type EvidenceBundle,
  parseYamlText,
  RunbookCatalog,
  RunbookDefinition,
  type Severity,
  sha256Hex,
  verifyBundle,
} from "@msp/shared";
import { naclVerify } from "@msp/shared/nacl";
import { expect } from "vitest";
import {
  createExecutor,
  type Executor,
  type ExecutorConfig,
  type RunRequest,
} from "../../agent/src/runbook/index.js";
import { createMemorySink, drive, type MemorySink, RecordingClock } from "../../agent/src/runbook/testkit.js";
import { RUNBOOKS_DIR } from "../../runbooks/build-catalog.js";
import { parseEvidence } from "./helpers.js";

/** When every executor of these tests starts: incidents are dated relative to it. */
export const START = "2026-03-01T10:00:00.000Z";

/** An executor over a runbook library (the real one unless a copy is given), with its sink and clock. */
export interface LibraryExecutor {
  exec: Executor;
  sink: MemorySink;
  clock: RecordingClock;
  /** The executor's state dir (MSP_STATE_DIR is `<stateDir>/runbooks/state`). */
  stateDir: string;
  /** The library directory it loaded. */
  library: string;
  /** Runs a request to completion, advancing fake time through any retry backoff. */
  run(request: Partial<RunRequest> & Pick<RunRequest, "runbookId" | "params">): Promise<EvidenceBundle>;
  close(): void;
}

/** Executor config without the state dir, which the harness makes. */
export type TargetConfig = Partial<Omit<ExecutorConfig, "state_dir">> & Pick<ExecutorConfig, "path_roots">;

/** Creates an executor over `library` (default `runbooks/`) with `config`; close it after the test. */
export function libraryExecutor(config: TargetConfig, library: string = RUNBOOKS_DIR): LibraryExecutor {
  const stateDir = mkdtempSync(join(tmpdir(), "msp-exec-state-"));
  const clock = new RecordingClock(START);
  const sink = createMemorySink(clock);
  const exec = createExecutor({
    runbooks: library,
    config: {
      state_dir: stateDir,
      service_allowlist: [],
      process_allowlist: [],
      service_manager: "supervisor",
      ...config,
    },
    sink,
    clock,
    killGraceMs: 500,
  });
  return {
    exec,
    sink,
    clock,
    stateDir,
    library,
    run: (request) =>
      drive(
        clock,
        exec.run({
          incident: null,
          commandId: "CMD-exec-00000001",
          trigger: "control_plane",
          approval: { decision: "not_required", approver: null, decided_at: null },
          dryRun: false,
          ...request,
        }),
      ),
    close: () => {
      exec.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** An incident detected `minutesAgo` before {@link START}, so the bundle's MTTR is that many minutes. */
export function incident(
  event_type: EventType,
  minutesAgo: number,
  severity: Severity = "high",
): NonNullable<RunRequest["incident"]> {
  const detected = new Date(Date.parse(START) - minutesAgo * 60_000);
  return {
    incident_id: "INC-20260301-0001",
    event_type,
    severity,
    detected_at: detected.toISOString(),
  };
}

/** The library's definition of a runbook, parsed from its YAML here rather than taken from the executor under test. */
export function definitionOf(id: string, library: string = RUNBOOKS_DIR): RunbookDefinition {
  const text = readFileSync(join(library, `${id}.yaml`), "utf8");
  return RunbookDefinition.parse(parseYamlText(text, `${id}.yaml`));
}

/** Each action as `[phase, name, result, exit_code]`, the shape the tests compare whole. */
export function actionTable(bundle: EvidenceBundle): [string, string, string, number | null][] {
  return bundle.actions_taken.map((a) => [a.phase, a.action, a.result, a.exit_code]);
}

/** Every `key=value` a step printed, a later step winning a repeated key (as the executor's criteria see them). */
export function stepEvidence(bundle: EvidenceBundle): Record<string, string> {
  const all: Record<string, string> = {};
  for (const a of bundle.actions_taken) if (a.phase === "step") Object.assign(all, a.outputs);
  return all;
}

/** The outputs of the action named `name` in `phase` (default the step). */
export function outputsOf(bundle: EvidenceBundle, name: string, phase = "step"): Record<string, string> {
  const a = bundle.actions_taken.find((x) => x.action === name && x.phase === phase);
  if (a === undefined) throw new Error(`no ${phase} ${name} in the bundle`);
  return a.outputs;
}

/**
 * The bundle is the last one the sink sealed, its signature verifies with
 * the shared verifier (node:crypto) AND independently with tweetnacl over
 * the canonical bytes, the chain is intact, and a one-character change to
 * the outcome breaks the tweetnacl verification (so the check can fail).
 */
export function expectSealed(h: LibraryExecutor, bundle: EvidenceBundle): void {
  expect(h.sink.bundles.at(-1)).toBe(bundle);
  expect(h.sink.problems()).toEqual([]);
  const verdict = verifyBundle(bundle, h.sink.publicKeyB64);
  expect(verdict.ok, verdict.ok ? "" : verdict.message).toBe(true);
  const key = Buffer.from(h.sink.publicKeyB64, "base64");
  const sig = Buffer.from(bundle.signature.value, "base64");
  expect(naclVerify(key, bundleSigningBytes(bundle), sig)).toBe(true);
  const forged = structuredClone(bundle);
  if (forged.execution !== null)
    forged.execution.outcome = forged.execution.outcome === "success" ? "failure" : "success";
  else forged.hipaa_controls = [...forged.hipaa_controls, "164.312(b)"];
  expect(naclVerify(key, bundleSigningBytes(forged), sig)).toBe(false);
  expect(verifyBundle(forged, h.sink.publicKeyB64).ok).toBe(false);
}

/**
 * The bundle names runbook `id` at the catalog's pin (which equals the sha256
 * of the YAML on disk), carries its HIPAA controls and SLA, and records MTTR
 * `mttrSeconds` with `sla_met` computed from it. Every action that ran a
 * script names that script's pinned sha256, the run names the pins of the
 * shared libraries (`lib_sha256`), and every captured stream's
 * sha256 and size match its excerpt (when not truncated), with the outputs
 * being exactly the excerpt's `key=value` lines.
 */
export function expectPinned(
  h: LibraryExecutor,
  bundle: EvidenceBundle,
  id: string,
  mttrSeconds: number,
): void {
  const def = definitionOf(id, h.library);
  const catalog = RunbookCatalog.parse(JSON.parse(readFileSync(join(h.library, "catalog.json"), "utf8")));
  const entry = catalog.runbooks.find((e) => e.id === id);
  if (entry === undefined) throw new Error(`${id} is not in the catalog`);
  const yamlSha = sha256Hex(readFileSync(join(h.library, `${id}.yaml`)));
  expect(entry.sha256).toBe(yamlSha);
  expect(bundle.runbook).toMatchObject({
    runbook_id: id,
    runbook_version: def.version,
    runbook_sha256: yamlSha,
    steps_total: def.steps.length,
  });
  expect(bundle.hipaa_controls).toEqual(def.hipaa_controls);
  expect(bundle.execution).toMatchObject({
    sla_target_seconds: def.sla_target_seconds,
    mttr_seconds: mttrSeconds,
    sla_met: mttrSeconds <= def.sla_target_seconds,
  });

  // The libraries the scripts sourced are pinned in the bundle too, since script_sha256 covers one file.
  const libs = Object.keys(entry.scripts).filter((k) => k.startsWith("scripts/lib/"));
  expect(libs.length).toBeGreaterThan(0);
  if (bundle.actions_taken.some((a) => a.attempts > 0)) {
    const pins = libs.map((l) => `${l.slice("scripts/lib/".length)}:${entry.scripts[l]}`).join(" ");
    expect(bundle.outputs.lib_sha256).toBe(pins);
    for (const l of libs) expect(entry.scripts[l]).toBe(sha256Hex(readFileSync(join(h.library, l))));
  }

  for (const a of bundle.actions_taken) {
    const script =
      a.phase === "step"
        ? def.steps.find((s) => s.step === a.step)?.script
        : a.phase === "rollback"
          ? def.rollback[a.step - 1]?.script
          : def.post_execution_validation[a.step - 1]?.script;
    if (script === undefined) {
      expect(a.script_sha256, `${a.phase} ${a.action}`).toBeNull();
      continue;
    }
    expect(a.script_sha256, `${a.phase} ${a.action}`).toBe(entry.scripts[script]);
    expect(a.script_sha256, `${a.phase} ${a.action}`).toBe(sha256Hex(readFileSync(join(h.library, script))));
    for (const stream of [a.stdout, a.stderr]) {
      if (stream.truncated) continue;
      expect(stream.sha256, `${a.action} capture`).toBe(sha256Hex(Buffer.from(stream.excerpt, "utf8")));
      expect(stream.bytes, `${a.action} capture`).toBe(Buffer.byteLength(stream.excerpt));
    }
    if (!a.stdout.truncated)
      expect(a.outputs, `${a.action} outputs`).toEqual(parseEvidence(a.stdout.excerpt));
  }
}
