import { describe, expect, it } from "vitest";
import { unsignedBundle } from "../../../test/support/bundles.js";
import { generateSigningKey } from "../crypto/index.js";
import { signBundle } from "../evidence/index.js";
import { EvidenceBundle, GENESIS_HASH, UnsignedBundle } from "./bundle.js";
import { AgentConfig, ControlPlaneConfig } from "./config.js";
import { Incident } from "./incident.js";
import { AgentFrame, ControlPlaneFrame } from "./messages.js";
import { parseWith } from "./parse.js";
import { RunbookCatalog, RunbookDefinition } from "./runbook.js";

const incident = {
  incident_id: "INC-20251101-0001",
  client_id: "clinic-001",
  hostname: "srv-primary",
  incident_type: "backup_failure",
  severity: "high",
  detected_at: "2025-11-01T10:00:00.000Z",
  source: "operator",
  details: { last_backup: "2 days ago", disk_usage_pct: 94 },
};

const runbook = {
  id: "RB-BACKUP-001",
  name: "Backup Failure Remediation",
  version: "1.0",
  description: "Automated remediation for backup job failures",
  triggers: [{ event_type: "backup_failure" }],
  severity: ["critical", "high"],
  applicable_to: ["linux_server"],
  hipaa_controls: ["164.308(a)(7)(ii)(A)", "164.310(d)(2)(iv)"],
  sla_target_seconds: 14_400,
  params: { source_dir: { type: "path", root: "backup_sources" } },
  steps: [
    { step: 1, name: "check_backup_logs", script: "scripts/check_backup_logs.sh", timeout_seconds: 30 },
  ],
  rollback: [{ action: "alert_administrator", message: "Backup remediation failed" }],
  success_criteria: ['backup_status == "success"'],
};

const agentConfig = {
  version: 1,
  agent_id: "srv-primary",
  client_id: "clinic-001",
  control_plane: {
    url: "wss://cp.example:8443/v1/agent",
    ca_file: "/etc/msp/ca.pem",
    cert_file: "/var/lib/msp/agent.crt",
    key_file: "/var/lib/msp/agent.key",
    public_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  },
  evidence_key_file: "/var/lib/msp/evidence.key",
  state_dir: "/var/lib/msp",
  baseline_file: "/etc/msp/baseline/hipaa-v1.yaml",
};

const cpConfig = {
  version: 1,
  listen: { host: "127.0.0.1", port: 8443 },
  public_url: "https://cp.example:8443",
  data_dir: "/var/lib/msp-cp",
  signing_key_file: "/var/lib/msp-cp/signing.key",
  tls: { cert_file: "/var/lib/msp-cp/tls.crt", key_file: "/var/lib/msp-cp/tls.key" },
  worm: { kind: "local", dir: "/var/lib/msp-cp/worm" },
};

const key = generateSigningKey();
const bundle = signBundle(unsignedBundle(1, GENESIS_HASH), key);

const frames = {
  agent: {
    type: "hello",
    protocol_version: 1,
    agent_id: "srv-primary",
    client_id: "clinic-001",
    hostname: "srv-primary",
    agent_version: "0.1.0",
    last_seq: 0,
    catalog_sha256: "d".repeat(64),
  },
  controlPlane: {
    type: "welcome",
    protocol_version: 1,
    server_time: "2026-11-01T00:00:00.000Z",
    acked_seq: 0,
    control_plane_key_id: key.keyId,
  },
};

// Every schema, a valid example, a field to mistype and what that field must be.
const cases = [
  { name: "Incident", schema: Incident, valid: incident, field: "severity", wrong: 5 },
  {
    name: "RunbookDefinition",
    schema: RunbookDefinition,
    valid: runbook,
    field: "sla_target_seconds",
    wrong: "4h",
  },
  {
    name: "RunbookCatalog",
    schema: RunbookCatalog,
    valid: { version: 1, runbooks: [] },
    field: "runbooks",
    wrong: {},
  },
  {
    name: "UnsignedBundle",
    schema: UnsignedBundle,
    valid: unsignedBundle(1, GENESIS_HASH),
    field: "seq",
    wrong: -1,
  },
  { name: "EvidenceBundle", schema: EvidenceBundle, valid: bundle, field: "prev_hash", wrong: "abc" },
  { name: "AgentFrame", schema: AgentFrame, valid: frames.agent, field: "last_seq", wrong: "0" },
  {
    name: "ControlPlaneFrame",
    schema: ControlPlaneFrame,
    valid: frames.controlPlane,
    field: "acked_seq",
    wrong: null,
  },
  { name: "AgentConfig", schema: AgentConfig, valid: agentConfig, field: "state_dir", wrong: "relative/dir" },
  {
    name: "ControlPlaneConfig",
    schema: ControlPlaneConfig,
    valid: cpConfig,
    field: "retention_years",
    wrong: 1,
  },
] as const;

describe.each(cases)("$name schema", ({ name, schema, valid, field, wrong }) => {
  it("accepts the valid example", () => {
    expect(() => parseWith(schema, valid, name)).not.toThrow();
  });

  it("rejects an unknown top-level field, naming it", () => {
    expect(() => parseWith(schema, { ...valid, surprise: true }, name)).toThrow(
      new RegExp(`invalid ${name}: .*unknown field\\(s\\): surprise`),
    );
  });

  it("rejects a wrong type with the field path", () => {
    expect(() => parseWith(schema, { ...valid, [field]: wrong }, name)).toThrow(
      new RegExp(`invalid ${name}: ${field}: `),
    );
  });
});

describe("nested strictness and specific rules", () => {
  it("rejects unknown fields inside nested objects", () => {
    const badStep = { ...runbook, steps: [{ ...runbook.steps[0], command: "rm -rf /" }] };
    expect(() => parseWith(RunbookDefinition, badStep, "runbook")).toThrow(
      /steps\.0: unknown field\(s\): command/,
    );
  });

  it("requires steps numbered 1..n and scripts under scripts/", () => {
    const misnumbered = { ...runbook, steps: [{ ...runbook.steps[0], step: 2 }] };
    expect(() => parseWith(RunbookDefinition, misnumbered, "runbook")).toThrow(
      /steps\.0\.step: steps must be numbered 1\.\.n/,
    );
    const escaping = { ...runbook, steps: [{ ...runbook.steps[0], script: "../../bin/sh" }] };
    expect(() => parseWith(RunbookDefinition, escaping, "runbook")).toThrow(
      /steps\.0\.script: must be scripts\/<name>\.sh/,
    );
  });

  it("rejects citations outside the HIPAA catalog", () => {
    expect(() =>
      parseWith(RunbookDefinition, { ...runbook, hipaa_controls: ["164.999(z)"] }, "runbook"),
    ).toThrow(/hipaa_controls\.0/);
  });

  it("keeps incident details to bounded scalars", () => {
    expect(() => parseWith(Incident, { ...incident, details: { nested: { a: 1 } } }, "incident")).toThrow(
      /details\.nested/,
    );
    expect(() => parseWith(Incident, { ...incident, details: { "Bad Key": 1 } }, "incident")).toThrow(
      /details/,
    );
  });

  it("rejects frames of unknown type and unknown fields inside a bundle frame", () => {
    expect(() => parseWith(AgentFrame, { type: "shell", cmd: "id" }, "frame")).toThrow(
      /invalid frame: type: /,
    );
    expect(() => parseWith(AgentFrame, { type: "bundle", bundle: { ...bundle, x: 1 } }, "frame")).toThrow(
      /bundle: unknown field\(s\): x/,
    );
  });

  it("uses the seeds' defaults for guardrails and HIPAA's 6-year retention", () => {
    const parsed = parseWith(ControlPlaneConfig, cpConfig, "config");
    expect(parsed.rate_limits).toEqual({
      cooldown_seconds: 300,
      per_clinic_per_hour: 100,
      global_per_hour: 1000,
    });
    expect(parsed.retention_years).toBe(6);
    expect(parsed.approval.confidence_threshold).toBe(0.8);
    expect(parseWith(AgentConfig, agentConfig, "config").control_plane.url).toMatch(/^wss:/);
  });
});
