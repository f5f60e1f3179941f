/**
 * X.509 v3 certificates (RFC 5280) built from the DER encoder: the names,
 * extensions and TBSCertificate our CA issues, signed with ECDSA P-256 /
 * SHA-256 by node:crypto. The choices the profile leaves open are made once
 * here: UTF8String names, random 16-byte positive serials, SHA-1 key
 * identifiers (RFC 5280 4.2.1.2 method 1, what OpenSSL computes too) and the
 * ecdsa-with-SHA256 AlgorithmIdentifier with parameters absent (RFC 5758 3.2).
 */
import { createHash, type KeyObject, randomBytes, sign } from "node:crypto";
import { MspError } from "@msp/shared";
import {
  bitString,
  boolean,
  explicit,
  ia5Bytes,
  implicit,
  integer,
  namedBits,
  octetString,
  oid,
  sequence,
  setOf,
  TAG,
  time,
  utf8String,
} from "./der.js";
import { childrenOf, expectTag, readOne } from "./der-reader.js";

/** Object identifiers this profile uses. */
export const OID = {
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** Upper bound of CN and O values (RFC 5280 appendix A.1, ub-common-name / ub-organization-name). */
export const MAX_NAME_CHARS = 64;

const hasControlCharacter = (text: string) =>
  [...text].some((c) => (c.codePointAt(0) ?? 0) < 0x20 || c.codePointAt(0) === 0x7f);

/** One relative distinguished name with a single attribute. */
export interface NameAttribute {
  type: "commonName" | "organizationName";
  value: string;
}

/**
 * An X.501 Name: an RDNSequence with one attribute per RDN, in the order given
 * (most significant first, e.g. O then CN), values as UTF8String as RFC 5280
 * 4.1.2.6 requires of new certificates. An empty list is the empty Name.
 */
export function encodeName(attributes: readonly NameAttribute[]): Buffer {
  return sequence(
    ...attributes.map(({ type, value }) => {
      if (value.length === 0 || value.length > MAX_NAME_CHARS || hasControlCharacter(value)) {
        throw new MspError("invalid_input", `${type} must be 1-${MAX_NAME_CHARS} printable characters`);
      }
      return setOf(sequence(oid(OID[type]), utf8String(value)));
    }),
  );
}

/** One certificate extension, its value already DER-encoded. */
export interface Extension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

function encodeExtension(e: Extension): Buffer {
  // DER omits a field equal to its DEFAULT, so `critical FALSE` is never written.
  return sequence(oid(e.oid), ...(e.critical ? [boolean(true)] : []), octetString(e.value));
}

/** basicConstraints, always critical: a CA with a path length, or an end entity (empty SEQUENCE). */
export function basicConstraints(ca: { pathLen: number } | null): Extension {
  const value = ca === null ? sequence() : sequence(boolean(true), integer(BigInt(ca.pathLen)));
  return { oid: OID.basicConstraints, critical: true, value };
}

/** keyUsage bit numbers (RFC 5280 4.2.1.3). */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** keyUsage, critical, from bit names. */
export function keyUsage(usages: readonly (keyof typeof KEY_USAGE)[]): Extension {
  return { oid: OID.keyUsage, critical: true, value: namedBits(usages.map((u) => KEY_USAGE[u])) };
}

/** extKeyUsage (non-critical, as is usual) restricting a leaf to TLS client or server use. */
export function extKeyUsage(purposes: readonly ("serverAuth" | "clientAuth")[]): Extension {
  return { oid: OID.extKeyUsage, critical: false, value: sequence(...purposes.map((p) => oid(OID[p]))) };
}

/** A subjectAltName entry: URI [6], dNSName [2] or iPAddress [7] (4 or 16 bytes). */
export type GeneralName = { uri: string } | { dns: string } | { ip: Buffer };

function encodeGeneralName(name: GeneralName): Buffer {
  // The three choices are IMPLICIT tags over IA5String / OCTET STRING content.
  if ("uri" in name) return implicit(6, ia5Bytes(name.uri));
  if ("dns" in name) return implicit(2, ia5Bytes(name.dns));
  if (name.ip.length !== 4 && name.ip.length !== 16) {
    throw new MspError("invalid_input", "an iPAddress must be 4 or 16 bytes");
  }
  return implicit(7, name.ip);
}

/**
 * subjectAltName; RFC 5280 4.2.1.6 makes it critical when the subject is
 * empty, because then it is the only identity the certificate carries.
 */
export function subjectAltName(names: readonly GeneralName[], critical: boolean): Extension {
  if (names.length === 0) throw new MspError("invalid_input", "subjectAltName needs at least one name");
  return { oid: OID.subjectAltName, critical, value: sequence(...names.map(encodeGeneralName)) };
}

/** subjectKeyIdentifier: the key id as an OCTET STRING. */
export function subjectKeyIdentifier(keyId: Buffer): Extension {
  return { oid: OID.subjectKeyIdentifier, critical: false, value: octetString(keyId) };
}

/** authorityKeyIdentifier with only `[0] keyIdentifier`, which chain builders match against the issuer's SKI. */
export function authorityKeyIdentifier(keyId: Buffer): Extension {
  return { oid: OID.authorityKeyIdentifier, critical: false, value: sequence(implicit(0, keyId)) };
}

/** The raw subjectPublicKey bits of a DER SubjectPublicKeyInfo (the EC point for our keys). */
export function subjectPublicKeyBits(spki: Buffer): Buffer {
  const [algorithm, key] = childrenOf(expectTag(readOne(spki), TAG.SEQUENCE, "SubjectPublicKeyInfo"));
  expectTag(algorithm, TAG.SEQUENCE, "SubjectPublicKeyInfo algorithm");
  const bits = expectTag(key, TAG.BIT_STRING, "subjectPublicKey");
  if (bits.content[0] !== 0) throw new MspError("invalid_input", "subjectPublicKey has unused bits");
  return bits.content.subarray(1);
}

/** Key identifier, RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifierOf(spki: Buffer): Buffer {
  return createHash("sha1").update(subjectPublicKeyBits(spki)).digest();
}

/**
 * A random serial: 16 bytes (RFC 5280 allows up to 20) with the top bit
 * cleared so it is positive and the next bit set so it never shrinks; its hex
 * is then always 32 digits and equal to what X509Certificate reports.
 */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial;
}

/** Everything that goes into a TBSCertificate. */
export interface CertificateSpec {
  serial: Buffer;
  /** DER Name of the issuer, byte-identical to the issuer certificate's subject. */
  issuer: Buffer;
  /** DER Name of the subject. */
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Buffer;
  extensions: readonly Extension[];
}

const ECDSA_SHA256 = sequence(oid(OID.ecdsaWithSha256));

/** Encodes the TBSCertificate (version 3) of `spec`. */
export function encodeTbsCertificate(spec: CertificateSpec): Buffer {
  if (!(spec.notBefore.getTime() < spec.notAfter.getTime())) {
    throw new MspError("invalid_input", "notBefore must be before notAfter");
  }
  return sequence(
    explicit(0, integer(2n)),
    integer(spec.serial),
    ECDSA_SHA256,
    spec.issuer,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.spki,
    explicit(3, sequence(...spec.extensions.map(encodeExtension))),
  );
}

/** Signs `spec` with the issuer's P-256 private key; returns the DER Certificate. */
export function signCertificate(spec: CertificateSpec, issuerKey: KeyObject): Buffer {
  const tbs = encodeTbsCertificate(spec);
  const signature = sign("sha256", tbs, { key: issuerKey, dsaEncoding: "der" });
  return sequence(tbs, ECDSA_SHA256, bitString(signature));
}
