/**
 * The browser's own RFC 8785 canonicalizer, shipped as source text so the
 * bytes the browser signs-checks are computed there, not taken from the
 * server. It follows shared/src/canonical rule for rule (ECMAScript number
 * and string serialisation, members sorted by UTF-16 code units, undefined
 * members dropped, non-JSON values refused); the test beside it runs this very
 * text in a VM and compares its output with shared's for the bundle shapes we
 * store.
 */
export const CANONICAL_JS = `
function mspCanonicalize(value) {
  var out = [];
  (function write(v, path) {
    if (v === null) { out.push("null"); return; }
    switch (typeof v) {
      case "boolean": out.push(v ? "true" : "false"); return;
      case "number":
        if (!isFinite(v)) throw new Error("cannot canonicalize non-finite number at " + path);
        out.push(Object.is(v, -0) ? "0" : String(v));
        return;
      case "string": out.push(JSON.stringify(v)); return;
      case "object": {
        if (Array.isArray(v)) {
          out.push("[");
          for (var i = 0; i < v.length; i++) {
            if (i > 0) out.push(",");
            if (v[i] === undefined) throw new Error("undefined array element at " + path + "[" + i + "]");
            write(v[i], path + "[" + i + "]");
          }
          out.push("]");
          return;
        }
        var keys = Object.keys(v).filter(function (k) { return v[k] !== undefined; }).sort();
        out.push("{");
        for (var j = 0; j < keys.length; j++) {
          if (j > 0) out.push(",");
          out.push(JSON.stringify(keys[j]), ":");
          write(v[keys[j]], path + "." + keys[j]);
        }
        out.push("}");
        return;
      }
      default: throw new Error("cannot canonicalize a " + typeof v + " at " + path);
    }
  })(value, "$");
  return out.join("");
}

/* The bytes a bundle signature covers: the canonical bundle without its signature member. */
function mspBundleSigningText(bundle) {
  var copy = {};
  Object.keys(bundle).forEach(function (k) { if (k !== "signature") copy[k] = bundle[k]; });
  return mspCanonicalize(copy);
}
`;
