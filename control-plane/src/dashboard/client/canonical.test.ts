import { runInNewContext } from "node:vm";
import {
  bundleSigningBytes,
  canonicalize,
  type EvidenceBundle,
  GENESIS_HASH,
  generateSigningKey,
  signBundle,
} from "@msp/shared";
import { describe, expect, it } from "vitest";
import { CANONICAL_JS } from "./canonical.js";

/** The shipped browser text, evaluated in a fresh context as a browser would. */
const browser = runInNewContext(`${CANONICAL_JS}; ({ mspCanonicalize, mspBundleSigningText })`) as {
  mspCanonicalize(v: unknown): string;
  mspBundleSigningText(v: unknown): string;
};

const key = generateSigningKey();
const capture = (excerpt: string) => ({
  excerpt,
  bytes: excerpt.length,
  sha256: "a".repeat(64),
  truncated: false,
});

const execution: EvidenceBundle = signBundle(
  {
    protocol_version: 1,
    bundle_id: "EB-20261121-0002",
    seq: 2,
    prev_hash: GENESIS_HASH,
    client_id: "clinic-a",
    agent_id: "srv-a1",
    hostname: "srv-a1",
    created_at: "2026-11-21T10:00:00.123Z",
    kind: "runbook_execution",
    incident: {
      incident_id: "INC-20261121-0001",
      event_type: "backup_failure",
      severity: "high",
      detected_at: "2026-11-21T09:59:00Z",
    },
    runbook: {
      runbook_id: "RB-BACKUP-001",
      runbook_version: "1.0.0",
      runbook_sha256: "b".repeat(64),
      steps_total: 2,
      steps_executed: 2,
    },
    actions_taken: [
      {
        step: 0,
        phase: "step",
        action: "snapshot",
        script_sha256: "c".repeat(64),
        result: "ok",
        exit_code: 0,
        signal: null,
        attempts: 1,
        started_at: "2026-11-21T10:00:00Z",
        duration_ms: 1234,
        stdout: capture('café ✓ "quoted" \\ back\nline\t\u0001 \u2028 😀'),
        stderr: capture(""),
        outputs: { size_bytes: "1e21", zeta: "1", Alpha: "2", "\u00e9": "3" },
      },
    ],
    drift: null,
    hipaa_controls: ["164.308(a)(7)(ii)(A)"],
    execution: {
      command_id: "CMD-1",
      outcome: "success",
      started_at: "2026-11-21T10:00:00Z",
      finished_at: "2026-11-21T10:00:01Z",
      mttr_seconds: 61.25,
      sla_target_seconds: 3600,
      sla_met: true,
      operator: "ops:0123456789abcdef",
      trigger: "control_plane",
      approval: { decision: "approved", approver: "ops", decided_at: "2026-11-21T09:59:30Z" },
      reason: null,
      success_criteria: [{ expression: "exit_code == 0", met: true, detail: null }],
    },
    outputs: {},
  },
  key,
);

describe("the browser canonicalizer", () => {
  it("gives shared's signing bytes for an execution bundle, through a JSON round trip", () => {
    const parsed = JSON.parse(JSON.stringify(execution)) as unknown;
    expect(browser.mspBundleSigningText(parsed)).toBe(bundleSigningBytes(execution).toString("utf8"));
  });

  it("agrees with shared on numbers, strings, key order and nesting", () => {
    const values: unknown[] = [
      { numbers: [333333333.3333333, 1e30, 4.5, 0.002, 1e-27, -0, 5e-324, 9007199254740992, 1e21, 1e-7] },
      { "\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7 },
      { b: { d: 1, c: [2, { z: true, a: null }] }, a: undefined, s: "\u000f\n'\"\\/" },
      [],
      {},
      "plain",
    ];
    for (const v of values) expect(browser.mspCanonicalize(v)).toBe(canonicalize(v));
  });

  it("refuses what shared refuses", () => {
    expect(() => browser.mspCanonicalize({ a: Number.NaN })).toThrow(/non-finite number at \$\.a/);
    expect(() => browser.mspCanonicalize([undefined])).toThrow(/undefined array element/);
  });

  it("changes when the signed content changes (a tampered bundle cannot match)", () => {
    const tampered = { ...execution, hostname: "other" };
    expect(browser.mspBundleSigningText(tampered)).not.toBe(bundleSigningBytes(execution).toString("utf8"));
  });
});
