import { execFileSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeClock, generateTlsKeyPair, isMspError } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { createCertificateAuthority } from "./authority.js";
import {
  basicConstraints,
  encodeName,
  type GeneralName,
  randomSerial,
  signCertificate,
  subjectAltName,
} from "./certificate.js";
import { agentSanUri, identityFromCertificate } from "./identity.js";

const clock = new FakeClock("2026-05-01T00:00:00Z");
const ca = createCertificateAuthority({ clock, commonName: "Identity Test CA" });
const key = generateTlsKeyPair();

/** A certificate with an arbitrary SAN, signed by a throwaway key: identity reading must not depend on who signed. */
function withSan(names: GeneralName[] | null): X509Certificate {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const name = encodeName([{ type: "commonName", value: "crafted" }]);
  const der = signCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      notBefore: new Date("2026-01-01T00:00:00Z"),
      notAfter: new Date("2026-02-01T00:00:00Z"),
      spki: publicKey.export({ format: "der", type: "spki" }),
      extensions: [basicConstraints(null), ...(names === null ? [] : [subjectAltName(names, false)])],
    },
    privateKey,
  );
  return new X509Certificate(der);
}

describe("identityFromCertificate", () => {
  it("reads clinic, agent, serial and end of validity from our client certificate", () => {
    const issued = ca.issueClientCertificate({
      clinicId: "clinic-b",
      agentId: "fs-01",
      publicKeyPem: key.publicKeyPem,
      days: 14,
    });
    const cert = new X509Certificate(issued.certificate_pem);
    const expected = {
      client_id: "clinic-b",
      agent_id: "fs-01",
      serial: issued.serial,
      not_after: issued.not_after,
    };
    expect(identityFromCertificate(cert)).toEqual(expected);
    // The shape tls.TLSSocket#getPeerCertificate() returns works the same.
    expect(identityFromCertificate({ raw: cert.raw })).toEqual(expected);
  });

  it("names nobody without a certificate or with an unreadable one", () => {
    expect(identityFromCertificate({})).toBeNull();
    expect(identityFromCertificate(null)).toBeNull();
    expect(identityFromCertificate(undefined)).toBeNull();
    expect(identityFromCertificate({ raw: Buffer.from("3003020101", "hex") })).toBeNull();
    expect(identityFromCertificate({ raw: Buffer.from("not der") })).toBeNull();
    expect(identityFromCertificate(withSan(null))).toBeNull();
  });

  it("requires exactly one URI, of our form, with slug ids", () => {
    const uri = (u: string): GeneralName => ({ uri: u });
    expect(identityFromCertificate(withSan([uri("urn:msp:clinic:aa:agent:bb")]))).toMatchObject({
      client_id: "aa",
      agent_id: "bb",
    });
    // Other name kinds beside the one URI do not matter.
    expect(
      identityFromCertificate(withSan([{ dns: "x.example" }, uri("urn:msp:clinic:aa:agent:bb")])),
    ).not.toBeNull();
    for (const names of [
      [uri("urn:msp:clinic:aa:agent:bb"), uri("urn:msp:clinic:aa:agent:cc")],
      [uri("urn:msp:clinic:aa:agent:bb"), uri("urn:msp:clinic:aa:agent:bb")],
      [uri("urn:msp:clinic:AA:agent:bb")],
      [uri("urn:msp:clinic:aa:agent:bb:extra")],
      [uri("urn:msp:clinic:aa:agent:")],
      [uri("urn:msp:clinic:a:agent:bb")],
      [uri("URI:urn:msp:clinic:aa:agent:bb")],
      [uri("urn:msp:clinic:aa:agent:bb ")],
      [uri("https://example.com/urn:msp:clinic:aa:agent:bb")],
      [{ dns: "urn:msp:clinic:aa:agent:bb" }],
    ]) {
      expect(identityFromCertificate(withSan(names)), JSON.stringify(names)).toBeNull();
    }
  });

  it("is not fooled by a name that imitates the display separator", () => {
    const cert = withSan([{ dns: "x, URI:urn:msp:clinic:aa:agent:bb, y" }]);
    // node's display text shows something a ", " split would misread as a URI entry.
    expect(cert.subjectAltName).toContain("URI:urn:msp:clinic:aa:agent:bb");
    expect(identityFromCertificate(cert)).toBeNull();
  });

  it("reads certificates made by openssl the way test/support/pki.ts makes them", () => {
    const dir = mkdtempSync(join(tmpdir(), "msp-pki-identity-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-keyout",
          "k.pem",
          "-out",
          "c.pem",
          "-days",
          "2",
          "-subj",
          "/O=clinic-c/CN=agent-3",
          "-addext",
          `subjectAltName=URI:${agentSanUri("clinic-c", "agent-3")}`,
        ],
        { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
      );
      const cert = new X509Certificate(readFileSync(join(dir, "c.pem")));
      const identity = identityFromCertificate(cert);
      expect(identity).toMatchObject({ client_id: "clinic-c", agent_id: "agent-3" });
      expect(identity?.serial).toBe(cert.serialNumber.toLowerCase());
      expect(new Date(identity?.not_after ?? "").getTime()).toBe(new Date(cert.validTo).getTime());
      expect(createPublicKey(readFileSync(join(dir, "k.pem"))).asymmetricKeyType).toBe("ec");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("builds SAN URIs only from slug ids", () => {
    expect(agentSanUri("clinic-a", "agent-1")).toBe("urn:msp:clinic:clinic-a:agent:agent-1");
    for (const [c, a] of [
      ["clinic:a", "agent-1"],
      ["clinic-a", "Agent"],
      ["", "agent-1"],
    ] as const) {
      try {
        agentSanUri(c, a);
        throw new Error("expected a refusal");
      } catch (e) {
        expect(isMspError(e, "invalid_input")).toBe(true);
      }
    }
  });
});
