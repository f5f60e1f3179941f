/**
 * RB-CERT-001 against real certificates made with openssl: a leaf expiring in
 * one day is renewed through a test CA (and through an ACME client
 * executable), the new expiry, subject, key, SANs and chain are checked, and
 * an allow-listed service under a real supervisord is restarted to load it.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  contractEnv,
  type RunOptions,
  runbook,
  runRunbook,
  runScript,
  type Supervisor,
  sandbox,
  startSupervisor,
  stepNamed,
  writeExecutable,
} from "./helpers.js";
import { daysLeft, makeCa, makeLeaf, openssl, pubkey } from "./pki.js";

const box = sandbox();
let certs: string;
let acmeRoot: string;
let supervisor: Supervisor;
let runs = 0;

function dirs(): Pick<RunOptions, "workDir" | "stateDir"> {
  runs += 1;
  return { workDir: box.mkdir(`work-${runs}`), stateDir: box.mkdir(`state-${runs}`) };
}
const roots = () => ({ certs: [certs], acme_clients: [acmeRoot] });
const caParams = () => ({ ca_cert_path: join(certs, "ca.pem"), ca_key_path: join(certs, "ca.key") });

beforeAll(async () => {
  certs = box.mkdir("certs");
  acmeRoot = box.mkdir("acme");
  makeCa(certs);
  const web = writeExecutable(
    join(box.dir, "clinic-web"),
    'echo "clinic-web started pid $$" >&2\nwhile :; do sleep 1; done',
  );
  supervisor = await startSupervisor(box.mkdir("supervisor"), [{ name: "clinic-web", command: web }]);
});
afterAll(async () => {
  await supervisor?.stop();
  box.cleanup();
});

describe("RB-CERT-001", () => {
  it("renews a certificate expiring in one day through the clinic CA and restarts the service using it", async () => {
    const { cert, key } = makeLeaf(certs, "ehr", 1);
    const before = readFileSync(cert);
    const subject = openssl("x509", "-in", cert, "-noout", "-subject");
    expect(daysLeft(cert)).toBeLessThan(1.01);
    const webPid = await supervisor.pid("clinic-web");

    const d = dirs();
    const run = await runRunbook("RB-CERT-001", {
      params: {
        cert_path: cert,
        key_path: key,
        ...caParams(),
        validity_days: 90,
        reload_services: "clinic-web",
      },
      roots: roots(),
      env: {
        MSP_SERVICE_MANAGER: "supervisor",
        MSP_SUPERVISOR_CONF: supervisor.conf,
        MSP_SERVICE_ALLOWLIST: "clinic-web",
      },
      ...d,
    });
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect([s.name, s.code, s.missing]).toEqual([s.name, 0, []]);
    expect(run.evidence).toMatchObject({
      renewal_needed: "yes",
      renew_method: "internal_ca",
      renewal_status: "issued",
      cert_installed: "yes",
      cert_valid_for_window: "yes",
      reload_status: "ok",
      reloaded_services: "clinic-web",
    });
    expect(Number(run.evidence.cert_days_remaining)).toBeLessThanOrEqual(1);

    // The effect on the target: a new certificate, 90 days, same subject, key and SANs, chained to the CA.
    expect(daysLeft(cert)).toBeGreaterThan(89);
    expect(daysLeft(cert)).toBeLessThan(90.01);
    expect(Number(run.evidence.new_cert_days_remaining)).toBeGreaterThanOrEqual(89);
    expect(openssl("x509", "-in", cert, "-noout", "-subject")).toBe(subject);
    expect(pubkey(cert)).toBe(openssl("pkey", "-in", key, "-pubout"));
    expect(openssl("x509", "-in", cert, "-noout", "-ext", "subjectAltName")).toContain(
      "DNS:ehr-alt.clinic.test",
    );
    expect(openssl("verify", "-CAfile", join(certs, "ca.pem"), cert)).toContain(": OK");

    // The old certificate was kept, byte for byte, outside the certificate directory.
    const backups = readdirSync(join(d.stateDir, "cert-backups"));
    expect(backups).toHaveLength(1);
    expect(readFileSync(join(d.stateDir, "cert-backups", backups[0] ?? "")).equals(before)).toBe(true);
    expect(run.evidence.cert_backup_path).toBe(join(d.stateDir, "cert-backups", backups[0] ?? ""));

    // The service was restarted to pick the certificate up.
    expect(await supervisor.state("clinic-web")).toBe("RUNNING");
    expect(await supervisor.pid("clinic-web")).not.toBe(webPid);
    expect(run.validations.map((v) => [v.name, v.code])).toEqual([["certificate_valid", 0]]);
  });

  it("renews through an ACME client executable run with environment variables only", async () => {
    const { cert, key } = makeLeaf(certs, "portal", 1);
    const seen = join(box.dir, "acme-seen");
    // A stand-in for a certbot/lego wrapper: records how it was called, then signs with the test CA.
    const client = writeExecutable(
      join(acmeRoot, "acme-wrapper"),
      [
        "set -euo pipefail",
        `{ echo "argc=$#"; env | grep '^MSP_ACME_' | sort; } > ${JSON.stringify(seen)}`,
        'csr="$(mktemp)"',
        'openssl x509 -x509toreq -in "$MSP_ACME_CERT_PATH" -signkey "$MSP_ACME_KEY_PATH" -copy_extensions copyall -out "$csr" 2>/dev/null',
        `openssl x509 -req -in "$csr" -CA ${JSON.stringify(join(certs, "ca.pem"))} -CAkey ${JSON.stringify(join(certs, "ca.key"))} -days 60 -copy_extensions copyall -out "$MSP_ACME_OUTPUT" 2>/dev/null`,
      ].join("\n"),
    );
    const d = dirs();
    const run = await runRunbook("RB-CERT-001", {
      params: { cert_path: cert, key_path: key, renew_method: "acme", acme_client: client },
      roots: roots(),
      ...d,
    });
    expect(run.failedAt).toBeUndefined();
    expect(run.evidence).toMatchObject({
      renew_method: "acme",
      renewal_status: "issued",
      cert_installed: "yes",
      reload_status: "none",
    });
    expect(daysLeft(cert)).toBeGreaterThan(59);
    const calledWith = readFileSync(seen, "utf8");
    expect(calledWith).toContain("argc=0\n");
    expect(calledWith).toContain(`MSP_ACME_CERT_PATH=${cert}\n`);
    expect(calledWith).toContain("MSP_ACME_DOMAIN=portal.clinic.test\n");
    expect(calledWith).toContain("MSP_ACME_SANS=portal.clinic.test,portal-alt.clinic.test\n");
    expect(calledWith).toContain(`MSP_ACME_OUTPUT=${join(d.workDir, "cert-new.pem")}\n`);
  });

  it("rejects a new certificate for another subject and keeps the old one", async () => {
    const { cert, key } = makeLeaf(certs, "kiosk", 1);
    const before = readFileSync(cert);
    // A misbehaving ACME client: right key, wrong name.
    const client = writeExecutable(
      join(acmeRoot, "acme-wrong-name"),
      [
        'csr="$(mktemp)"',
        'openssl req -new -key "$MSP_ACME_KEY_PATH" -subj "/CN=attacker.example" -out "$csr"',
        `openssl x509 -req -in "$csr" -CA ${JSON.stringify(join(certs, "ca.pem"))} -CAkey ${JSON.stringify(join(certs, "ca.key"))} -days 60 -out "$MSP_ACME_OUTPUT" 2>/dev/null`,
      ].join("\n"),
    );
    const run = await runRunbook("RB-CERT-001", {
      params: { cert_path: cert, key_path: key, renew_method: "acme", acme_client: client },
      roots: roots(),
      ...dirs(),
    });
    expect(run.evidence.renewal_status).toBe("issued");
    expect(run.failedAt).toBe("install_certificate");
    expect(run.evidence).toMatchObject({ cert_installed: "no", cert_valid_for_window: "no" });
    expect(stepNamed(run, "install_certificate").stderr).toContain("subject differs");
    expect(run.rollback.map((r) => r.evidence.rollback_cert_restored)).toEqual(["no"]);
    expect(readFileSync(cert).equals(before)).toBe(true);
  });

  it("leaves a certificate outside the renewal window alone", async () => {
    const { cert, key } = makeLeaf(certs, "lab", 200);
    const before = readFileSync(cert);
    const run = await runRunbook("RB-CERT-001", {
      params: { cert_path: cert, key_path: key, ...caParams() },
      roots: roots(),
      ...dirs(),
    });
    expect(run.failedAt).toBeUndefined();
    expect(run.evidence).toMatchObject({
      renewal_needed: "no",
      renewal_status: "not_needed",
      cert_installed: "unchanged",
      cert_valid_for_window: "yes",
      reload_status: "none",
    });
    expect(readFileSync(cert).equals(before)).toBe(true);
  });

  it("changes nothing in dry-run mode", async () => {
    const { cert, key } = makeLeaf(certs, "dry", 1);
    const before = readFileSync(cert);
    const d = dirs();
    const run = await runRunbook("RB-CERT-001", {
      params: { cert_path: cert, key_path: key, ...caParams(), reload_services: "clinic-web" },
      roots: roots(),
      env: {
        MSP_SERVICE_MANAGER: "supervisor",
        MSP_SUPERVISOR_CONF: supervisor.conf,
        MSP_SERVICE_ALLOWLIST: "clinic-web",
      },
      dryRun: true,
      ...d,
    });
    expect(run.failedAt).toBeUndefined();
    for (const s of run.steps) expect([s.name, s.missing]).toEqual([s.name, []]);
    expect(run.evidence).toMatchObject({
      renewal_status: "dry_run",
      cert_installed: "dry_run",
      reload_status: "not_needed",
    });
    expect(readFileSync(cert).equals(before)).toBe(true);
    expect(existsSync(join(d.stateDir, "cert-backups"))).toBe(false);
    expect(existsSync(join(d.workDir, "cert-new.pem"))).toBe(false);
  });

  it("refuses paths outside the certs root and a reload service that is not allow-listed, before changing anything", async () => {
    const { cert, key } = makeLeaf(certs, "guard", 1);
    const rb = runbook("RB-CERT-001");
    for (const bad of [
      "../../etc/ssl/cert.pem",
      "/etc/ssl/certs/ca-certificates.crt",
      `${certs}/../../../etc/passwd`,
    ]) {
      for (const params of [
        { cert_path: bad, key_path: key },
        { cert_path: cert, key_path: bad },
      ]) {
        const env = contractEnv(rb, { params, roots: roots(), ...dirs() });
        const script = params.cert_path === bad ? "scripts/cert_check.sh" : "scripts/cert_issue.sh";
        const run = await runScript(script, env, { cwd: box.dir });
        expect([script, run.code, run.evidence.refused]).toEqual([script, 65, "path_outside_roots"]);
      }
    }
    const run = await runRunbook("RB-CERT-001", {
      params: { cert_path: cert, key_path: key, ...caParams(), reload_services: "clinic-web sshd" },
      roots: roots(),
      env: { MSP_SERVICE_ALLOWLIST: "clinic-web" },
      ...dirs(),
    });
    expect(run.failedAt).toBe("check_expiry");
    expect(run.steps).toHaveLength(1);
    expect(run.evidence).toMatchObject({ refused: "not_allowlisted", refused_name: "sshd" });
    expect(daysLeft(cert)).toBeLessThan(1.01);
  });

  it("refuses to renew with a key that does not belong to the certificate", async () => {
    const { cert } = makeLeaf(certs, "mismatch", 1);
    const { key: otherKey } = makeLeaf(certs, "other", 1);
    const run = await runRunbook("RB-CERT-001", {
      params: { cert_path: cert, key_path: otherKey, ...caParams() },
      roots: roots(),
      ...dirs(),
    });
    expect(run.failedAt).toBe("issue_certificate");
    expect(stepNamed(run, "issue_certificate").stderr).toContain("does not belong");
    expect(run.rollback.map((r) => r.evidence.rollback_cert_restored)).toEqual(["no"]);
    expect(daysLeft(cert)).toBeLessThan(1.01);
  });

  it("rolls back to the previous certificate after an installation", async () => {
    const { cert, key } = makeLeaf(certs, "undo", 1);
    const before = readFileSync(cert);
    const rb = runbook("RB-CERT-001");
    const env = contractEnv(rb, {
      params: { cert_path: cert, key_path: key, ...caParams() },
      roots: roots(),
      ...dirs(),
    });
    for (const s of ["cert_backup", "cert_issue", "cert_install"]) {
      expect((await runScript(`scripts/${s}.sh`, env, { cwd: box.dir })).code, s).toBe(0);
    }
    expect(readFileSync(cert).equals(before)).toBe(false);
    const rollback = await runScript("scripts/cert_rollback.sh", env, { cwd: box.dir });
    expect(rollback.evidence.rollback_cert_restored).toBe("yes");
    expect(readFileSync(cert).equals(before)).toBe(true);
  });
});
