/**
 * The `success_criteria` language: a tiny, hand-written tokenizer and
 * recursive-descent parser over evidence keys. It exists so that runbook
 * criteria can never run code: there is no eval, no Function, no shell, no
 * property access and no calls, only literals, keys, comparisons and logic.
 *
 * Grammar (keywords are lower case):
 *   expr    := and ("or" and)*
 *   and     := not ("and" not)*
 *   not     := "not" not | compare
 *   compare := primary (("==" | "!=" | "<" | "<=" | ">" | ">=") primary)?
 *   primary := STRING | NUMBER | "true" | "false" | KEY | "(" expr ")"
 * STRING is "..." or '...' with \\ and \" / \' escapes; NUMBER is -?digits(.digits)?;
 * KEY is snake_case, optionally dotted (`step_name.key`).
 */

/** A parsed criterion. */
export type Expr =
  | { kind: "literal"; value: string | number | boolean }
  | { kind: "key"; name: string }
  | { kind: "not"; operand: Expr }
  | { kind: "and" | "or"; left: Expr; right: Expr }
  | { kind: "compare"; op: CompareOp; left: Expr; right: Expr };

type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

type Token =
  | { t: "str"; v: string; at: number }
  | { t: "num"; v: number; at: number }
  | { t: "id"; v: string; at: number }
  | { t: "op"; v: CompareOp; at: number }
  | { t: "(" | ")" | "end"; at: number };

/** Parsing stops here so that a hostile expression cannot exhaust the stack. */
const MAX_DEPTH = 32;
const MAX_TOKENS = 128;
const NUMERIC = /^-?\d+(\.\d+)?$/;

/** Thrown only by {@link parseExpression}; the loader turns it into a clear runbook error. */
export class ExpressionSyntaxError extends Error {
  override readonly name = "ExpressionSyntaxError";
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (c === " " || c === "\t") {
      i++;
    } else if (c === "(" || c === ")") {
      out.push({ t: c, at: i++ });
    } else if (c === '"' || c === "'") {
      const start = i++;
      let v = "";
      for (;;) {
        const d = src[i];
        if (d === undefined) throw new ExpressionSyntaxError(`unterminated string starting at ${start}`);
        i++;
        if (d === c) break;
        if (d === "\\") {
          const e = src[i++];
          if (e !== "\\" && e !== '"' && e !== "'") throw new ExpressionSyntaxError(`bad escape at ${i - 2}`);
          v += e;
        } else {
          v += d;
        }
      }
      out.push({ t: "str", v, at: start });
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(src.slice(i));
      if (m === null) throw new ExpressionSyntaxError(`bad number at ${i}`);
      out.push({ t: "num", v: Number(m[0]), at: i });
      i += m[0].length;
    } else if (/[a-z_]/.test(c)) {
      const m = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ t: "id", v: m[0], at: i });
      i += m[0].length;
    } else {
      const two = src.slice(i, i + 2);
      if (two === "==" || two === "!=" || two === "<=" || two === ">=") {
        out.push({ t: "op", v: two, at: i });
        i += 2;
      } else if (c === "<" || c === ">") {
        out.push({ t: "op", v: c, at: i++ });
      } else {
        throw new ExpressionSyntaxError(`unexpected character ${JSON.stringify(c)} at ${i}`);
      }
    }
    if (out.length > MAX_TOKENS) throw new ExpressionSyntaxError(`more than ${MAX_TOKENS} tokens`);
  }
  out.push({ t: "end", at: src.length });
  return out;
}

/** Parses a criterion; throws {@link ExpressionSyntaxError} naming the position of the problem. */
export function parseExpression(src: string): Expr {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos] as Token;
  const isWord = (w: string) => {
    const tok = peek();
    return tok.t === "id" && tok.v === w;
  };
  const describe = (tok: Token) => (tok.t === "end" ? "end of expression" : `token at ${tok.at}`);

  const orExpr = (depth: number): Expr => {
    if (depth > MAX_DEPTH) throw new ExpressionSyntaxError(`nested more than ${MAX_DEPTH} levels`);
    let left = andExpr(depth);
    while (isWord("or")) {
      pos++;
      left = { kind: "or", left, right: andExpr(depth) };
    }
    return left;
  };
  const andExpr = (depth: number): Expr => {
    let left = notExpr(depth);
    while (isWord("and")) {
      pos++;
      left = { kind: "and", left, right: notExpr(depth) };
    }
    return left;
  };
  const notExpr = (depth: number): Expr => {
    if (isWord("not")) {
      pos++;
      if (depth > MAX_DEPTH) throw new ExpressionSyntaxError(`nested more than ${MAX_DEPTH} levels`);
      return { kind: "not", operand: notExpr(depth + 1) };
    }
    const left = primary(depth);
    const tok = peek();
    if (tok.t !== "op") return left;
    pos++;
    return { kind: "compare", op: tok.v, left, right: primary(depth) };
  };
  const primary = (depth: number): Expr => {
    const tok = peek();
    pos++;
    switch (tok.t) {
      case "str":
        return { kind: "literal", value: tok.v };
      case "num":
        return { kind: "literal", value: tok.v };
      case "id":
        if (tok.v === "true" || tok.v === "false") return { kind: "literal", value: tok.v === "true" };
        if (tok.v === "and" || tok.v === "or" || tok.v === "not") {
          throw new ExpressionSyntaxError(`unexpected keyword "${tok.v}" at ${tok.at}`);
        }
        return { kind: "key", name: tok.v };
      case "(": {
        const inner = orExpr(depth + 1);
        const close = peek();
        if (close.t !== ")") throw new ExpressionSyntaxError(`expected ")" but found ${describe(close)}`);
        pos++;
        return inner;
      }
      case ")":
      case "op":
      case "end":
        throw new ExpressionSyntaxError(`expected a value but found ${describe(tok)}`);
    }
  };

  const tree = orExpr(0);
  const rest = peek();
  if (rest.t !== "end") throw new ExpressionSyntaxError(`unexpected ${describe(rest)}`);
  return tree;
}

/** Outcome of evaluating one criterion: met or not, with a detail an auditor can read when it is not. */
export interface CriterionResult {
  met: boolean;
  detail: string | null;
}

class CriterionError extends Error {}
type Value = string | number | boolean;

/**
 * Evaluates a criterion against evidence. Evidence values are the strings
 * scripts printed; a comparison with a number literal reads them as numbers
 * and one with `true`/`false` reads "true"/"false". Any key that is missing,
 * or a value that cannot be read as required, makes the criterion not met
 * (never an exception), with a detail naming the key.
 */
export function evaluateExpression(expr: Expr, evidence: ReadonlyMap<string, string>): CriterionResult {
  const seen = new Map<string, string>();
  const value = (e: Expr): Value => {
    switch (e.kind) {
      case "literal":
        return e.value;
      case "key": {
        const v = evidence.get(e.name);
        if (v === undefined) throw new CriterionError(`unknown evidence key ${e.name}`);
        seen.set(e.name, v);
        return v;
      }
      case "not":
        return !truth(value(e.operand));
      case "and":
        return truth(value(e.left)) && truth(value(e.right));
      case "or":
        return truth(value(e.left)) || truth(value(e.right));
      case "compare":
        return compare(e.op, value(e.left), value(e.right));
    }
  };
  try {
    const met = truth(value(expr));
    const shown = [...seen].map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
    return {
      met,
      detail: met ? null : shown === "" ? "evaluated to false" : `evaluated to false with ${shown}`,
    };
  } catch (e) {
    if (e instanceof CriterionError) return { met: false, detail: e.message };
    throw e;
  }
}

function truth(v: Value): boolean {
  if (typeof v === "boolean") return v;
  if (v === "true") return true;
  if (v === "false") return false;
  throw new CriterionError(`${JSON.stringify(v)} is not a boolean`);
}

function asNumber(v: Value): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && NUMERIC.test(v)) return Number(v);
  throw new CriterionError(`${JSON.stringify(v)} is not a number`);
}

function compare(op: CompareOp, a: Value, b: Value): boolean {
  let x: Value = a;
  let y: Value = b;
  if (typeof a === "number" || typeof b === "number") {
    x = asNumber(a);
    y = asNumber(b);
  } else if (typeof a === "boolean" || typeof b === "boolean") {
    x = truth(a);
    y = truth(b);
  } else if (op !== "==" && op !== "!=") {
    // Ordering two strings is only meaningful for numbers; lexical order would mislead ("9" > "10").
    x = asNumber(a);
    y = asNumber(b);
  }
  switch (op) {
    case "==":
      return x === y;
    case "!=":
      return x !== y;
    case "<":
      return x < y;
    case "<=":
      return x <= y;
    case ">":
      return x > y;
    case ">=":
      return x >= y;
  }
}
