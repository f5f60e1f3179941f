/**
 * Certificates for the RB-CERT-001 tests, made with the real openssl CLI: a
 * test CA and leaf certificates (P-256, subject with a comma, two SANs)
 * signed by it for a chosen number of days.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";

/** Runs openssl and returns its stdout; throws with its stderr on failure. */
export const openssl = (...args: string[]): string =>
  execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** The certificate's notAfter. */
export const endDate = (cert: string): Date =>
  new Date(openssl("x509", "-in", cert, "-noout", "-enddate").trim().replace("notAfter=", ""));

/** Days until the certificate expires, from now. */
export const daysLeft = (cert: string): number => (endDate(cert).getTime() - Date.now()) / 86_400_000;

/** The certificate's public key in PEM. */
export const pubkey = (cert: string): string => openssl("x509", "-in", cert, "-noout", "-pubkey");

/** Makes `ca.pem` and `ca.key` (ten years) in `dir`. */
export function makeCa(dir: string): { cert: string; key: string } {
  const cert = join(dir, "ca.pem");
  const key = join(dir, "ca.key");
  openssl(
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=Clinic Test CA"],
  );
  return { cert, key };
}

/** A leaf `<name>.pem` / `<name>.key` in `dir` for `<name>.clinic.test`, signed by the CA in `dir`, valid for `days`. */
export function makeLeaf(dir: string, name: string, days: number): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  openssl(
    ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr],
    ...["-subj", `/CN=${name}.clinic.test/O=Clinic, Inc.`],
    ...["-addext", `subjectAltName=DNS:${name}.clinic.test,DNS:${name}-alt.clinic.test`],
  );
  openssl(
    ...["x509", "-req", "-in", csr, "-CA", join(dir, "ca.pem"), "-CAkey", join(dir, "ca.key")],
    ...["-days", String(days), "-copy_extensions", "copyall", "-out", cert],
  );
  return { cert, key };
}
