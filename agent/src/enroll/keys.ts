/**
 * Key material for enrollment and renewal: the P-256 TLS key, the proofs of
 * possession both keys sign (over the shared canonical JSON, so the control
 * plane verifies exactly the bytes signed), certificate checks, and atomic
 * file writes with the right modes.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { canonicalBytes, type JsonValue, MspError, type SigningKey, signBytes } from "@msp/shared";

/** A fresh TLS key: PKCS#8 PEM private key (written 0600) and SPKI PEM public key (sent). */
export interface TlsKey {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** Generates a P-256 key pair, the curve the control plane's CA issues for. */
export function generateTlsKey(): TlsKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

/** ECDSA-SHA256 (DER, base64) by the TLS key over the canonical form of `body`. */
export function tlsProof(tls: TlsKey, body: JsonValue): string {
  return sign("sha256", canonicalBytes(body), tls.privateKeyPem).toString("base64");
}

/** ed25519 (base64) by the evidence key over the canonical form of `body`. */
export function evidenceProof(key: SigningKey, body: JsonValue): string {
  return signBytes(key, canonicalBytes(body)).toString("base64");
}

/** Validity window of a PEM certificate. */
export function certificateWindow(pem: string | Buffer): { notBefore: Date; notAfter: Date } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (e) {
    throw new MspError("config_invalid", "the agent certificate cannot be parsed", { cause: e });
  }
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

/** True once less than a third of the certificate's lifetime remains (the daemon then renews). */
export function needsRenewal(pem: string | Buffer, now: Date): boolean {
  const { notBefore, notAfter } = certificateWindow(pem);
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return notAfter.getTime() - now.getTime() < lifetime / 3;
}

function keyEquals(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: "spki", format: "der" }).equals(b.export({ type: "spki", format: "der" }));
}

/**
 * Checks an issued certificate before it is written: it parses, it is for our
 * TLS key (a control plane that answers with someone else's certificate is
 * refused), and it was issued by one of the CA certificates in `caPem`.
 */
export function checkIssuedCertificate(certPem: string, caPem: string, tls: TlsKey): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new MspError("invalid_input", "the issued certificate cannot be parsed", { cause: e });
  }
  if (!keyEquals(cert.publicKey, createPublicKey(tls.publicKeyPem))) {
    throw new MspError("invalid_input", "the issued certificate is not for the TLS key this agent sent");
  }
  const cas = splitPem(caPem).flatMap((pem) => {
    try {
      return [new X509Certificate(pem)];
    } catch {
      return [];
    }
  });
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
    throw new MspError("invalid_input", "the issued certificate is not signed by the CA in the answer");
  }
}

/** Every PEM certificate block in a bundle of them. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** Writes a file through a temporary name and rename, so a crash leaves the old file or the new one. */
export function writeFileAtomic(path: string, data: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data, { mode, flag: "w" });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new MspError("unavailable", `cannot write ${path}`, { cause: e });
  }
}
