/**
 * Runbook definitions: the seeds' YAML format, made strict. A runbook is the
 * only thing the system can execute; the planner may name its id, nothing more.
 */
import { z } from "zod";
import { MAX_RUNBOOK_STEPS } from "../limits/index.js";
import { Citation, EventType, RunbookId, Severity, Text } from "./common.js";

const ParamName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, "parameter names are snake_case, up to 32 chars");
const ScriptPath = z.string().regex(/^scripts\/[a-z0-9][a-z0-9_-]{0,62}\.sh$/, "must be scripts/<name>.sh");
const SnakeName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "must be snake_case");
/** Name of a configured set of allowed directories (agent config `path_roots`). */
const RootName = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/);

const paramBase = {
  description: Text.optional(),
  required: z.boolean().default(true),
};

/**
 * A declared runbook parameter. Every parameter a caller passes must match its
 * declaration before any step runs; undeclared parameters are refused.
 */
export const RunbookParam = z.discriminatedUnion("type", [
  z.strictObject({
    ...paramBase,
    type: z.literal("string"),
    /** Anchored regular expression the whole value must match. */
    pattern: z.string().min(1).max(256),
    max_length: z.number().int().min(1).max(1024).default(128),
    default: z.string().optional(),
  }),
  z.strictObject({
    ...paramBase,
    type: z.literal("integer"),
    min: z.number().int(),
    max: z.number().int(),
    default: z.number().int().optional(),
  }),
  z.strictObject({ ...paramBase, type: z.literal("boolean"), default: z.boolean().optional() }),
  z.strictObject({
    ...paramBase,
    type: z.literal("enum"),
    values: z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/)).min(1),
    default: z.string().optional(),
  }),
  z.strictObject({
    ...paramBase,
    type: z.literal("path"),
    /** The configured root set the path must resolve inside (e.g. `backup_targets`). */
    root: RootName,
    default: z.string().optional(),
  }),
]);
export type RunbookParam = z.infer<typeof RunbookParam>;

/** One step: a pinned script run with a timeout, optionally retried. */
export const RunbookStep = z.strictObject({
  step: z.number().int().min(1),
  name: SnakeName,
  description: Text.optional(),
  script: ScriptPath,
  timeout_seconds: z.number().int().min(1).max(3600),
  retry_on_failure: z.boolean().default(false),
  /** Attempts in all when retry_on_failure is set (first try included). */
  max_attempts: z.number().int().min(1).max(5).default(3),
  /** A failing critical step stops the run and triggers rollback; a non-critical one is recorded and skipped past. */
  critical: z.boolean().default(true),
  /** Evidence keys the script must print (key=value) for the step to count as ok. */
  evidence_required: z.array(SnakeName).default([]),
});
export type RunbookStep = z.infer<typeof RunbookStep>;

/** A rollback action, run in order when a critical step fails. */
export const RollbackAction = z
  .strictObject({
    action: SnakeName,
    script: ScriptPath.optional(),
    message: Text.optional(),
    timeout_seconds: z.number().int().min(1).max(3600).default(60),
  })
  .refine(
    (a) => a.script !== undefined || a.message !== undefined,
    "a rollback action needs a script or a message",
  );
export type RollbackAction = z.infer<typeof RollbackAction>;

/** A check run after the steps; the run succeeds only if each exits as expected. */
export const PostValidation = z.strictObject({
  name: SnakeName,
  script: ScriptPath,
  expected_exit_code: z.number().int().min(0).max(255).default(0),
  timeout_seconds: z.number().int().min(1).max(600).default(30),
});
export type PostValidation = z.infer<typeof PostValidation>;

/** A runbook definition, as loaded from `runbooks/RB-*.yaml`. */
export const RunbookDefinition = z
  .strictObject({
    id: RunbookId,
    name: z.string().min(1).max(128),
    version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, "must be a version like 1.0 or 1.0.2"),
    description: Text,
    triggers: z.array(z.strictObject({ event_type: EventType })).min(1),
    severity: z.array(Severity).min(1),
    applicable_to: z.array(z.enum(["linux_server", "windows_server", "nixos_server"])).min(1),
    hipaa_controls: z.array(Citation).min(1),
    sla_target_seconds: z.number().int().min(1),
    params: z.record(ParamName, RunbookParam).default({}),
    steps: z.array(RunbookStep).min(1).max(MAX_RUNBOOK_STEPS),
    rollback: z.array(RollbackAction).default([]),
    evidence_artifacts: z
      .strictObject({ required: z.array(SnakeName).default([]), optional: z.array(SnakeName).default([]) })
      .default({ required: [], optional: [] }),
    /** Expressions over evidence keys, e.g. `backup_status == "success"`; evaluated without eval. */
    success_criteria: z.array(z.string().min(1).max(256)).default([]),
    post_execution_validation: z.array(PostValidation).default([]),
  })
  .superRefine((rb, ctx) => {
    rb.steps.forEach((s, i) => {
      if (s.step !== i + 1) {
        ctx.addIssue({
          code: "custom",
          path: ["steps", i, "step"],
          message: `steps must be numbered 1..n in order; expected ${i + 1}`,
        });
      }
    });
  });
export type RunbookDefinition = z.infer<typeof RunbookDefinition>;

/** One pinned file of the catalog. */
export const CatalogEntry = z.strictObject({
  id: RunbookId,
  version: z.string(),
  file: z.string().regex(/^RB-[A-Z]+-\d{3}\.yaml$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  scripts: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)),
});

/** `runbooks/catalog.json`: every runbook and script pinned by sha256. */
export const RunbookCatalog = z.strictObject({
  version: z.literal(1),
  runbooks: z.array(CatalogEntry),
});
export type RunbookCatalog = z.infer<typeof RunbookCatalog>;
