/**
 * Bounded capture of a script's output. A runbook script may print gigabytes
 * (a runaway `find`, a chatty restore); the agent must neither buffer that
 * nor lose the ability to prove what was printed. So each stream is hashed as
 * it flows, only the first OUTPUT_EXCERPT_BYTES are kept, and `key=value`
 * evidence lines are picked out line by line with a bounded line buffer.
 */
import { createHash } from "node:crypto";
import { limits, type OutputCapture } from "@msp/shared";

/** Most evidence keys kept per action, so that one script cannot bloat a bundle past MAX_BUNDLE_BYTES. */
export const MAX_EVIDENCE_KEYS = 32;
/** Longest evidence value kept (the bundle schema's limit); longer values are cut. */
export const MAX_EVIDENCE_VALUE_CHARS = 512;
/** Longest stdout line considered for evidence; longer lines are ignored whole. */
const MAX_LINE_BYTES = 4096;
/** An evidence line: a snake_case key, `=`, and the rest of the line as the value. */
const EVIDENCE_LINE = /^([a-z][a-z0-9_]{0,63})=(.*)$/s;

/** Streams one output into an {@link OutputCapture}: full sha256 and size, bounded excerpt. */
export class OutputCollector {
  readonly #hash = createHash("sha256");
  readonly #kept: Buffer[] = [];
  #keptBytes = 0;
  #bytes = 0;

  constructor(private readonly limit: number = limits.OUTPUT_EXCERPT_BYTES) {}

  write(chunk: Buffer): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    // One byte past the limit is kept so the cut can tell whether it splits a character.
    const room = this.limit + 1 - this.#keptBytes;
    if (room > 0) {
      const part = chunk.subarray(0, room);
      this.#kept.push(part);
      this.#keptBytes += part.length;
    }
  }

  finish(): OutputCapture {
    const kept = Buffer.concat(this.#kept);
    const truncated = this.#bytes > this.limit;
    let cut = Math.min(kept.length, this.limit);
    // Back off to the start of a character: continuation bytes look like 10xxxxxx.
    if (truncated) while (cut > 0 && ((kept[cut] as number) & 0xc0) === 0x80) cut--;
    return {
      excerpt: kept.subarray(0, cut).toString("utf8"),
      bytes: this.#bytes,
      sha256: this.#hash.digest("hex"),
      truncated,
    };
  }
}

/** The capture of a stream that never produced anything (message-only and skipped actions). */
export function emptyCapture(): OutputCapture {
  return new OutputCollector().finish();
}

/**
 * Picks `key=value` lines out of stdout as it streams. Later lines win for a
 * repeated key; keys past {@link MAX_EVIDENCE_KEYS} are dropped.
 */
export class EvidenceParser {
  readonly #values = new Map<string, string>();
  #line: Buffer[] = [];
  #lineBytes = 0;
  #overlong = false;

  write(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        this.#append(chunk.subarray(start));
        return;
      }
      this.#append(chunk.subarray(start, nl));
      this.#endLine();
      start = nl + 1;
    }
  }

  /** Flushes a last line without a newline and returns the evidence found. */
  finish(): Record<string, string> {
    if (this.#lineBytes > 0 || this.#overlong) this.#endLine();
    return Object.fromEntries(this.#values);
  }

  #append(part: Buffer): void {
    if (this.#overlong || part.length === 0) return;
    if (this.#lineBytes + part.length > MAX_LINE_BYTES) {
      this.#overlong = true;
      this.#line = [];
      this.#lineBytes = 0;
      return;
    }
    this.#line.push(part);
    this.#lineBytes += part.length;
  }

  #endLine(): void {
    const text = this.#overlong ? "" : Buffer.concat(this.#line).toString("utf8").replace(/\r$/, "");
    this.#line = [];
    this.#lineBytes = 0;
    this.#overlong = false;
    const m = EVIDENCE_LINE.exec(text);
    if (m === null) return;
    const key = m[1] as string;
    if (!this.#values.has(key) && this.#values.size >= MAX_EVIDENCE_KEYS) return;
    this.#values.set(key, cutChars(m[2] as string, MAX_EVIDENCE_VALUE_CHARS));
  }
}

/** Cuts a string to at most `max` UTF-16 units without splitting a surrogate pair. */
export function cutChars(s: string, max: number): string {
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}
