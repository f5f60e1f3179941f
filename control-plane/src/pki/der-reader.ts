/**
 * A strict, bounds-checked DER reader for the few fields we read back out of
 * certificates: the subject of a stored CA certificate (to use as the issuer
 * of what it signs), the public key of an SPKI, and the SAN extension and
 * validity of a peer certificate. node:crypto's `X509Certificate` only offers
 * the SAN as display text, where a crafted value can imitate a separator, so
 * identity is read from the DER instead.
 *
 * Reading refuses indefinite lengths, non-minimal length octets, high tag
 * numbers and anything running past its parent: input that is not DER is not
 * half-read.
 */
import { MspError } from "@msp/shared";
import { TAG } from "./der.js";

/** One decoded element; `content` is a view into the input. */
export interface Tlv {
  /** The identifier octet (class, constructed bit, tag number). */
  tag: number;
  /** The element's own bytes, header included. */
  encoded: Buffer;
  /** The content octets. */
  content: Buffer;
}

const malformed = (message: string) => new MspError("invalid_input", `malformed DER: ${message}`);

/** Reads the element starting at `offset` and checks it fits in `buf`. */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset >= buf.length) throw malformed("unexpected end of input");
  const tag = buf[offset] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw malformed("high tag numbers are not supported");
  const first = buf[offset + 1];
  if (first === undefined) throw malformed("missing length");
  let length: number;
  let header: number;
  if (first < 0x80) {
    length = first;
    header = 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw malformed("indefinite length is not DER");
    if (count > 4) throw malformed("length too large");
    if (offset + 2 + count > buf.length) throw malformed("truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] ?? 0);
    if (buf[offset + 2] === 0 || length < 0x80) throw malformed("non-minimal length");
    header = 2 + count;
  }
  const end = offset + header + length;
  if (end > buf.length) throw malformed("element runs past its container");
  return { tag, encoded: buf.subarray(offset, end), content: buf.subarray(offset + header, end) };
}

/** Reads exactly one element filling all of `buf`. */
export function readOne(buf: Buffer): Tlv {
  const t = readTlv(buf, 0);
  if (t.encoded.length !== buf.length) throw malformed("trailing bytes after the element");
  return t;
}

/** The elements inside a constructed element, in order. */
export function childrenOf(parent: Tlv): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw malformed(`tag 0x${parent.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  for (let offset = 0; offset < parent.content.length; ) {
    const child = readTlv(parent.content, offset);
    out.push(child);
    offset += child.encoded.length;
  }
  return out;
}

/** Checks an element's tag, so each read says what it expected. */
export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (t === undefined) throw malformed(`missing ${what}`);
  if (t.tag !== tag)
    throw malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** Decodes an OBJECT IDENTIFIER element to dotted form. */
export function readOid(t: Tlv): string {
  expectTag(t, TAG.OID, "OBJECT IDENTIFIER");
  const arcs: bigint[] = [];
  let value = 0n;
  let started = false;
  for (const byte of t.content) {
    if (!started && byte === 0x80) throw malformed("non-minimal OID arc");
    started = true;
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0n;
      started = false;
    }
  }
  if (started || arcs.length === 0) throw malformed("truncated OID");
  const [head = 0n, ...rest] = arcs;
  const first = head < 80n ? head / 40n : 2n;
  return [first, head - first * 40n, ...rest].join(".");
}

/** Decodes a UTCTime (RFC 5280: YY >= 50 is 19YY) or GeneralizedTime of the form RFC 5280 requires. */
export function readTime(t: Tlv): Date {
  const text = t.content.toString("ascii");
  const utc = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
  const generalized = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
  const m =
    t.tag === TAG.UTC_TIME ? utc.exec(text) : t.tag === TAG.GENERALIZED_TIME ? generalized.exec(text) : null;
  if (m === null) throw malformed(`not an RFC 5280 time: ${JSON.stringify(text)}`);
  const yy = Number(m[1]);
  // RFC 5280 4.1.2.5.1: a two-digit year of 50 or more is 19YY, below 50 is 20YY.
  const year = t.tag === TAG.GENERALIZED_TIME ? yy : yy >= 50 ? 1900 + yy : 2000 + yy;
  const [, , mo, d, h, mi, s] = m.map(Number);
  const date = new Date(Date.UTC(2000, (mo ?? 1) - 1, d, h, mi, s));
  // Date.UTC reads years 0-99 as 1900-1999, so the year is set separately.
  date.setUTCFullYear(year);
  if (
    date.getUTCMonth() !== (mo ?? 1) - 1 ||
    date.getUTCDate() !== d ||
    (h ?? 0) > 23 ||
    (mi ?? 0) > 59 ||
    (s ?? 0) > 59
  ) {
    throw malformed(`impossible date ${JSON.stringify(text)}`);
  }
  return date;
}
