/**
 * The input validator: the first guardrail an incident meets, and the last
 * check on what the planner (possibly an LLM) proposes before a command is
 * signed. It checks an incident against the shared schema and then its
 * details for shell metacharacters, path traversal, control characters,
 * dangerous commands, oversized values and services outside the clinic's
 * allow-list; and it checks proposed parameters against the runbook's
 * declarations, which are the per-runbook parameter allow-list (names, types,
 * ranges, patterns, enum values). The declaration rules are the shared ones
 * (@msp/shared checkDeclaredParams); the content scan, a path's shape and the
 * service allow-list are the guardrails' own, passed in as its options.
 *
 * Problems are returned as findings (field path, code, reason), never thrown:
 * a refused incident is an expected outcome the caller records and reports.
 * The agent re-checks parameters with its own rules (agent/src/runbook/params.ts)
 * and also checks path roots, which only it can resolve.
 */
import {
  ClinicId,
  checkDeclaredParams,
  describeIssues,
  Incident,
  MspError,
  PATH_PARAM_CHARS,
  type ParamFinding,
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

/** A problem before it is placed at a path. */
type Problem = Omit<Finding, "path">;

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

  /** Oversize and content problems of one string; `limit` defaults to maxChars. */
  const scan = (value: string, policy: ScanPolicy, limit = maxChars): Problem[] => {
    if (value.length > Math.min(limit, maxChars)) {
      // Not scanned further: the length cap is what keeps every pattern check cheap.
      return [
        { code: "oversized", reason: `${value.length} characters, more than ${Math.min(limit, maxChars)}` },
      ];
    }
    return scanString(value, policy).map((f) => ({ code: f.problem, reason: f.reason }));
  };
  const checkString = (path: string, value: string, policy: ScanPolicy, limit = maxChars): Finding[] =>
    scan(value, policy, limit).map((p) => ({ path, ...p }));

  const serviceProblems = (clinicId: string, value: string): Problem[] =>
    options.allowedServices(clinicId).includes(value)
      ? []
      : [
          {
            code: "unknown_service",
            reason: `${show(value)} is not in clinic ${clinicId}'s service allow-list`,
          },
        ];
  const checkService = (path: string, clinicId: string, value: string): Finding[] =>
    serviceProblems(clinicId, value).map((p) => ({ path, ...p }));

  /** A path's shape: the content scan (with its `..` check), its characters, absolute. */
  const checkPath = (raw: string): { value: string } | Problem[] => {
    const found = scan(raw, "param", MAX_PATH_CHARS);
    if (found.length > 0) return found;
    if (!PATH_PARAM_CHARS.test(raw))
      return [{ code: "shell_metacharacter", reason: "contains a character not allowed in a path" }];
    if (!raw.startsWith("/")) return [{ code: "not_allowed", reason: "must be an absolute path" }];
    return { value: raw };
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
      const checked = checkDeclaredParams<FindingCode>(runbook.params, params, {
        acceptText: true,
        defaults: "apply",
        screenString: (value, maxLength) => scan(value, "param", maxLength),
        checkPath,
        accept: (name, value) =>
          serviceFields.has(name) && typeof value === "string" ? serviceProblems(clinicId, value) : [],
      });
      if (checked.ok) return { ok: true, value: checked.values };
      const findings = checked.findings.map((f) => inGuardrailWords(runbook, params, f, maxChars));
      return { ok: false, findings: dedupe(findings) };
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

/**
 * A shared parameter finding as the guardrails report it: a dotted path, the
 * guardrails' code, and their wording (which names the runbook and the type
 * of a wrong value).
 */
function inGuardrailWords(
  runbook: RunbookDefinition,
  given: Record<string, unknown>,
  f: ParamFinding<FindingCode>,
  maxChars: number,
): Finding {
  if (f.param === null) return { path: "params", code: "wrong_type", reason: f.reason };
  const name = f.param;
  const decl = Object.hasOwn(runbook.params, name) ? runbook.params[name] : undefined;
  const path = `params.${name}`;
  if (f.code === "unknown_param") {
    return {
      path: `params.${SAFE_NAME.test(name) ? name : show(name)}`,
      code: "unknown_param",
      reason: `${runbook.id} declares no parameter ${show(name)}`,
    };
  }
  if (f.code === "missing_param")
    return { path, code: "missing_param", reason: `${runbook.id} requires ${name}` };
  // Unreachable: every other finding is about a declared parameter.
  if (decl === undefined) return { path, code: "schema", reason: f.reason };
  const raw = f.fromDefault ? decl.default : given[name];
  switch (f.code) {
    case "wrong_type":
      return { path, code: "wrong_type", reason: wrongTypeReason(decl, raw) };
    case "too_long": {
      const limit = decl.type === "string" ? Math.min(decl.max_length, maxChars) : maxChars;
      const length = typeof raw === "string" ? raw.length : 0;
      return { path, code: "oversized", reason: `${length} characters, more than ${limit}` };
    }
    case "bad_pattern":
      return { path, code: "pattern_mismatch", reason: f.reason };
    case "not_an_object":
      return { path: "params", code: "wrong_type", reason: f.reason };
    default:
      return { path, code: f.code, reason: f.reason };
  }
}

function wrongTypeReason(decl: RunbookParam, raw: unknown): string {
  switch (decl.type) {
    case "string":
    case "enum":
      return `must be a string, got ${typeName(raw)}`;
    case "integer":
      return `must be an integer, got ${typeName(raw)}`;
    case "boolean":
      return `must be true or false, got ${typeName(raw)}`;
    case "path":
      return "must be a non-empty path";
  }
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
