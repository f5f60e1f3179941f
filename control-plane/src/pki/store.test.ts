import { X509Certificate } from "node:crypto";
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock, generateTlsKeyPair, isMspError } from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { createCertificateAuthority } from "./authority.js";
import { CA_CERT_FILE, CA_KEY_FILE, loadOrCreateCertificateAuthority } from "./store.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function caDir(): string {
  const root = mkdtempSync(join(tmpdir(), "msp-pki-store-"));
  dirs.push(root);
  return join(root, "ca");
}

const clock = new FakeClock("2026-06-01T00:00:00Z");
const open = (dir: string, commonName = "MSP Store CA") =>
  loadOrCreateCertificateAuthority({ dir, clock, commonName });

async function expectConfigInvalid(p: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isMspError(error, "config_invalid")).toBe(true);
  expect((error as Error).message).toMatch(message);
}

describe("loadOrCreateCertificateAuthority", () => {
  it("creates the CA with a private key file and directory closed to others", async () => {
    const dir = caDir();
    const ca = await open(dir);
    expect(readdirSync(dir).sort()).toEqual([CA_CERT_FILE, CA_KEY_FILE]);
    expect(statSync(join(dir, CA_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, CA_CERT_FILE), "utf8")).toBe(ca.certificatePem);
    expect(readFileSync(join(dir, CA_KEY_FILE), "utf8")).toContain("-----BEGIN PRIVATE KEY-----");
  });

  it("reloads the same CA on restart, which still verifies what it issued before", async () => {
    const dir = caDir();
    const first = await open(dir);
    const issued = first.issueClientCertificate({
      clinicId: "clinic-a",
      agentId: "agent-1",
      publicKeyPem: generateTlsKeyPair().publicKeyPem,
      days: 3,
    });
    const again = await open(dir, "A Different Name");
    expect(again.certificatePem).toBe(first.certificatePem);
    expect(again.keyId).toBe(first.keyId);
    const reloadedCa = new X509Certificate(again.certificatePem);
    expect(new X509Certificate(issued.certificate_pem).verify(reloadedCa.publicKey)).toBe(true);
    const later = again.issueClientCertificate({
      clinicId: "clinic-a",
      agentId: "agent-1",
      publicKeyPem: generateTlsKeyPair().publicKeyPem,
      days: 3,
    });
    expect(
      new X509Certificate(later.certificate_pem).checkIssued(new X509Certificate(first.certificatePem)),
    ).toBe(true);
  });

  it("refuses a key file readable by group or others, changing nothing", async () => {
    const dir = caDir();
    await open(dir);
    const keyPath = join(dir, CA_KEY_FILE);
    const before = readFileSync(keyPath, "utf8");
    chmodSync(keyPath, 0o644);
    await expectConfigInvalid(open(dir), /mode 644.*chmod 600/);
    chmodSync(keyPath, 0o640);
    await expectConfigInvalid(open(dir), /mode 640/);
    expect(readFileSync(keyPath, "utf8")).toBe(before);
    expect(statSync(keyPath).mode & 0o777).toBe(0o640);
  });

  it("refuses a certificate without its key", async () => {
    const dir = caDir();
    await open(dir);
    unlinkSync(join(dir, CA_KEY_FILE));
    await expectConfigInvalid(open(dir), /without ca\.key/);
    expect(readdirSync(dir)).toEqual([CA_CERT_FILE]);
  });

  it("gives a key saved without its certificate a fresh certificate, then keeps it", async () => {
    const dir = caDir();
    const first = await open(dir);
    unlinkSync(join(dir, CA_CERT_FILE));
    const recovered = await open(dir);
    expect(recovered.keyId).toBe(first.keyId);
    expect(recovered.certificatePem).not.toBe(first.certificatePem);
    expect((await open(dir)).certificatePem).toBe(recovered.certificatePem);
  });

  it("refuses a certificate that is corrupt or belongs to another key", async () => {
    const dir = caDir();
    await open(dir);
    const certPath = join(dir, CA_CERT_FILE);
    const other = createCertificateAuthority({ clock, commonName: "MSP Store CA" });
    writeFileSync(certPath, other.certificatePem);
    await expectConfigInvalid(open(dir), /not a self-signed CA certificate for the CA key/);
    writeFileSync(certPath, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    await expectConfigInvalid(open(dir), /unreadable/);
  });

  it("refuses an expired CA", async () => {
    const dir = caDir();
    const later = new FakeClock("2026-06-01T00:00:00Z");
    await loadOrCreateCertificateAuthority({ dir, clock: later, commonName: "Short" });
    await later.advance(3651 * 86_400_000);
    await expectConfigInvalid(
      loadOrCreateCertificateAuthority({ dir, clock: later, commonName: "Short" }),
      /expired.*rotate/,
    );
  });

  it("ends with one CA when two processes start at once", async () => {
    const dir = caDir();
    const [a, b, c] = await Promise.all([open(dir), open(dir), open(dir)]);
    expect(b?.keyId).toBe(a?.keyId);
    expect(c?.certificatePem).toBe(a?.certificatePem);
    expect(readdirSync(dir).sort()).toEqual([CA_CERT_FILE, CA_KEY_FILE]);
    expect((await open(dir)).certificatePem).toBe(a?.certificatePem);
  });
});
