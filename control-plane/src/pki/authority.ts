/**
 * The deployment's internal certificate authority. It signs two kinds of
 * leaf: short-lived client certificates that bind an agent's P-256 TLS key to
 * its clinic and agent id (mTLS is how agents authenticate, invariant 4), and
 * the server certificate of the control plane's HTTPS/WSS listener, which
 * agents check against the CA they pinned at enrollment.
 *
 * The CA certificate may only sign leaves (pathLen 0). A leaf never outlives
 * the CA: its end is clamped to the CA's, so a renewal loop keeps working
 * until the CA itself is rotated. Times are whole seconds, because that is
 * all a certificate can hold and the reported times must match it.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, X509Certificate } from "node:crypto";
import {
  AgentId,
  ClinicId,
  type Clock,
  IssuedCertificate,
  MspError,
  parseWith,
  tlsPrivateKeyFromPem,
  tlsPublicKeyFromPem,
} from "@msp/shared";
import {
  authorityKeyIdentifier,
  basicConstraints,
  encodeName,
  extKeyUsage,
  keyIdentifierOf,
  keyUsage,
  MAX_NAME_CHARS,
  OID,
  randomSerial,
  signCertificate,
  subjectAltName,
  subjectKeyIdentifier,
} from "./certificate.js";
import { readCertificate } from "./certificate-reader.js";
import { toPem } from "./der.js";
import { readOne } from "./der-reader.js";
import { generalNamesOf } from "./hostnames.js";
import { agentSanUri } from "./identity.js";

/** How far back a leaf's validity starts, so an agent whose clock runs a little behind accepts it at once. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** CA validity. */
export const CA_VALIDITY_DAYS = 3650;
/** Longest leaf validity accepted (the CA/Browser Forum's ceiling for server certificates). */
export const MAX_LEAF_DAYS = 397;

const DAY_MS = 86_400_000;

/** Options for {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions {
  clock: Clock;
  /** Subject CN of the CA certificate, e.g. "MSP Control Plane CA (acme-msp)". */
  commonName: string;
}

/** Options for {@link CertificateAuthority.issueClientCertificate}. */
export interface ClientCertificateRequest {
  clinicId: string;
  agentId: string;
  /** The agent's TLS key, SPKI PEM, P-256 only. */
  publicKeyPem: string;
  /** Whole days of validity, 1 to {@link MAX_LEAF_DAYS}. */
  days: number;
  /** Issue time; defaults to the CA's clock (tests pass a past time to make expired certificates). */
  now?: Date;
}

/** Options for {@link CertificateAuthority.issueServerCertificate}. */
export interface ServerCertificateRequest {
  /** DNS names and IP literals the listener is reached by. */
  hostnames: readonly string[];
  /** Whole days of validity, 1 to {@link MAX_LEAF_DAYS}. */
  days: number;
  /** An existing P-256 SPKI PEM key to certify; a new key pair is made when absent. */
  publicKeyPem?: string;
  now?: Date;
}

/** A server certificate, with its private key when the CA generated it. */
export interface ServerCertificate {
  certificatePem: string;
  /** PKCS#8 PEM, or null when the caller supplied the public key. */
  privateKeyPem: string | null;
  caPem: string;
  serial: string;
  notBefore: string;
  notAfter: string;
}

/** A loaded CA. It never hands out its private key. */
export interface CertificateAuthority {
  /** The CA certificate, PEM, for trust stores (`ca` in node:tls). */
  readonly certificatePem: string;
  /** Hex subjectKeyIdentifier; every leaf's authorityKeyIdentifier. */
  readonly keyId: string;
  readonly notAfter: Date;
  /** Issues an agent client certificate bound to clinic and agent by SAN URI; `invalid_input` for bad input. */
  issueClientCertificate(request: ClientCertificateRequest): IssuedCertificate;
  /** Issues the listener's server certificate for the given names; `invalid_input` for bad input. */
  issueServerCertificate(request: ServerCertificateRequest): ServerCertificate;
}

/** Drops milliseconds, which a certificate time cannot hold. */
const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

function requireDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_LEAF_DAYS) {
    throw new MspError("invalid_input", `days must be a whole number from 1 to ${MAX_LEAF_DAYS}`);
  }
  return days;
}

function requireDate(now: Date | undefined, clock: Clock): Date {
  const d = now ?? clock.now();
  if (!(d instanceof Date) || !Number.isFinite(d.getTime()))
    throw new MspError("invalid_input", "now must be a valid Date");
  return wholeSeconds(d);
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === "public" ? key : createPublicKey(key)).export({ format: "der", type: "spki" });
}

/** Makes the self-signed CA certificate for `key`. */
function selfSign(key: KeyObject, commonName: string, now: Date): Buffer {
  const name = encodeName([{ type: "commonName", value: commonName }]);
  const spki = spkiOf(key);
  const keyId = keyIdentifierOf(spki);
  const start = wholeSeconds(now);
  return signCertificate(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      notBefore: new Date(start.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(start.getTime() + CA_VALIDITY_DAYS * DAY_MS),
      spki,
      extensions: [
        basicConstraints({ pathLen: 0 }),
        keyUsage(["keyCertSign", "cRLSign"]),
        subjectKeyIdentifier(keyId),
        authorityKeyIdentifier(keyId),
      ],
    },
    key,
  );
}

/** Creates a CA certificate for an existing P-256 key (also used to recover a key saved without its certificate). */
export function selfSignedCaCertificatePem(keyPem: string, commonName: string, now: Date): string {
  if (typeof commonName !== "string" || commonName.length === 0 || commonName.length > MAX_NAME_CHARS) {
    throw new MspError("invalid_input", `CA common name must be 1-${MAX_NAME_CHARS} characters`);
  }
  return toPem(selfSign(tlsPrivateKeyFromPem(keyPem), commonName, now), "CERTIFICATE");
}

/** A fresh CA key (PKCS#8 PEM) and its self-signed certificate (PEM). */
export function newCaKeyAndCertificate(options: CertificateAuthorityOptions): {
  keyPem: string;
  certificatePem: string;
} {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const keyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  return {
    keyPem,
    certificatePem: selfSignedCaCertificatePem(keyPem, options.commonName, options.clock.now()),
  };
}

/** Creates a new CA held only in memory (tests, ephemeral demos); see `loadOrCreateCertificateAuthority` to persist. */
export function createCertificateAuthority(options: CertificateAuthorityOptions): CertificateAuthority {
  const { keyPem, certificatePem } = newCaKeyAndCertificate(options);
  return openCertificateAuthority({ keyPem, certificatePem, clock: options.clock });
}

/**
 * Opens a CA from its key and certificate PEM. Throws `config_invalid` unless
 * the key is P-256, the certificate is a CA certificate that the key signed
 * and belongs to, and it is valid now.
 */
export function openCertificateAuthority(options: {
  keyPem: string;
  certificatePem: string;
  clock: Clock;
}): CertificateAuthority {
  const { clock } = options;
  let key: KeyObject;
  let cert: X509Certificate;
  let fields: ReturnType<typeof readCertificate>;
  try {
    key = tlsPrivateKeyFromPem(options.keyPem);
    cert = new X509Certificate(options.certificatePem);
    fields = readCertificate(cert.raw);
  } catch (e) {
    throw new MspError("config_invalid", "CA key or certificate is unreadable", { cause: e });
  }
  if (!cert.ca || !cert.checkPrivateKey(key) || !cert.verify(cert.publicKey)) {
    throw new MspError("config_invalid", "CA certificate is not a self-signed CA certificate for the CA key");
  }
  const now = clock.now();
  if (now.getTime() > fields.notAfter.getTime()) {
    throw new MspError(
      "config_invalid",
      `CA certificate expired at ${fields.notAfter.toISOString()}; rotate the CA`,
    );
  }
  const caPem = toPem(cert.raw, "CERTIFICATE");
  // Leaves' AKI must equal the CA's own SKI; recompute it only for a CA certificate without one.
  const storedSki = fields.extensions.get(OID.subjectKeyIdentifier);
  const keyId = storedSki === undefined ? keyIdentifierOf(fields.spki) : readOne(storedSki.value).content;
  const issuer = fields.subject;
  const caNotAfter = fields.notAfter;

  /** Signs one leaf; returns DER plus the times and serial actually written. */
  function issue(
    subject: Buffer,
    spki: Buffer,
    days: number,
    nowIn: Date | undefined,
    extensions: Parameters<typeof signCertificate>[0]["extensions"],
  ) {
    const at = requireDate(nowIn, clock);
    const notBefore = new Date(at.getTime() - CLOCK_SKEW_MS);
    const notAfter = new Date(Math.min(at.getTime() + requireDays(days) * DAY_MS, caNotAfter.getTime()));
    // Issuing at or after the CA's end would yield a certificate that is dead on arrival.
    if (notAfter.getTime() <= at.getTime()) {
      throw new MspError(
        "config_invalid",
        `CA certificate expired at ${caNotAfter.toISOString()}; rotate the CA`,
      );
    }
    const serial = randomSerial();
    const all = [...extensions, subjectKeyIdentifier(keyIdentifierOf(spki)), authorityKeyIdentifier(keyId)];
    const der = signCertificate({ serial, issuer, subject, notBefore, notAfter, spki, extensions: all }, key);
    return {
      pem: toPem(der, "CERTIFICATE"),
      serial: serial.toString("hex"),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    };
  }

  return {
    certificatePem: caPem,
    keyId: keyId.toString("hex"),
    notAfter: caNotAfter,
    issueClientCertificate(request) {
      const clinicId = parseWith(ClinicId, request.clinicId, "clinic id");
      const agentId = parseWith(AgentId, request.agentId, "agent id");
      const spki = spkiOf(tlsPublicKeyFromPem(request.publicKeyPem));
      const subject = encodeName([
        { type: "organizationName", value: clinicId },
        { type: "commonName", value: agentId },
      ]);
      const leaf = issue(subject, spki, request.days, request.now, [
        basicConstraints(null),
        keyUsage(["digitalSignature"]),
        extKeyUsage(["clientAuth"]),
        subjectAltName([{ uri: agentSanUri(clinicId, agentId) }], false),
      ]);
      return parseWith(
        IssuedCertificate,
        {
          certificate_pem: leaf.pem,
          ca_pem: caPem,
          serial: leaf.serial,
          not_before: leaf.notBefore,
          not_after: leaf.notAfter,
        },
        "issued certificate",
        "internal",
      );
    },
    issueServerCertificate(request) {
      const names = generalNamesOf(request.hostnames);
      requireDays(request.days);
      let privateKeyPem: string | null = null;
      let spki: Buffer;
      if (request.publicKeyPem === undefined) {
        const pair = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
        privateKeyPem = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
        spki = spkiOf(pair.publicKey);
      } else {
        spki = spkiOf(tlsPublicKeyFromPem(request.publicKeyPem));
      }
      // The first name doubles as CN for tools that still display it; a name too
      // long for CN leaves the subject empty, and then the SAN must be critical.
      const first = request.hostnames[0] ?? "";
      const cnFits = first.length <= MAX_NAME_CHARS;
      const subject = encodeName(cnFits ? [{ type: "commonName", value: first }] : []);
      const leaf = issue(subject, spki, request.days, request.now, [
        basicConstraints(null),
        keyUsage(["digitalSignature"]),
        extKeyUsage(["serverAuth"]),
        subjectAltName(names, !cnFits),
      ]);
      return {
        certificatePem: leaf.pem,
        privateKeyPem,
        caPem,
        serial: leaf.serial,
        notBefore: leaf.notBefore,
        notAfter: leaf.notAfter,
      };
    },
  };
}
