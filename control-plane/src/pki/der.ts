/**
 * A small DER (ASN.1 Distinguished Encoding Rules, X.690) encoder: exactly the
 * types an X.509 v3 certificate needs, each producing its one canonical
 * encoding. We build certificates ourselves instead of adding an X.509
 * library, so every rule that makes an encoding *distinguished* is enforced
 * here: minimal length octets, minimal INTEGER content, BOOLEAN as 0xFF,
 * BIT STRINGs of named bits without trailing zero bits, SET OF members sorted,
 * and RFC 5280's choice between UTCTime and GeneralizedTime.
 *
 * Only low tag numbers (< 31) are supported; certificates need no others.
 */
import { MspError } from "@msp/shared";

/** Universal tags used by certificates. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const invalid = (message: string) => new MspError("invalid_input", `DER: ${message}`);

/**
 * Length octets: short form below 128, otherwise 0x80|n followed by the n
 * big-endian bytes of the length with no leading zero byte (X.690 10.1).
 */
export function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw invalid(`bad length ${length}`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value element with a low-number identifier octet. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xff || (tag & 0x1f) === 0x1f) {
    throw invalid(`unsupported tag ${tag}`);
  }
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

/** BOOLEAN; DER requires 0xFF for TRUE. */
export function boolean(value: boolean): Buffer {
  return tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0x00]));
}

/**
 * Non-negative INTEGER from a bigint or from unsigned big-endian bytes (such
 * as a random serial). Leading zero bytes are dropped and one 0x00 is put back
 * when the high bit is set, because DER INTEGERs are two's complement and
 * minimal: 0x80 would otherwise read as -128.
 */
export function integer(value: bigint | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof value === "bigint") {
    if (value < 0n) throw invalid("negative INTEGER is not supported");
    const hex = value.toString(16);
    bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
  } else {
    bytes = Buffer.from(value);
  }
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  let content = bytes.subarray(start);
  if (content.length === 0) content = Buffer.from([0]);
  if ((content[0] ?? 0) & 0x80) content = Buffer.concat([Buffer.from([0]), content]);
  return tlv(TAG.INTEGER, content);
}

/** BIT STRING of whole bytes, or with `unusedBits` (0-7) padding bits at the end of the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7) {
    throw invalid(`unused bits must be 0-7, got ${unusedBits}`);
  }
  if (bytes.length === 0 && unusedBits !== 0) throw invalid("an empty BIT STRING has no unused bits");
  const last = bytes[bytes.length - 1] ?? 0;
  if ((last & ((1 << unusedBits) - 1)) !== 0) throw invalid("unused bits of a BIT STRING must be zero");
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

/**
 * BIT STRING of named bits (bit 0 is the most significant bit of the first
 * byte), as keyUsage uses. DER (X.690 11.2.2) drops trailing zero bits, so the
 * encoding ends at the highest bit set.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  for (const b of bits) if (!Number.isInteger(b) || b < 0 || b > 63) throw invalid(`bad bit number ${b}`);
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] ?? 0) | (0x80 >> (b & 7));
  return bitString(bytes, 7 - (highest & 7));
}

/** OCTET STRING. */
export function octetString(bytes: Uint8Array): Buffer {
  return tlv(TAG.OCTET_STRING, bytes);
}

/** NULL. */
export function nullValue(): Buffer {
  return tlv(TAG.NULL, Buffer.alloc(0));
}

/** OBJECT IDENTIFIER from dotted form: the first two arcs packed as 40*a+b, every arc base-128. */
export function oid(dotted: string): Buffer {
  if (!/^[0-2](\.(0|[1-9][0-9]*))+$/.test(dotted)) throw invalid(`bad OID ${dotted}`);
  const arcs = dotted.split(".").map(BigInt);
  const [first = 0n, second = 0n, ...rest] = arcs;
  if (first < 2n && second > 39n) throw invalid(`bad OID ${dotted}: second arc must be < 40`);
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** UTF8String; refuses text with unpaired surrogates, which UTF-8 cannot carry. */
export function utf8String(text: string): Buffer {
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) {
    throw invalid("UTF8String with an unpaired surrogate");
  }
  return tlv(TAG.UTF8_STRING, Buffer.from(text, "utf8"));
}

/** PrintableString: only A-Z a-z 0-9 space and ' ( ) + , - . / : = ? (X.680 41.4). */
export function printableString(text: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text))
    throw invalid(`not a PrintableString: ${JSON.stringify(text)}`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(text, "ascii"));
}

/** The content octets of an IA5String (7-bit ASCII), for IMPLICIT tags such as dNSName. */
export function ia5Bytes(text: string): Buffer {
  if ([...text].some((c) => (c.codePointAt(0) ?? 0) > 0x7f)) throw invalid("IA5String must be 7-bit ASCII");
  return Buffer.from(text, "ascii");
}

/** IA5String (7-bit ASCII). */
export function ia5String(text: string): Buffer {
  return tlv(TAG.IA5_STRING, ia5Bytes(text));
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/**
 * A certificate validity time, per RFC 5280 4.1.2.5: UTCTime (YYMMDDHHMMSSZ)
 * for 1950 through 2049, GeneralizedTime (YYYYMMDDHHMMSSZ) from 2050, always
 * UTC with seconds and without fractions. Milliseconds are dropped, so callers
 * truncate first when they report the time elsewhere.
 */
export function time(date: Date): Buffer {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw invalid("invalid date");
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw invalid(`year ${year} is outside 1950-9999`);
  const rest =
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    "Z";
  return year < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(pad(year % 100, 2) + rest, "ascii"))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(pad(year, 4) + rest, "ascii"));
}

/** SEQUENCE (or SEQUENCE OF) of already encoded elements, in the order given. */
export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(items));
}

/** SET OF: DER (X.690 11.6) orders the members by their encodings, compared as octet strings. */
export function setOf(...items: Uint8Array[]): Buffer {
  const sorted = items.map((i) => Buffer.from(i)).sort(Buffer.compare);
  return tlv(TAG.SET, Buffer.concat(sorted));
}

/** `[n] EXPLICIT`: a constructed context tag wrapping one whole element. */
export function explicit(tagNumber: number, inner: Uint8Array): Buffer {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30)
    throw invalid(`bad tag [${tagNumber}]`);
  return tlv(0xa0 | tagNumber, inner);
}

/**
 * `[n] IMPLICIT`: the context tag replaces the underlying type's tag, so the
 * caller passes the content octets; `constructed` for SEQUENCE-like types.
 */
export function implicit(tagNumber: number, content: Uint8Array, constructed = false): Buffer {
  if (!Number.isInteger(tagNumber) || tagNumber < 0 || tagNumber > 30)
    throw invalid(`bad tag [${tagNumber}]`);
  return tlv((constructed ? 0xa0 : 0x80) | tagNumber, content);
}

/** Wraps DER in PEM armour with 64-character lines, as RFC 7468 prescribes. */
export function toPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
