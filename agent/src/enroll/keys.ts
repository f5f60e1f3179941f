/**
 * What the agent does with key material beyond what `@msp/shared` does:
 * key generation and proof signing live in `shared/src/tls` (one
 * implementation for the agent that signs and the control plane that checks);
 * here are the certificate checks before anything is trusted, and atomic file
 * writes with the right modes (private keys 0600).
 */
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { MspError, sameTlsPublicKey, type TlsKeyPair, tlsPrivateKeyFromPem } from "@msp/shared";

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

/**
 * Checks an issued certificate before it is written: it parses, it is for our
 * TLS key (a control plane that answers with someone else's certificate is
 * refused), and it was issued by one of the CA certificates in `caPem`.
 */
export function checkIssuedCertificate(certPem: string, caPem: string, tls: TlsKeyPair): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new MspError("invalid_input", "the issued certificate cannot be parsed", { cause: e });
  }
  // Compared against the private key, which is what the certificate must pair with (and what
  // `sameTlsPublicKey` takes as its second argument).
  if (!sameTlsPublicKey(cert.publicKey, tlsPrivateKeyFromPem(tls.privateKeyPem))) {
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
