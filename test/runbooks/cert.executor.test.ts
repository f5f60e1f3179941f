/**
 * RB-CERT-001 through the executor, against real certificates made with
 * openssl: a leaf expiring in one day is renewed through a test CA, installed
 * and its service restarted under a real supervisord; a renewal that cannot
 * succeed is retried with backoff on the injected clock, then rolled back,
 * leaving the old certificate byte for byte. Each signed bundle is checked.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  actionTable,
  expectPinned,
  expectSealed,
  incident,
  type LibraryExecutor,
  libraryExecutor,
  outputsOf,
  stepEvidence,
} from "./executor-harness.js";
import { type Supervisor, sandbox, startSupervisor, writeExecutable } from "./helpers.js";
import { daysLeft, endDate, makeCa, makeLeaf, openssl, pubkey } from "./pki.js";

const box = sandbox("msp-rbx-cert-");
let certs: string;
let supervisor: Supervisor;
let h: LibraryExecutor;

beforeAll(async () => {
  certs = box.mkdir("certs");
  makeCa(certs);
  const web = writeExecutable(join(box.dir, "clinic-web"), "while :; do sleep 1; done");
  supervisor = await startSupervisor(box.mkdir("supervisor"), [{ name: "clinic-web", command: web }]);
  h = libraryExecutor({
    path_roots: { certs: [certs], acme_clients: [box.mkdir("acme")] },
    service_allowlist: ["clinic-web"],
    service_manager: "supervisor",
    supervisorConf: supervisor.conf,
  });
});
afterAll(async () => {
  h?.close();
  await supervisor?.stop();
  box.cleanup();
});

const ca = () => ({ ca_cert_path: join(certs, "ca.pem"), ca_key_path: join(certs, "ca.key") });
const backupsDir = () => join(h.stateDir, "runbooks", "state", "cert-backups");

describe("RB-CERT-001 through the executor", () => {
  it("renews a certificate expiring in one day, restarts its service, and signs evidence of it", async () => {
    const { cert, key } = makeLeaf(certs, "ehr", 1);
    const before = readFileSync(cert);
    const subject = openssl("x509", "-in", cert, "-noout", "-subject");
    expect(daysLeft(cert)).toBeLessThan(1.01);
    const webPid = await supervisor.pid("clinic-web");

    const b = await h.run({
      runbookId: "RB-CERT-001",
      params: { cert_path: cert, key_path: key, ...ca(), validity_days: 90, reload_services: "clinic-web" },
      incident: incident("cert_expiry", 45),
    });
    expectSealed(h, b);
    expectPinned(h, b, "RB-CERT-001", 2700);
    expect(b.execution).toMatchObject({ outcome: "success", reason: null, sla_met: true });
    expect(b.execution?.success_criteria.every((c) => c.met)).toBe(true);
    expect(actionTable(b)).toEqual([
      ["step", "check_expiry", "ok", 0],
      ["step", "backup_certificate", "ok", 0],
      ["step", "issue_certificate", "ok", 0],
      ["step", "install_certificate", "ok", 0],
      ["step", "reload_services", "ok", 0],
      ["validation", "certificate_valid", "ok", 0],
    ]);
    const ev = stepEvidence(b);
    expect(ev).toMatchObject({
      renewal_needed: "yes",
      renew_method: "internal_ca",
      renewal_status: "issued",
      cert_installed: "yes",
      cert_valid_for_window: "yes",
      reload_status: "ok",
      reloaded_services: "clinic-web",
    });
    expect(Number(ev.cert_days_remaining)).toBeLessThanOrEqual(1);
    expect(h.clock.sleeps).toEqual([]);

    // The effect: a 90-day certificate for the same subject and key, chained to the CA, now on disk.
    expect(daysLeft(cert)).toBeGreaterThan(89);
    expect(daysLeft(cert)).toBeLessThan(90.01);
    expect(openssl("x509", "-in", cert, "-noout", "-subject")).toBe(subject);
    expect(pubkey(cert)).toBe(openssl("pkey", "-in", key, "-pubout"));
    expect(openssl("verify", "-CAfile", join(certs, "ca.pem"), cert)).toContain(": OK");
    expect(Date.parse(ev.new_cert_not_after ?? "")).toBe(endDate(cert).getTime());
    // The old certificate is kept, byte for byte, where the bundle says.
    const kept = readdirSync(backupsDir());
    expect(kept).toHaveLength(1);
    expect(ev.cert_backup_path).toBe(join(backupsDir(), kept[0] ?? ""));
    expect(readFileSync(ev.cert_backup_path ?? "").equals(before)).toBe(true);
    // The service was restarted to load it.
    expect(await supervisor.state("clinic-web")).toBe("RUNNING");
    expect(await supervisor.pid("clinic-web")).not.toBe(webPid);
  });

  it("retries a failing issuance with backoff on the injected clock, then rolls back to the old certificate", async () => {
    const { cert } = makeLeaf(certs, "portal", 1);
    const { key: otherKey } = makeLeaf(certs, "stranger", 1);
    const before = readFileSync(cert);
    const sleeps = h.clock.sleeps.length;

    const b = await h.run({
      runbookId: "RB-CERT-001",
      params: { cert_path: cert, key_path: otherKey, ...ca() },
      incident: incident("cert_expiry", 90),
    });
    expectSealed(h, b);
    // 90 minutes after detection, plus 3 s of fake backoff, is past the one-hour SLA: the bundle must say so.
    expectPinned(h, b, "RB-CERT-001", 5400 + 3);
    expect(b.execution?.sla_met).toBe(false);
    expect(h.clock.sleeps.slice(sleeps)).toEqual([1000, 2000]);
    expect(actionTable(b)).toEqual([
      ["step", "check_expiry", "ok", 0],
      ["step", "backup_certificate", "ok", 0],
      ["step", "issue_certificate", "failed", 1],
      ["step", "install_certificate", "skipped", null],
      ["step", "reload_services", "skipped", null],
      ["rollback", "restore_previous_certificate", "ok", 0],
      ["rollback", "alert_administrator", "ok", null],
    ]);
    const issue = b.actions_taken[2];
    expect(issue).toMatchObject({ attempts: 3, duration_ms: 3000 });
    expect(issue?.stderr.excerpt).toContain("does not belong");
    expect(b.execution).toMatchObject({
      outcome: "rolled_back",
      reason: "step 3 (issue_certificate) exited 1, expected 0 (after 3 attempts); rollback completed",
    });
    expect(outputsOf(b, "restore_previous_certificate", "rollback").rollback_cert_restored).toBe("no");
    expect(readFileSync(cert).equals(before)).toBe(true);
    expect(daysLeft(cert)).toBeLessThan(1.01);
  });
});
