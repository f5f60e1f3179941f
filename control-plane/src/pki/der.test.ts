import { randomBytes, randomInt } from "node:crypto";
import { isMspError } from "@msp/shared";
import { describe, expect, it } from "vitest";
import {
  bitString,
  boolean,
  encodeLength,
  explicit,
  implicit,
  integer,
  namedBits,
  nullValue,
  octetString,
  oid,
  printableString,
  sequence,
  setOf,
  time,
  tlv,
  toPem,
  utf8String,
} from "./der.js";
import { childrenOf, readOid, readOne, readTime, readTlv } from "./der-reader.js";

const hex = (b: Buffer) => b.toString("hex");
const bytes = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");

function expectInvalid(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(isMspError(e, "invalid_input")).toBe(true);
    return;
  }
  throw new Error("expected an invalid_input MspError");
}

/** Two's complement value of INTEGER content octets. */
function integerValue(content: Buffer): bigint {
  let v = BigInt(`0x${hex(content)}`);
  if ((content[0] ?? 0) & 0x80) v -= 1n << BigInt(content.length * 8);
  return v;
}

describe("lengths", () => {
  it("uses the short form below 128 and the minimal long form from 128", () => {
    expect(hex(encodeLength(0))).toBe("00");
    expect(hex(encodeLength(127))).toBe("7f");
    expect(hex(encodeLength(128))).toBe("8180");
    expect(hex(encodeLength(255))).toBe("81ff");
    expect(hex(encodeLength(256))).toBe("820100");
    expect(hex(encodeLength(65_535))).toBe("82ffff");
    expect(hex(encodeLength(65_536))).toBe("83010000");
    expectInvalid(() => encodeLength(-1));
    expectInvalid(() => encodeLength(1.5));
  });

  it("writes long-form headers on real elements and reads them back", () => {
    for (const [size, header] of [
      [127, "047f"],
      [128, "048180"],
      [200, "0481c8"],
      [255, "0481ff"],
      [256, "04820100"],
      [300, "0482012c"],
    ] as const) {
      const el = octetString(Buffer.alloc(size, 7));
      expect(hex(el.subarray(0, header.length / 2))).toBe(header);
      expect(el.length).toBe(size + header.length / 2);
      expect(readOne(el).content.equals(Buffer.alloc(size, 7))).toBe(true);
    }
  });
});

describe("INTEGER", () => {
  it("prefixes 0x00 when the high bit is set and strips redundant leading zeros", () => {
    expect(hex(integer(0n))).toBe("020100");
    expect(hex(integer(127n))).toBe("02017f");
    expect(hex(integer(128n))).toBe("02020080");
    expect(hex(integer(255n))).toBe("020200ff");
    expect(hex(integer(256n))).toBe("02020100");
    expect(hex(integer(bytes("000001")))).toBe("020101");
    expect(hex(integer(bytes("0080")))).toBe("02020080");
    expect(hex(integer(bytes("ff00")))).toBe("020300ff00");
    expect(hex(integer(Buffer.alloc(0)))).toBe("020100");
    expectInvalid(() => integer(-1n));
  });

  it("encodes edge and random non-negative values minimally and as themselves", () => {
    // fast-check is a dependency of test/ only, so this samples by hand: every
    // power-of-two boundary up to 2^200, plus random byte strings with zero prefixes.
    const values: bigint[] = [];
    for (let bit = 0n; bit <= 200n; bit++) values.push((1n << bit) - 1n, 1n << bit, (1n << bit) + 1n);
    for (let i = 0; i < 500; i++) {
      const raw = Buffer.concat([Buffer.alloc(randomInt(3)), randomBytes(randomInt(1, 33))]);
      values.push(BigInt(`0x${hex(raw)}`));
      const content = readOne(integer(raw)).content;
      expect(integerValue(content)).toBe(BigInt(`0x${hex(raw)}`));
    }
    for (const v of values) {
      const content = readOne(integer(v)).content;
      expect(integerValue(content)).toBe(v);
      // Minimal: a leading 0x00 only when the next byte has its high bit set.
      if (content.length > 1 && content[0] === 0) expect((content[1] ?? 0) & 0x80).toBe(0x80);
    }
  });
});

describe("simple types", () => {
  it("encodes BOOLEAN TRUE as 0xFF and NULL as empty", () => {
    expect(hex(boolean(true))).toBe("0101ff");
    expect(hex(boolean(false))).toBe("010100");
    expect(hex(nullValue())).toBe("0500");
  });

  it("drops trailing zero bits of named-bit BIT STRINGs (keyUsage)", () => {
    expect(hex(namedBits([0]))).toBe("03020780"); // digitalSignature
    expect(hex(namedBits([5, 6]))).toBe("03020106"); // keyCertSign, cRLSign
    expect(hex(namedBits([8]))).toBe("0303070080");
    expect(hex(namedBits([]))).toBe("030100");
    expect(hex(bitString(bytes("abcd")))).toBe("030300abcd");
    expectInvalid(() => bitString(bytes("01"), 1));
    expectInvalid(() => bitString(Buffer.alloc(0), 3));
  });

  it("encodes OIDs and reads them back", () => {
    expect(hex(oid("1.2.840.10045.4.3.2"))).toBe("06082a8648ce3d040302");
    expect(hex(oid("2.5.29.19"))).toBe("0603551d13");
    expect(hex(oid("1.3.6.1.5.5.7.3.2"))).toBe("06082b06010505070302");
    expect(hex(oid("2.999.3"))).toBe("0603883703");
    for (const bad of ["", "1", "3.1", "1.40", "1.2.03", "1..2", "a.b"]) expectInvalid(() => oid(bad));
    for (let i = 0; i < 300; i++) {
      const first = randomInt(3);
      const arcs = [first, randomInt(first < 2 ? 40 : 1000)];
      for (let n = randomInt(7); n > 0; n--) arcs.push(randomInt(2 ** 47));
      const dotted = arcs.join(".");
      expect(readOid(readOne(oid(dotted)))).toBe(dotted);
    }
  });

  it("checks string character sets", () => {
    expect(hex(utf8String("é"))).toBe("0c02c3a9");
    expect(hex(printableString("Ab 1'()+,-./:=?"))).toBe("130f41622031272829" + "2b2c2d2e2f3a3d3f");
    for (const bad of ["a@b", "*", "é", "a_b"]) expectInvalid(() => printableString(bad));
    expectInvalid(() => utf8String("\uD800x"));
  });
});

describe("times (RFC 5280 4.1.2.5)", () => {
  it("uses UTCTime through 2049 and GeneralizedTime from 2050", () => {
    expect(time(new Date("2049-12-31T23:59:59.999Z")).toString("latin1")).toBe("\x17\x0d491231235959Z");
    expect(time(new Date("2050-01-01T00:00:00Z")).toString("latin1")).toBe("\x18\x0f20500101000000Z");
    expect(time(new Date("1950-01-01T00:00:00Z")).toString("latin1")).toBe("\x17\x0d500101000000Z");
    expect(time(new Date("2026-03-04T05:06:07Z")).toString("latin1")).toBe("\x17\x0d260304050607Z");
    expectInvalid(() => time(new Date("1949-12-31T23:59:59Z")));
    expectInvalid(() => time(new Date("nope")));
  });

  it("reads back what it writes, mapping two-digit years to 1950-2049", () => {
    for (const iso of [
      "1950-01-01T00:00:00.000Z",
      "1999-12-31T23:59:59.000Z",
      "2049-06-01T12:00:00.000Z",
      "2050-01-01T00:00:00.000Z",
      "9999-12-31T23:59:59.000Z",
    ]) {
      expect(readTime(readOne(time(new Date(iso)))).toISOString()).toBe(iso);
    }
    expectInvalid(() => readTime(readOne(tlv(0x17, Buffer.from("260230000000Z")))));
    expectInvalid(() => readTime(readOne(tlv(0x17, Buffer.from("2603040506Z")))));
    expectInvalid(() => readTime(readOne(tlv(0x18, Buffer.from("20260304050607.5Z")))));
    expectInvalid(() => readTime(readOne(tlv(0x17, Buffer.from("260304050660Z")))));
  });
});

describe("constructed types", () => {
  it("sorts SET OF members by encoding and keeps SEQUENCE order", () => {
    const a = integer(1n);
    const b = integer(2n);
    expect(hex(setOf(b, a))).toBe("3106020101020102");
    expect(hex(sequence(b, a))).toBe("3006020102020101");
    expect(childrenOf(readOne(sequence(b, a))).map((c) => hex(c.encoded))).toEqual(["020102", "020101"]);
  });

  it("writes explicit tags as constructed wrappers and implicit tags in place of the type", () => {
    expect(hex(explicit(0, integer(2n)))).toBe("a003020102");
    expect(hex(explicit(3, sequence()))).toBe("a3023000");
    expect(hex(implicit(6, Buffer.from("u")))).toBe("860175");
    expect(hex(implicit(1, Buffer.alloc(0), true))).toBe("a100");
    expectInvalid(() => explicit(31, nullValue()));
    expectInvalid(() => tlv(0x1f, Buffer.alloc(0)));
  });

  it("wraps PEM at 64 characters", () => {
    const pem = toPem(Buffer.alloc(100, 1), "CERTIFICATE");
    const lines = pem.trimEnd().split("\n");
    expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
    expect(lines[1]).toHaveLength(64);
    expect(lines.at(-1)).toBe("-----END CERTIFICATE-----");
  });
});

describe("reader", () => {
  it("refuses input that is not DER", () => {
    expectInvalid(() => readTlv(bytes("3080")));
    expectInvalid(() => readTlv(bytes("04810100")));
    expectInvalid(() => readTlv(bytes("0482000100")));
    expectInvalid(() => readTlv(bytes("0405aabb")));
    expectInvalid(() => readTlv(bytes("04")));
    expectInvalid(() => readTlv(bytes("1f0100")));
    expectInvalid(() => readOne(bytes("0500" + "00")));
    expectInvalid(() => childrenOf(readOne(bytes("0403020101"))));
    expectInvalid(() => readOid(readOne(bytes("0602808001"))));
  });
});
