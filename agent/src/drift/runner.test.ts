import { execFileSync } from "node:child_process";
import { Baseline, FakeClock, Incident, parseYamlText, verifyBundle, verifyChain } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { createExec, type Exec } from "./exec.js";
import { createDriftRunner } from "./runner.js";
import { fixture, put, removeTempRoots, replayExec, signingSink, tempRoot } from "./testkit.js";

afterAll(removeTempRoots);

const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A baseline touching real commands, recorded outputs and a temp root, with every kind of deviation. */
function baseline(now: number): Baseline {
  const yaml = `
version: 1
id: hipaa-v1
baseline_version: "1.0.0"
description: test baseline
checks:
  - { type: firewall, id: firewall, citation: ["164.312(e)(1)"], severity: high, required_tcp_ports: [22], forbidden_tcp_ports: [23] }
  - { type: ssh_config, id: ssh, citation: ["164.312(d)"], severity: high }
  - { type: time_sync, id: ntp, citation: ["164.312(b)"], severity: high, max_offset_ms: 500 }
  - { type: auditd, id: auditd, citation: ["164.312(b)"], severity: high }
  - { type: disk_encryption, id: luks, citation: ["164.312(a)(2)(iv)"], severity: high, mountpoints: [/srv/backup] }
  - { type: cert_expiry, id: certs, citation: ["164.312(e)(2)(ii)"], severity: medium, files: [/etc/ssl/msp/server.crt], min_days: 30 }
  - { type: disk_usage, id: disk-root, citation: ["164.308(a)(7)(ii)(B)"], severity: high, mount: /, max_used_percent: 100 }
  - { type: disk_usage, id: disk-logs, citation: ["164.308(a)(7)(ii)(B)"], severity: high, directory: /var/log, quota_mb: 10, max_used_percent: 90 }
allowed_drift:
  - { id: AD-1, check_id: luks, reason: backup disk holds only encrypted restic data, approved_by: Security Officer }
exceptions:
  - { id: EXC-1, check_id: ssh, reason: vendor support window, risk: medium, owner: IT lead, expires: "${day(now + 30 * DAY)}" }
  - { id: EXC-0, check_id: ntp, reason: old approval, risk: low, owner: IT lead, expires: "${day(now - 2 * DAY)}" }
`;
  return Baseline.parse(parseYamlText(yaml, "test baseline"));
}

async function setup() {
  const now = Date.now();
  const clock = new FakeClock(now);
  const root = await tempRoot();
  const crt = await put(root, "/etc/ssl/msp/server.crt", "");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${crt}.key`,
      "-out",
      crt,
      "-days",
      "5",
      "-subj",
      "/CN=srv01",
    ],
    { stdio: "ignore" },
  );
  const recorded = replayExec({
    "nft list ruleset": { stdout: fixture("nft-list-ruleset.debian.txt") },
    sshd: {
      stdout: fixture("sshd-T.debian12.txt").replace(
        "passwordauthentication no",
        "passwordauthentication yes",
      ),
    },
    "chronyc tracking": { stdout: fixture("chronyc-tracking.offset.txt") },
    auditctl: "missing",
    lsblk: { stdout: fixture("lsblk-J.luks-lvm.json") },
  });
  // du "crashes" (throws rather than reporting): the runner must turn that into an error result.
  const exec: Exec = {
    run: (cmd, args, o) =>
      cmd === "du" ? Promise.reject(new Error("spawn du EAGAIN")) : recorded.run(cmd, args, o),
  };
  await put(root, "/var/log/syslog", "x");
  const sink = signingSink(clock);
  const incidents: Incident[] = [];
  const options = {
    baseline: baseline(now),
    agentId: "agent-01",
    clientId: "clinic-001",
    hostname: "srv01",
    sink,
    onIncident: (i: Incident) => void incidents.push(i),
    clock,
    exec,
    root,
  };
  return { now, clock, sink, incidents, options, runner: createDriftRunner(options) };
}

describe("drift runner", () => {
  it("runs every check, seals one signed bundle, and raises incidents only for uncovered failures", async () => {
    const { runner, sink, incidents } = await setup();
    const cycle = await runner.runCycle();
    const byId = new Map(cycle.results.map((r) => [r.check_id, r]));
    expect(Object.fromEntries([...byId].map(([id, r]) => [id, r.status]))).toEqual({
      firewall: "pass",
      ssh: "fail",
      ntp: "fail",
      auditd: "skipped",
      luks: "fail",
      certs: "fail",
      "disk-root": "pass",
      "disk-logs": "error",
    });
    expect(byId.get("auditd")?.reason).toBe("auditctl is not installed (auditd package missing)");
    expect(byId.get("disk-logs")?.reason).toBe("check crashed: spawn du EAGAIN");
    // Unexpired exception: reported on the result, no incident.
    expect(byId.get("ssh")?.exception).toMatchObject({ id: "EXC-1", kind: "exception" });
    expect(byId.get("ssh")?.reason).toContain("exception EXC-1 (medium risk, owner IT lead, expires");
    // Allowed drift: reported, no incident.
    expect(byId.get("luks")?.exception).toEqual({ id: "AD-1", kind: "allowed_drift", expires: null });
    // Expired exception: ignored, said so, incident raised.
    expect(byId.get("ntp")?.exception).toBeNull();
    expect(byId.get("ntp")?.reason).toMatch(
      /exception EXC-0 expired \d{4}-\d\d-\d\d \(owner IT lead\); not applied/,
    );

    expect(sink.bundles).toHaveLength(1);
    const bundle = sink.bundles[0];
    expect(verifyBundle(bundle, sink.publicKeyB64).ok).toBe(true);
    expect(bundle?.kind).toBe("drift_check");
    expect(bundle?.drift?.results).toEqual(cycle.results);
    expect(bundle?.hipaa_controls).toEqual([
      "164.308(a)(7)(ii)(B)",
      "164.312(a)(2)(iv)",
      "164.312(b)",
      "164.312(d)",
      "164.312(e)(1)",
      "164.312(e)(2)(ii)",
    ]);
    expect(bundle?.outputs).toMatchObject({
      checks: "8",
      pass: "2",
      fail: "4",
      error: "1",
      skipped: "1",
      excepted: "2",
      incidents: "2",
    });

    expect(incidents.map((i) => [i.check_id, i.incident_type, i.severity])).toEqual([
      ["ntp", "time_drift", "high"],
      ["certs", "cert_expiry", "medium"],
    ]);
    for (const incident of incidents) {
      expect(Incident.parse(incident)).toEqual(incident);
      expect(incident.incident_id).toMatch(/^INC-\d{8}-[0-9a-f]{8}-[0-9a-f]{10}$/);
      expect(incident).toMatchObject({
        source: "drift_check",
        client_id: "clinic-001",
        agent_id: "agent-01",
        hostname: "srv01",
      });
      expect(incident.details).toMatchObject({
        baseline_id: "hipaa-v1",
        evidence_bundle_id: bundle?.bundle_id,
      });
      expect(typeof incident.details.observed).toBe("string");
      expect(typeof incident.details.expected).toBe("string");
    }
    expect(incidents[1]?.details.observed).toMatch(/server\.crt: [45] days left/);
    expect(cycle.incidents).toEqual(incidents);
  });

  it("produces exactly one chained bundle per cycle, and fresh incident ids each time", async () => {
    const { runner, sink, incidents, clock } = await setup();
    await Promise.all([runner.runCycle(), runner.runCycle()]);
    await clock.advance(3_600_000);
    await runner.runCycle();
    expect(sink.bundles.map((b) => b.seq)).toEqual([1, 2, 3]);
    expect(verifyChain(sink.bundles).ok).toBe(true);
    expect(new Set(incidents.map((i) => i.incident_id)).size).toBe(incidents.length);
    expect(incidents).toHaveLength(6);
  });

  it("stops honouring an exception after its expiry day", async () => {
    const { options, clock, incidents } = await setup();
    const runner = createDriftRunner(options);
    await clock.advance(40 * DAY);
    const cycle = await runner.runCycle();
    const ssh = cycle.results.find((r) => r.check_id === "ssh");
    expect(ssh?.exception).toBeNull();
    expect(ssh?.reason).toContain("exception EXC-1 expired");
    expect(incidents.map((i) => i.check_id)).toContain("ssh");
  });

  it("still delivers incidents when the sink fails, then rejects with the sink's error", async () => {
    const { options, incidents } = await setup();
    const runner = createDriftRunner({
      ...options,
      sink: { append: () => Promise.reject(new Error("outbox full")) },
    });
    await expect(runner.runCycle()).rejects.toThrow("outbox full");
    expect(incidents).toHaveLength(2);
    expect(incidents[0]?.details.evidence_bundle_id).toBeNull();
  });

  it("refuses an invalid baseline or root at construction", async () => {
    const { options } = await setup();
    const dup = {
      ...options.baseline,
      checks: [options.baseline.checks[0], options.baseline.checks[0]],
    } as Baseline;
    expect(() => createDriftRunner({ ...options, baseline: dup })).toThrow(
      /checks\.1\.id: duplicate check id firewall/,
    );
    expect(() => createDriftRunner({ ...options, root: "relative" })).toThrow(
      /root must be an absolute path/,
    );
    expect(() => createDriftRunner({ ...options, exec: createExec() })).not.toThrow();
  });
});
