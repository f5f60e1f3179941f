import { describe, expect, it } from "vitest";
import { canonicalBytes, canonicalize } from "./index.js";

/** Reinterprets a 64-bit IEEE 754 pattern (RFC 8785 Appendix B) as a number. */
function fromBits(hex: string): number {
  const buf = Buffer.from(hex, "hex");
  return buf.readDoubleBE(0);
}

describe("RFC 8785 canonical JSON", () => {
  it("matches the RFC's section 3.2.2 example byte for byte", () => {
    // The RFC's input, written as the JSON text it gives.
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("matches the RFC's section 3.2.4 UTF-8 bytes for the example", () => {
    const bytes = canonicalBytes({ string: '€$\u000f\nA\'B"\\\\"/' });
    // "€" is e2 82 ac; control character U+000F is escaped as \u000f in lower case.
    expect(bytes.toString("hex")).toContain("e282ac24");
    expect(bytes.toString("utf8")).toContain("\\u000f\\n");
  });

  it("sorts keys by UTF-16 code units as in section 3.2.3", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  // Appendix B: IEEE 754 bit patterns and their required serialisation.
  const appendixB: [string, string][] = [
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ];
  it.each(appendixB)("serialises IEEE 754 %s as %s", (bits, expected) => {
    expect(canonicalize(fromBits(bits))).toBe(expected);
  });

  it.each([
    ["7fffffffffffffff", "NaN"],
    ["7ff0000000000000", "Infinity"],
  ])("rejects %s (%s) with a clear error", (bits) => {
    expect(() => canonicalize([fromBits(bits)])).toThrow(/non-finite number at \$\[0\]/);
  });

  it("rejects values JSON cannot carry instead of changing them", () => {
    expect(() => canonicalize({ a: [undefined] })).toThrow(/undefined array element at \$\.a\[0\]/);
    expect(() => canonicalize({ a: 1n })).toThrow(/bigint at \$\.a/);
    expect(() => canonicalize(() => 1)).toThrow(/function/);
  });

  it("omits undefined members and keeps nested ordering canonical", () => {
    expect(canonicalize({ b: { d: 1, c: [2, { z: true, a: null }] }, a: undefined })).toBe(
      '{"b":{"c":[2,{"a":null,"z":true}],"d":1}}',
    );
  });

  it("is stable under key insertion order", () => {
    const a = canonicalize({ x: 1, y: { b: 2, a: 1 } });
    const b = canonicalize({ y: { a: 1, b: 2 }, x: 1 });
    expect(a).toBe(b);
  });
});
