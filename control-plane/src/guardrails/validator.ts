/**
 * The input validator: the first guardrail an incident meets, and the last
 * check on what the planner (possibly an LLM) proposes before a command is
 * signed. It checks an incident against the shared schema and then its
 * details for shell metacharacters, path traversal, control characters,
 * dangerous commands, oversized values and services outside the clinic's
 * allow-list; and it checks proposed parameters against the runbook's
 * declarations, which are the per-runbook parameter allow-list (names, types,
 * ranges, patterns, enum values).
 *
 * Problems are returned as findings (field path, code, reason), never thrown:
 * a refused incident is an expected outcome the caller records and reports.
 * The agent re-checks parameters with its own rules (agent/src/runbook/params.ts)
 * and also checks path roots, which only it can resolve.
 */
import {
  ClinicId,
  describeIssues,
  Incident,
  MspError,
  type ParamValues,
  type RunbookDefinition,
  type RunbookParam,
} from "@msp/shared";
import { type ContentProblem, type ScanPolicy, scanString } from "./patterns.js";

/** What is wrong with a field. */
export type FindingCode =
  | ContentProblem
  | "schema"
  | "oversized"
  | "wrong_type"
  | "unknown_service"
  | "unknown_param"
  | "missing_param"
  | "out_of_range"
  | "pattern_mismatch"
  | "not_allowed"
  | "runbook_mismatch";

/** One problem: where (a dotted path such as `details.service_name` or `params.log_lines`), what, and why. */
export interface Finding {
  path: string;
  code: FindingCode;
  reason: string;
}

/** Outcome of a validation: the checked value (defaults applied), or every finding. */
export type Validated<T> = { ok: true; value: T } | { ok: false; findings: Finding[] };

/** Options of {@link createValidator}. */
export interface ValidatorOptions {
  /**
   * Services runbooks may act on in a clinic (its agents' `service_allowlist`).
   * A clinic with none configured allows none.
   */
  allowedServices: (clinicId: string) => readonly string[];
  /** Detail and parameter names whose value names a service. */
  serviceFields?: readonly string[];
  /** Longest string accepted anywhere; a runbook's `max_length` may be stricter. Default 1024, ParamValues' cap. */
  maxStringChars?: number;
}

/** The validator the incident pipeline and the planner call. */
export interface Validator {
  /** Parses and checks an incident as received. */
  incident(input: unknown): Validated<Incident>;
  /** Checks proposed parameters against `runbook` for a clinic; the value has defaults applied. */
  params(clinicId: string, runbook: RunbookDefinition, params: unknown): Validated<ParamValues>;
  /** Checks a plan: the runbook answers the incident's type, and its parameters pass {@link Validator.params}. */
  plan(incident: Incident, runbook: RunbookDefinition, params: unknown): Validated<ParamValues>;
}

const DEFAULT_SERVICE_FIELDS = ["service", "service_name", "unit"] as const;
const MAX_PATH_CHARS = 1024;
const PATH_CHARS = /^[A-Za-z0-9._@%+=:,/ -]+$/;
const INTEGER_TEXT = /^-?\d{1,15}$/;
const SAFE_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Creates a validator; throws `config_invalid` for bad options. */
export function createValidator(options: ValidatorOptions): Validator {
  if (typeof options.allowedServices !== "function") {
    throw new MspError("config_invalid", "validator needs allowedServices(clinicId)");
  }
  const maxChars = options.maxStringChars ?? 1024;
  if (!Number.isInteger(maxChars) || maxChars < 1 || maxChars > 65_536) {
    throw new MspError("config_invalid", "maxStringChars must be an integer in 1..65536");
  }
  const serviceFields = new Set<string>(options.serviceFields ?? DEFAULT_SERVICE_FIELDS);
  const patterns = new Map<string, RegExp | null>();

  /** Oversize and content findings of one string; `limit` defaults to maxChars. */
  const checkString = (path: string, value: string, policy: ScanPolicy, limit = maxChars): Finding[] => {
    if (value.length > Math.min(limit, maxChars)) {
      // Not scanned further: the length cap is what keeps every pattern check cheap.
      return [
        {
          path,
          code: "oversized",
          reason: `${value.length} characters, more than ${Math.min(limit, maxChars)}`,
        },
      ];
    }
    return scanString(value, policy).map((f) => ({ path, code: f.problem, reason: f.reason }));
  };

  const checkService = (path: string, clinicId: string, value: string): Finding[] => {
    const allowed = options.allowedServices(clinicId);
    return allowed.includes(value)
      ? []
      : [
          {
            path,
            code: "unknown_service",
            reason: `${show(value)} is not in clinic ${clinicId}'s service allow-list`,
          },
        ];
  };

  /** The runbook's anchored pattern, compiled once; null when it does not compile. */
  const patternOf = (source: string): RegExp | null => {
    let re = patterns.get(source);
    if (re === undefined) {
      try {
        re = new RegExp(`^(?:${source})$`, "u");
      } catch {
        re = null;
      }
      patterns.set(source, re);
    }
    return re;
  };

  const checkParam = (
    path: string,
    decl: RunbookParam,
    raw: unknown,
  ): { value: string | number | boolean } | Finding[] => {
    const one = (code: FindingCode, reason: string): Finding[] => [{ path, code, reason }];
    switch (decl.type) {
      case "string": {
        if (typeof raw !== "string") return one("wrong_type", `must be a string, got ${typeName(raw)}`);
        const found = checkString(path, raw, "param", decl.max_length);
        if (found.length > 0) return found;
        const re = patternOf(decl.pattern);
        if (re === null) return one("pattern_mismatch", "the runbook's pattern does not compile");
        if (!re.test(raw)) return one("pattern_mismatch", `${show(raw)} does not match ${decl.pattern}`);
        return { value: raw };
      }
      case "integer": {
        const n = typeof raw === "string" && INTEGER_TEXT.test(raw) ? Number(raw) : raw;
        if (typeof n !== "number" || !Number.isSafeInteger(n)) {
          return one("wrong_type", `must be an integer, got ${typeName(raw)}`);
        }
        if (n < decl.min || n > decl.max)
          return one("out_of_range", `${n} is outside ${decl.min}..${decl.max}`);
        return { value: n };
      }
      case "boolean":
        if (raw === true || raw === "true") return { value: true };
        if (raw === false || raw === "false") return { value: false };
        return one("wrong_type", `must be true or false, got ${typeName(raw)}`);
      case "enum":
        if (typeof raw !== "string") return one("wrong_type", `must be a string, got ${typeName(raw)}`);
        if (!decl.values.includes(raw)) return one("not_allowed", `must be one of ${decl.values.join(", ")}`);
        return { value: raw };
      case "path": {
        if (typeof raw !== "string" || raw === "") return one("wrong_type", "must be a non-empty path");
        const found = checkString(path, raw, "param", MAX_PATH_CHARS);
        if (found.length > 0) return found;
        if (!PATH_CHARS.test(raw))
          return one("shell_metacharacter", "contains a character not allowed in a path");
        if (!raw.startsWith("/")) return one("not_allowed", "must be an absolute path");
        return { value: raw };
      }
    }
  };

  const validator: Validator = {
    incident(input) {
      const findings: Finding[] = [];
      const parsed = Incident.safeParse(input);
      if (!parsed.success) {
        const codes = parsed.error.issues.map((i) => issueCode(i.code));
        describeIssues(parsed.error).forEach((issue, i) => {
          findings.push({ path: issue.path, code: codes[i] ?? "schema", reason: issue.message });
        });
      }
      // Details are scanned even when the schema failed, so a refusal names every problem at once.
      const raw = isRecord(input) ? input : {};
      const clinicId = typeof raw.client_id === "string" ? raw.client_id : "";
      if (isRecord(raw.details)) {
        for (const [key, value] of Object.entries(raw.details)) {
          if (typeof value !== "string") continue;
          const path = `details.${SAFE_NAME.test(key) ? key : show(key)}`;
          const found = checkString(path, value, "text", 512);
          findings.push(...found);
          if (found.length === 0 && serviceFields.has(key))
            findings.push(...checkService(path, clinicId, value));
        }
      }
      const unique = dedupe(findings);
      if (unique.length > 0 || !parsed.success) return { ok: false, findings: unique };
      return { ok: true, value: parsed.data };
    },

    params(clinicId, runbook, params) {
      if (!ClinicId.safeParse(clinicId).success) {
        return {
          ok: false,
          findings: [{ path: "client_id", code: "schema", reason: "must be a clinic id" }],
        };
      }
      if (!isRecord(params)) {
        return {
          ok: false,
          findings: [
            { path: "params", code: "wrong_type", reason: "parameters must be an object of name -> value" },
          ],
        };
      }
      const findings: Finding[] = [];
      const values: ParamValues = {};
      for (const name of Object.keys(params)) {
        if (!Object.hasOwn(runbook.params, name)) {
          findings.push({
            path: `params.${SAFE_NAME.test(name) ? name : show(name)}`,
            code: "unknown_param",
            reason: `${runbook.id} declares no parameter ${show(name)}`,
          });
        }
      }
      for (const [name, decl] of Object.entries(runbook.params)) {
        const path = `params.${name}`;
        const supplied = Object.hasOwn(params, name) && params[name] !== undefined;
        const raw = supplied ? params[name] : decl.default;
        if (raw === undefined) {
          if (decl.required)
            findings.push({ path, code: "missing_param", reason: `${runbook.id} requires ${name}` });
          continue;
        }
        const checked = checkParam(path, decl, raw);
        if (Array.isArray(checked)) {
          findings.push(...checked);
          continue;
        }
        if (serviceFields.has(name) && typeof checked.value === "string") {
          const bad = checkService(path, clinicId, checked.value);
          if (bad.length > 0) {
            findings.push(...bad);
            continue;
          }
        }
        values[name] = checked.value;
      }
      return findings.length === 0 ? { ok: true, value: values } : { ok: false, findings: dedupe(findings) };
    },

    plan(incident, runbook, params) {
      if (!runbook.triggers.some((t) => t.event_type === incident.incident_type)) {
        return {
          ok: false,
          findings: [
            {
              path: "runbook_id",
              code: "runbook_mismatch",
              reason: `${runbook.id} is not triggered by ${incident.incident_type} incidents`,
            },
          ],
        };
      }
      return validator.params(incident.client_id, runbook, params);
    },
  };
  return validator;
}

function issueCode(code: string): FindingCode {
  switch (code) {
    case "too_big":
      return "oversized";
    case "invalid_type":
      return "wrong_type";
    default:
      return "schema";
  }
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const key = `${f.path}\0${f.code}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

/** A caller-supplied string for a message: JSON-quoted (control characters escaped) and cut short. */
function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}
