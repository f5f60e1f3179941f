/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * Signatures and hashes in this project are always computed over the canonical
 * form, so that any two implementations (node:crypto here, tweetnacl in the
 * browser, an auditor's own tool) agree byte for byte.
 *
 * JCS reuses ECMAScript's own serialisation for primitives: numbers through
 * Number.prototype.toString (RFC 8785 section 3.2.2.3) and strings through
 * JSON.stringify's escaping (section 3.2.2.2). Object members are sorted by
 * their names as arrays of UTF-16 code units (section 3.2.3), which is what
 * JavaScript's default string comparison does.
 */
import { MspError } from "../errors/index.js";

/** A JSON value as JCS accepts it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Serialises `value` to its RFC 8785 canonical string.
 * Rejects values JSON cannot represent (NaN, Infinity, undefined inside arrays,
 * functions, bigint, symbols) rather than silently changing them.
 * Object properties whose value is `undefined` are omitted, as JSON.stringify does.
 */
export function canonicalize(value: unknown): string {
  const out: string[] = [];
  write(value, out, "$");
  return out.join("");
}

/** The canonical form as UTF-8 bytes, the input to every signature and hash. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), "utf8");
}

function write(value: unknown, out: string[], path: string): void {
  if (value === null) {
    out.push("null");
    return;
  }
  switch (typeof value) {
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "number":
      if (!Number.isFinite(value)) {
        throw new MspError("invalid_input", `cannot canonicalize non-finite number at ${path}`);
      }
      // Number#toString is the ECMAScript algorithm JCS mandates; -0 becomes "0".
      out.push(Object.is(value, -0) ? "0" : String(value));
      return;
    case "string":
      out.push(JSON.stringify(value));
      return;
    case "object": {
      const maybeJson = value as { toJSON?: () => unknown };
      if (typeof maybeJson.toJSON === "function" && !Array.isArray(value)) {
        write(maybeJson.toJSON(), out, path);
        return;
      }
      if (Array.isArray(value)) {
        out.push("[");
        value.forEach((item, i) => {
          if (i > 0) out.push(",");
          if (item === undefined)
            throw new MspError("invalid_input", `undefined array element at ${path}[${i}]`);
          write(item, out, `${path}[${i}]`);
        });
        out.push("]");
        return;
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      out.push("{");
      keys.forEach((k, i) => {
        if (i > 0) out.push(",");
        out.push(JSON.stringify(k), ":");
        write(record[k], out, `${path}.${k}`);
      });
      out.push("}");
      return;
    }
    default:
      throw new MspError("invalid_input", `cannot canonicalize a ${typeof value} at ${path}`);
  }
}
