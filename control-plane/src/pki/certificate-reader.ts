/**
 * Reads the fields we need back out of a DER certificate: the subject Name
 * bytes (a stored CA's subject becomes the issuer of what it signs, and must
 * match byte for byte), validity, serial, public key and extensions, and the
 * subjectAltName entries by kind. Signature checking is not done here; that
 * belongs to node:crypto and the TLS stack.
 */
import { MspError } from "@msp/shared";
import { TAG } from "./der.js";
import { childrenOf, expectTag, readOid, readOne, readTime, type Tlv } from "./der-reader.js";

/** One extension as found in a certificate. */
export interface ExtensionRead {
  critical: boolean;
  /** The extnValue content: the extension's own DER encoding. */
  value: Buffer;
}

/** The TBSCertificate fields a reader needs. */
export interface CertificateFields {
  /** INTEGER content octets of the serial (may carry a leading 0x00). */
  serial: Buffer;
  /** Encoded issuer Name. */
  issuer: Buffer;
  /** Encoded subject Name. */
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Encoded SubjectPublicKeyInfo. */
  spki: Buffer;
  /** Extensions by OID. */
  extensions: Map<string, ExtensionRead>;
}

const malformed = (message: string) => new MspError("invalid_input", `malformed certificate: ${message}`);

function readExtensions(wrapper: Tlv): Map<string, ExtensionRead> {
  const out = new Map<string, ExtensionRead>();
  const [list, ...extra] = childrenOf(wrapper);
  if (extra.length > 0) throw malformed("[3] holds more than one element");
  for (const ext of childrenOf(expectTag(list, TAG.SEQUENCE, "Extensions"))) {
    const parts = childrenOf(expectTag(ext, TAG.SEQUENCE, "Extension"));
    const id = readOid(expectTag(parts[0], TAG.OID, "extnID"));
    let critical = false;
    let i = 1;
    if (parts[1]?.tag === TAG.BOOLEAN) {
      critical = parts[1].content.length === 1 && parts[1].content[0] === 0xff;
      i = 2;
    }
    const value = expectTag(parts[i], TAG.OCTET_STRING, "extnValue");
    if (parts.length !== i + 1) throw malformed(`extension ${id} has extra fields`);
    // RFC 5280 4.2: a certificate MUST NOT include more than one instance of an extension.
    if (out.has(id)) throw malformed(`extension ${id} appears twice`);
    out.set(id, { critical, value: value.content });
  }
  return out;
}

/** Parses a DER certificate's TBSCertificate fields; throws `invalid_input` for anything malformed. */
export function readCertificate(der: Buffer): CertificateFields {
  const [tbs, algorithm, signature, ...extra] = childrenOf(
    expectTag(readOne(der), TAG.SEQUENCE, "Certificate"),
  );
  expectTag(algorithm, TAG.SEQUENCE, "signatureAlgorithm");
  expectTag(signature, TAG.BIT_STRING, "signatureValue");
  if (extra.length > 0) throw malformed("trailing fields after the signature");
  const fields = childrenOf(expectTag(tbs, TAG.SEQUENCE, "TBSCertificate"));
  let i = fields[0]?.tag === 0xa0 ? 1 : 0;
  const next = () => fields[i++];
  const serial = expectTag(next(), TAG.INTEGER, "serialNumber").content;
  expectTag(next(), TAG.SEQUENCE, "signature");
  const issuer = expectTag(next(), TAG.SEQUENCE, "issuer").encoded;
  const [notBefore, notAfter, ...extraTimes] = childrenOf(expectTag(next(), TAG.SEQUENCE, "validity"));
  if (notBefore === undefined || notAfter === undefined || extraTimes.length > 0) {
    throw malformed("validity must hold exactly two times");
  }
  const subject = expectTag(next(), TAG.SEQUENCE, "subject").encoded;
  const spki = expectTag(next(), TAG.SEQUENCE, "subjectPublicKeyInfo").encoded;
  let extensions = new Map<string, ExtensionRead>();
  for (let f = next(); f !== undefined; f = next()) {
    // issuerUniqueID [1] and subjectUniqueID [2] are skipped; [3] holds the extensions.
    if (f.tag === 0xa3) extensions = readExtensions(f);
    else if (f.tag !== 0x81 && f.tag !== 0x82)
      throw malformed(`unexpected field tag 0x${f.tag.toString(16)}`);
  }
  return {
    serial,
    issuer,
    subject,
    notBefore: readTime(notBefore),
    notAfter: readTime(notAfter),
    spki,
    extensions,
  };
}

/** One subjectAltName entry; kinds we never issue are reported as `other` so a caller can refuse them. */
export type SanEntry =
  | { kind: "uri"; value: string }
  | { kind: "dns"; value: string }
  | { kind: "ip"; value: Buffer }
  | { kind: "other"; tag: number };

/** Decodes a subjectAltName extension value (GeneralNames). */
export function readSubjectAltName(value: Buffer): SanEntry[] {
  return childrenOf(expectTag(readOne(value), TAG.SEQUENCE, "GeneralNames")).map((name): SanEntry => {
    switch (name.tag) {
      case 0x86:
        return { kind: "uri", value: name.content.toString("latin1") };
      case 0x82:
        return { kind: "dns", value: name.content.toString("latin1") };
      case 0x87:
        return { kind: "ip", value: Buffer.from(name.content) };
      default:
        return { kind: "other", tag: name.tag };
    }
  });
}
