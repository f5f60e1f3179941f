import { createHash } from "node:crypto";
import { limits } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { cutChars, EvidenceParser, MAX_EVIDENCE_KEYS, OutputCollector } from "./capture.js";

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe("OutputCollector", () => {
  it("keeps short output whole", () => {
    const c = new OutputCollector();
    c.write(Buffer.from("hello\n"));
    expect(c.finish()).toEqual({
      excerpt: "hello\n",
      bytes: 6,
      sha256: sha(Buffer.from("hello\n")),
      truncated: false,
    });
  });

  it("hashes the full stream but keeps only the excerpt, across many chunks", () => {
    const c = new OutputCollector();
    const chunk = Buffer.alloc(1000, "a");
    for (let i = 0; i < 1000; i++) c.write(chunk);
    const out = c.finish();
    expect(out.bytes).toBe(1_000_000);
    expect(out.truncated).toBe(true);
    expect(out.excerpt.length).toBe(limits.OUTPUT_EXCERPT_BYTES);
    expect(out.sha256).toBe(sha(Buffer.alloc(1_000_000, "a")));
  });

  it("cuts the excerpt on a UTF-8 character boundary", () => {
    // "é" is two bytes; put one straddling the limit.
    const body = Buffer.concat([Buffer.alloc(limits.OUTPUT_EXCERPT_BYTES - 1, "x"), Buffer.from("éé")]);
    const c = new OutputCollector();
    c.write(body.subarray(0, 10));
    c.write(body.subarray(10));
    const out = c.finish();
    expect(out.truncated).toBe(true);
    expect(Buffer.byteLength(out.excerpt)).toBe(limits.OUTPUT_EXCERPT_BYTES - 1);
    expect(out.excerpt).not.toContain("\uFFFD");
    expect(out.sha256).toBe(sha(body));
  });
});

describe("EvidenceParser", () => {
  const parse = (...chunks: string[]) => {
    const p = new EvidenceParser();
    for (const c of chunks) p.write(Buffer.from(c));
    return p.finish();
  };

  it("reads key=value lines split across chunks, ignoring other lines", () => {
    expect(parse("noise\nfree_", "pct=12\r\nstatus=ok=yes\nBad=1\n=x\n9key=1\nlast=no newline")).toEqual({
      free_pct: "12",
      status: "ok=yes",
      last: "no newline",
    });
  });

  it("lets a later line win and ignores overlong lines", () => {
    expect(parse("k=1\n", `k=${"x".repeat(10_000)}\n`, "k=2\n")).toEqual({ k: "2" });
  });

  it("caps values and the number of keys", () => {
    const many = Array.from({ length: 50 }, (_, i) => `k${i}=v`).join("\n");
    const out = parse(`${many}\nlong=${"y".repeat(600)}\nk0=again\n`);
    expect(Object.keys(out)).toHaveLength(MAX_EVIDENCE_KEYS);
    expect(out.k0).toBe("again");
    expect(out.long).toBeUndefined();
    expect(parse(`long=${"y".repeat(600)}`).long).toHaveLength(512);
  });

  it("does not split surrogate pairs when cutting", () => {
    expect(cutChars("ab😀", 3)).toBe("ab");
    expect(cutChars("ab😀", 4)).toBe("ab😀");
  });
});
