/**
 * fast-check arbitraries from the JSON Schemas the control plane publishes
 * (`/openapi.json` request bodies, `z.toJSONSchema` of the frame schemas):
 * values the document calls valid, and near misses that break exactly one
 * documented rule (a required field dropped, an unknown field added, a wrong
 * type, a string past its length or outside its pattern, a number out of
 * range, a value outside an enum). A small validator for the same subset of
 * JSON Schema checks both sides, so a "near miss" is known to be invalid by
 * the document before it is sent, and a keyword this module does not
 * understand fails loudly instead of being fuzzed as if it were absent.
 */
import fc from "fast-check";

/** The subset of JSON Schema (2020-12) the published schemas use. */
export interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  default?: unknown;
}

/** Keywords that carry no constraint this module must honour (annotations). */
const ANNOTATIONS = new Set(["$schema", "default", "description", "title", "examples", "format"]);
const KNOWN = new Set([
  ...ANNOTATIONS,
  "type",
  "enum",
  "const",
  "anyOf",
  "oneOf",
  "properties",
  "required",
  "additionalProperties",
  "propertyNames",
  "items",
  "minItems",
  "maxItems",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
]);

/** Throws for a keyword outside the supported subset, naming where it is. */
export function assertSupported(schema: Schema, where = "#"): void {
  for (const key of Object.keys(schema)) {
    if (!KNOWN.has(key))
      throw new Error(`JSON Schema keyword ${key} at ${where} is not supported by the fuzzer`);
  }
  for (const [name, sub] of Object.entries(schema.properties ?? {})) assertSupported(sub, `${where}/${name}`);
  for (const [i, sub] of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].entries())
    assertSupported(sub, `${where}/anyOf/${i}`);
  if (typeof schema.additionalProperties === "object")
    assertSupported(schema.additionalProperties, `${where}/additionalProperties`);
  if (schema.propertyNames) assertSupported(schema.propertyNames, `${where}/propertyNames`);
  if (schema.items) assertSupported(schema.items, `${where}/items`);
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

const typesOf = (s: Schema): string[] | null =>
  s.type === undefined ? null : Array.isArray(s.type) ? s.type : [s.type];

const chars = (s: string) => [...s].length;

/** Whether `v` conforms to `schema` (the supported subset; formats are annotations, as the spec says). */
export function conforms(schema: Schema, v: unknown): boolean {
  if (schema.anyOf && !schema.anyOf.some((s) => conforms(s, v))) return false;
  if (schema.oneOf && schema.oneOf.filter((s) => conforms(s, v)).length !== 1) return false;
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(v)) return false;
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) return false;
  const types = typesOf(schema);
  if (types !== null) {
    const t = jsonType(v);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) return false;
  }
  if (typeof v === "string") {
    if (schema.minLength !== undefined && chars(v) < schema.minLength) return false;
    if (schema.maxLength !== undefined && chars(v) > schema.maxLength) return false;
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(v)) return false;
  }
  if (typeof v === "number") {
    if (schema.minimum !== undefined && v < schema.minimum) return false;
    if (schema.maximum !== undefined && v > schema.maximum) return false;
    if (schema.exclusiveMinimum !== undefined && v <= schema.exclusiveMinimum) return false;
    if (schema.exclusiveMaximum !== undefined && v >= schema.exclusiveMaximum) return false;
  }
  if (Array.isArray(v)) {
    if (schema.minItems !== undefined && v.length < schema.minItems) return false;
    if (schema.maxItems !== undefined && v.length > schema.maxItems) return false;
    if (schema.items && !v.every((x) => conforms(schema.items as Schema, x))) return false;
  }
  if (jsonType(v) === "object") {
    const o = v as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) return false;
    for (const [k, x] of Object.entries(o)) {
      if (schema.propertyNames && !conforms(schema.propertyNames, k)) return false;
      const p = schema.properties?.[k];
      if (p !== undefined) {
        if (!conforms(p, x)) return false;
      } else if (schema.additionalProperties === false) {
        return false;
      } else if (
        typeof schema.additionalProperties === "object" &&
        !conforms(schema.additionalProperties, x)
      ) {
        return false;
      }
    }
  }
  return true;
}

const INT32 = 2 ** 31 - 1;

function stringArb(s: Schema): fc.Arbitrary<string> {
  if (s.format === "date-time") {
    return fc
      .date({
        min: new Date("2000-01-01T00:00:00Z"),
        max: new Date("2099-12-31T23:59:59Z"),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString());
  }
  const base =
    s.pattern !== undefined
      ? fc.stringMatching(new RegExp(s.pattern))
      : fc.string({
          minLength: s.minLength ?? 0,
          maxLength: Math.min(s.maxLength ?? 40, 40),
          unit: "grapheme",
        });
  return base.filter((x) => conforms({ ...s, type: "string" }, x));
}

/** Values the schema calls valid. */
export function validOf(s: Schema): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.anyOf) return fc.oneof(...s.anyOf.map(validOf));
  if (s.oneOf) return fc.oneof(...s.oneOf.map(validOf)).filter((v) => conforms(s, v));
  const types = typesOf(s);
  if (types === null) return fc.jsonValue({ maxDepth: 2 });
  if (types.length > 1) return fc.oneof(...types.map((type) => validOf({ ...s, type })));
  switch (types[0]) {
    case "string":
      return stringArb(s);
    case "integer":
      return fc.integer({
        min: Math.max(s.minimum ?? -INT32, -INT32),
        max: Math.min(s.maximum ?? INT32, INT32),
      });
    case "number":
      return fc
        .double({ noNaN: true, noDefaultInfinity: true, min: s.minimum ?? -1e9, max: s.maximum ?? 1e9 })
        .map((x) => (Object.is(x, -0) ? 0 : x));
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(s.items ? validOf(s.items) : fc.jsonValue({ maxDepth: 1 }), {
        minLength: s.minItems ?? 0,
        maxLength: Math.max(s.minItems ?? 0, Math.min(s.maxItems ?? 4, 4)),
      });
    case "object":
      return objectArb(s);
    default:
      throw new Error(`JSON Schema type ${types[0]} is not supported by the fuzzer`);
  }
}

function objectArb(s: Schema): fc.Arbitrary<Record<string, unknown>> {
  const props = Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, sub]) => [k, validOf(sub)]));
  const fixed = fc.record(props, { requiredKeys: s.required ?? [] });
  if (typeof s.additionalProperties !== "object") return fixed;
  const keys = (
    s.propertyNames ? validOf(s.propertyNames) : fc.string({ minLength: 1, maxLength: 12 })
  ).filter((k): k is string => typeof k === "string" && !(k in (s.properties ?? {})));
  const extra = fc.dictionary(keys, validOf(s.additionalProperties), { maxKeys: 3 });
  return fc.tuple(fixed, extra).map(([a, b]) => ({ ...b, ...a }));
}

/** One change to a value at a path inside it. */
type Mutation = (v: unknown) => unknown;

const SAMPLES: unknown[] = [null, true, 0, -1, 1.5, "", "x", [], {}, [1, "a"], { k: null }];

/** Returns `root` with the value at `path` replaced by `f(old)` (or deleted when `f` returns DELETE). */
const DELETE = Symbol("delete");
function at(path: (string | number)[], f: (old: unknown) => unknown): Mutation {
  return (root) => {
    if (path.length === 0) return f(root);
    const copy = structuredClone(root) as Record<string | number, unknown>;
    let node = copy;
    for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
    const last = path[path.length - 1] as string | number;
    const next = f(node[last]);
    if (next === DELETE) delete node[last];
    else node[last] = next;
    return copy;
  };
}

/** The single-rule violations that apply to `v` (valid under `s`) and the values inside it. */
function mutations(s: Schema, v: unknown, path: (string | number)[] = []): Mutation[] {
  const out: Mutation[] = [];
  // Wrong type: every sample the node's schema refuses.
  for (const sample of SAMPLES) if (!conforms(s, sample)) out.push(at(path, () => sample));
  if (s.enum) out.push(at(path, () => "not-one-of-the-enum"));
  if (typeof v === "string") {
    if (s.maxLength !== undefined) out.push(at(path, () => `${"a".repeat(s.maxLength as number)}!`));
    if (s.minLength !== undefined && s.minLength > 0) out.push(at(path, () => ""));
    if (s.pattern !== undefined) {
      for (const bad of [`${v}\u0000`, ` ${v}`, `${v}'; DROP TABLE clinics;--`, `../${v}`, `${v}\n$(id)`])
        out.push(at(path, () => bad));
    }
  }
  if (typeof v === "number") {
    if (s.minimum !== undefined) out.push(at(path, () => (s.minimum as number) - 1));
    if (s.maximum !== undefined) out.push(at(path, () => (s.maximum as number) + 1));
    if (typeof s.type === "string" && s.type === "integer") out.push(at(path, () => v + 0.5));
  }
  if (Array.isArray(v)) {
    if (s.maxItems !== undefined)
      out.push(
        at(path, (old) => [...(old as unknown[]), ...Array((s.maxItems as number) + 1).fill(v[0] ?? "x")]),
      );
    const items = s.items;
    if (items) for (const [i, x] of v.entries()) out.push(...mutations(items, x, [...path, i]));
  }
  if (jsonType(v) === "object") {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) out.push(at([...path, r], () => DELETE));
    if (s.additionalProperties === false) out.push(at([...path, "unknown_field_xyz"], () => 1));
    for (const [k, x] of Object.entries(o)) {
      const sub =
        s.properties?.[k] ??
        (typeof s.additionalProperties === "object" ? s.additionalProperties : undefined);
      if (sub !== undefined) out.push(...mutations(branch(sub, x), x, [...path, k]));
    }
  }
  return out;
}

/** Inside anyOf/oneOf, recurse into the branch the valid value took. */
function branch(s: Schema, v: unknown): Schema {
  const options = s.anyOf ?? s.oneOf;
  return options?.find((o) => conforms(o, v)) ?? s;
}

/**
 * Near misses: a valid value with one documented rule broken, filtered to those
 * the document itself calls invalid (a wrong type inside an anyOf may still be valid).
 */
export function nearMissOf(s: Schema): fc.Arbitrary<unknown> {
  return validOf(s)
    .chain((v) => {
      const ms = mutations(branch(s, v), v);
      return ms.length === 0 ? fc.constant(v) : fc.constantFrom(...ms).map((m) => m(v));
    })
    .filter((v) => !conforms(s, v));
}
