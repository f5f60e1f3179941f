/**
 * Parsing with readable errors. Every boundary turns input into typed values
 * through one of these, so a bad frame, body, YAML file or config yields the
 * same kind of message: which field, what was wrong.
 */
import type { z } from "zod";
import { type ErrorCode, MspError } from "../errors/index.js";

/** One readable problem: the dotted path into the input and what is wrong there. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Turns zod issues into `{ path, message }` pairs with dotted paths (`steps.2.timeout_seconds`). */
export function describeIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => {
    const path = issue.path.length === 0 ? "(root)" : issue.path.map(String).join(".");
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown field(s): ${issue.keys.join(", ")}`;
    return { path, message };
  });
}

/**
 * Parses `input` with `schema`; on failure throws an `MspError` whose message
 * names the thing parsed and the first problems, and whose details list all of them.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  code: ErrorCode = "invalid_input",
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = describeIssues(result.error);
  const summary = issues
    .slice(0, 5)
    .map((i) => `${i.path}: ${i.message}`)
    .join("; ");
  const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : "";
  throw new MspError(code, `invalid ${what}: ${summary}${more}`, { details: { issues } });
}
