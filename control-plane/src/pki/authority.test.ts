import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock, generateTlsKeyPair, IssuedCertificate, isMspError } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { CLOCK_SKEW_MS, createCertificateAuthority, MAX_LEAF_DAYS } from "./authority.js";
import { OID } from "./certificate.js";
import { readCertificate, readSubjectAltName } from "./certificate-reader.js";
import { ipv6Bytes } from "./hostnames.js";
import { identityFromCertificate } from "./identity.js";

const clock = new FakeClock("2026-03-01T10:20:30.456Z");
const ca = createCertificateAuthority({ clock, commonName: "MSP Test CA" });
const caCert = new X509Certificate(ca.certificatePem);
const agentKey = generateTlsKeyPair();
const work = mkdtempSync(join(tmpdir(), "msp-pki-authority-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** openssl checks validity against this time (the fake clock plus an hour), not the machine's. */
const AT_FAKE_NOW = ["-attime", String(Math.floor(clock.now().getTime() / 1000) + 3600)];

let fileCounter = 0;
/** Runs the openssl CLI on PEM inputs written to files; returns stdout. */
function openssl(args: (string | { pem: string })[]): string {
  const argv = args.map((a) => {
    if (typeof a === "string") return a;
    const file = join(work, `in-${++fileCounter}.pem`);
    writeFileSync(file, a.pem);
    return file;
  });
  return execFileSync("openssl", argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function expectError(code: string, f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(isMspError(e) && e.code).toBe(code);
    return;
  }
  throw new Error(`expected MspError ${code}`);
}

const issueClient = (overrides: Partial<Parameters<typeof ca.issueClientCertificate>[0]> = {}) =>
  ca.issueClientCertificate({
    clinicId: "clinic-a",
    agentId: "agent-1",
    publicKeyPem: agentKey.publicKeyPem,
    days: 30,
    ...overrides,
  });

describe("CA certificate", () => {
  it("is a self-signed P-256 CA that node and openssl accept", () => {
    expect(caCert.ca).toBe(true);
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(caCert.checkIssued(caCert)).toBe(true);
    expect(caCert.subject).toBe("CN=MSP Test CA");
    expect(caCert.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const text = openssl(["x509", "-text", "-noout", "-in", { pem: ca.certificatePem }]);
    expect(text).toContain("Version: 3 (0x2)");
    expect(text).toContain("Signature Algorithm: ecdsa-with-SHA256");
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain("X509v3 Subject Key Identifier");
    const ca2 = { pem: ca.certificatePem };
    expect(openssl(["verify", ...AT_FAKE_NOW, "-x509_strict", "-CAfile", ca2, ca2]).trim()).toMatch(/: OK$/);
  });

  it("runs ten years from five minutes before creation, in whole seconds", () => {
    const fields = readCertificate(caCert.raw);
    expect(fields.notBefore.toISOString()).toBe("2026-03-01T10:15:30.000Z");
    expect(fields.notAfter.toISOString()).toBe("2036-02-27T10:20:30.000Z");
    expect(ca.notAfter.getTime()).toBe(fields.notAfter.getTime());
    expect(ca.keyId).toMatch(/^[0-9a-f]{40}$/);
  });
});

describe("client certificates", () => {
  it("binds the key to clinic and agent, and node and openssl verify the chain", () => {
    const issued = issueClient();
    expect(IssuedCertificate.parse(issued)).toEqual(issued);
    const cert = new X509Certificate(issued.certificate_pem);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toBe("O=clinic-a\nCN=agent-1");
    expect(cert.issuer).toBe("CN=MSP Test CA");
    expect(cert.subjectAltName).toBe("URI:urn:msp:clinic:clinic-a:agent:agent-1");
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]);
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(issued.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(cert.publicKey.export({ format: "pem", type: "spki" })).toBe(agentKey.publicKeyPem);
    expect(issued.ca_pem).toBe(ca.certificatePem);

    const text = openssl(["x509", "-text", "-noout", "-in", { pem: issued.certificate_pem }]);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name:\s+URI:urn:msp:clinic:clinic-a:agent:agent-1\n/);
    expect(text).toContain("X509v3 Authority Key Identifier");
    const verified = openssl([
      "verify",
      ...AT_FAKE_NOW,
      "-x509_strict",
      "-purpose",
      "sslclient",
      "-CAfile",
      { pem: ca.certificatePem },
      { pem: issued.certificate_pem },
    ]);
    expect(verified.trim()).toMatch(/: OK$/);
  });

  it("starts five minutes early, ends after `days`, and reports the times it wrote", () => {
    const now = new Date("2026-04-02T03:04:05.678Z");
    const issued = issueClient({ now, days: 7 });
    expect(issued.not_before).toBe("2026-04-02T02:59:05.000Z");
    expect(issued.not_after).toBe("2026-04-09T03:04:05.000Z");
    const fields = readCertificate(new X509Certificate(issued.certificate_pem).raw);
    expect(fields.notBefore.toISOString()).toBe(issued.not_before);
    expect(fields.notAfter.toISOString()).toBe(issued.not_after);
    expect(new Date(issued.not_after).getTime() - new Date(issued.not_before).getTime()).toBe(
      7 * 86_400_000 + CLOCK_SKEW_MS,
    );
    // The default issue time is the CA's clock.
    expect(issueClient().not_before).toBe("2026-03-01T10:15:30.000Z");
  });

  it("links SKI and AKI, carries exactly the profile's extensions and random serials", () => {
    const a = readCertificate(new X509Certificate(issueClient().certificate_pem).raw);
    const b = readCertificate(new X509Certificate(issueClient().certificate_pem).raw);
    expect([...a.extensions.keys()].sort()).toEqual(
      [
        OID.basicConstraints,
        OID.keyUsage,
        OID.extKeyUsage,
        OID.subjectAltName,
        OID.subjectKeyIdentifier,
        OID.authorityKeyIdentifier,
      ].sort(),
    );
    const aki = a.extensions.get(OID.authorityKeyIdentifier)?.value.toString("hex");
    expect(aki).toBe(`3016${"80"}14${ca.keyId}`);
    expect(a.extensions.get(OID.subjectAltName)?.critical).toBe(false);
    expect(a.extensions.get(OID.basicConstraints)?.critical).toBe(true);
    expect(a.serial.equals(b.serial)).toBe(false);
    expect(identityFromCertificate(new X509Certificate(issueClient().certificate_pem))).toMatchObject({
      client_id: "clinic-a",
      agent_id: "agent-1",
    });
  });

  it("never outlives the CA", () => {
    const late = new Date(ca.notAfter.getTime() - 86_400_000);
    expect(issueClient({ now: late, days: 30 }).not_after).toBe(ca.notAfter.toISOString());
    expectError("config_invalid", () => issueClient({ now: new Date(ca.notAfter.getTime() + 60_000) }));
  });

  it("refuses bad input with invalid_input", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({
      format: "pem",
      type: "spki",
    });
    const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey.export({
      format: "pem",
      type: "spki",
    });
    const ed = generateKeyPairSync("ed25519").publicKey.export({ format: "pem", type: "spki" });
    for (const publicKeyPem of [
      String(rsa),
      String(p384),
      String(ed),
      agentKey.privateKeyPem,
      "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
      "not a key",
    ]) {
      expectError("invalid_input", () => issueClient({ publicKeyPem }));
    }
    expectError("invalid_input", () => issueClient({ clinicId: "Clinic A" }));
    expectError("invalid_input", () => issueClient({ agentId: "a:b" }));
    expectError("invalid_input", () => issueClient({ days: 0 }));
    expectError("invalid_input", () => issueClient({ days: 1.5 }));
    expectError("invalid_input", () => issueClient({ days: MAX_LEAF_DAYS + 1 }));
    expectError("invalid_input", () => issueClient({ now: new Date("x") }));
  });
});

describe("server certificates", () => {
  it("covers DNS names and IP literals and generates a key when none is given", () => {
    const server = ca.issueServerCertificate({
      hostnames: ["cp.Example.com", "localhost", "127.0.0.1", "::1"],
      days: 90,
    });
    expect(server.privateKeyPem).toContain("BEGIN PRIVATE KEY");
    const cert = new X509Certificate(server.certificatePem);
    expect(cert.checkIssued(caCert) && cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(server.privateKeyPem ?? ""))).toBe(true);
    expect(cert.subject).toBe("CN=cp.Example.com");
    expect(cert.checkHost("cp.example.com")).toBe("cp.example.com");
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkIP("::1")).toBe("::1");
    expect(cert.checkHost("other.example.com")).toBeUndefined();
    expect(cert.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    const verified = openssl([
      "verify",
      ...AT_FAKE_NOW,
      "-x509_strict",
      "-purpose",
      "sslserver",
      "-CAfile",
      { pem: ca.certificatePem },
      { pem: server.certificatePem },
    ]);
    expect(verified.trim()).toMatch(/: OK$/);
    // A server certificate is not a client certificate.
    expect(identityFromCertificate(cert)).toBeNull();
  });

  it("certifies a supplied key without returning a private key", () => {
    const server = ca.issueServerCertificate({
      hostnames: ["10.0.0.5"],
      days: 1,
      publicKeyPem: agentKey.publicKeyPem,
    });
    expect(server.privateKeyPem).toBeNull();
    expect(
      new X509Certificate(server.certificatePem).checkPrivateKey(createPrivateKey(agentKey.privateKeyPem)),
    ).toBe(true);
  });

  it("makes the SAN critical when the first name is too long for a CN", () => {
    const long = `${"a".repeat(60)}.${"b".repeat(60)}.example`;
    const server = ca.issueServerCertificate({ hostnames: [long], days: 1 });
    const fields = readCertificate(new X509Certificate(server.certificatePem).raw);
    expect(fields.subject.toString("hex")).toBe("3000");
    const san = fields.extensions.get(OID.subjectAltName);
    expect(san?.critical).toBe(true);
    expect(readSubjectAltName(san?.value ?? Buffer.alloc(0))).toEqual([{ kind: "dns", value: long }]);
    expect(new X509Certificate(server.certificatePem).checkHost(long)).toBe(long);
  });

  it("refuses bad host names, duplicates and bad keys", () => {
    for (const hostnames of [
      [],
      ["bad host"],
      ["*.example.com"],
      ["fe80::1%eth0"],
      ["a.b", "A.B"],
      ["1.2.3.4", "1.2.3.4"],
    ]) {
      expectError("invalid_input", () => ca.issueServerCertificate({ hostnames, days: 1 }));
    }
    expectError("invalid_input", () =>
      ca.issueServerCertificate({ hostnames: ["x.example"], days: 1, publicKeyPem: "nope" }),
    );
  });

  it("expands IPv6 literals", () => {
    expect(ipv6Bytes("::1").toString("hex")).toBe(`${"0".repeat(30)}01`);
    expect(ipv6Bytes("::").toString("hex")).toBe("0".repeat(32));
    expect(ipv6Bytes("fe80::1:2").toString("hex")).toBe("fe80000000000000000000000001" + "0002");
    expect(ipv6Bytes("1:2:3:4:5:6:7:8").toString("hex")).toBe("00010002000300040005000600070008");
    expect(ipv6Bytes("::ffff:192.0.2.1").toString("hex")).toBe("00000000000000000000ffffc0000201");
    expect(ipv6Bytes("2001:db8::").toString("hex")).toBe("20010db8000000000000000000000000");
  });
});
