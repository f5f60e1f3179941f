/**
 * Configuration files of the agent and the control plane. Each has a
 * required `version` and rejects unknown fields, so a typo is an error at
 * startup rather than a silently ignored setting. Secrets are given by path
 * (`*_file`), never inline.
 */
import { z } from "zod";
import { HIPAA_RETENTION_YEARS } from "../hipaa/index.js";
import { AgentId, ClinicId, Hostname, PublicKeyB64, RunbookId } from "./common.js";

const AbsPath = z.string().regex(/^\//, "must be an absolute path");
const LogLevel = z.enum(["debug", "info", "warn", "error"]).default("info");

/** Agent configuration (`/etc/msp/agent.yaml`). */
export const AgentConfig = z.strictObject({
  version: z.literal(1),
  agent_id: AgentId,
  client_id: ClinicId,
  hostname: Hostname.optional(),
  control_plane: z.strictObject({
    url: z.string().regex(/^wss:\/\/[^\s]+$/, "must be a wss:// URL"),
    ca_file: AbsPath,
    cert_file: AbsPath,
    key_file: AbsPath,
    /** The control plane's ed25519 key (base64), pinned at enrollment: acks and commands must verify against it. */
    public_key: PublicKeyB64,
  }),
  evidence_key_file: AbsPath,
  state_dir: AbsPath,
  baseline_file: AbsPath,
  /** Runbook library directory; by default the library embedded in the agent executable. */
  runbooks_dir: AbsPath.optional(),
  check_interval_seconds: z.number().int().min(10).max(86_400).default(3600),
  outbox: z
    .strictObject({
      max_bytes: z
        .number()
        .int()
        .min(1 << 20)
        .default(512 << 20),
      send_window: z.number().int().min(1).max(10_000).default(256),
    })
    .default({ max_bytes: 512 << 20, send_window: 256 }),
  /** Runbooks the agent may run by itself while the control plane is unreachable. */
  offline_autonomy: z.array(RunbookId).default([]),
  offline_cooldown_seconds: z.number().int().min(60).default(1800),
  /** Named sets of directories that path parameters must resolve inside. */
  path_roots: z.record(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/), z.array(AbsPath).min(1)).default({}),
  /** Services runbooks may restart, and processes they may stop. */
  service_allowlist: z.array(z.string().regex(/^[A-Za-z0-9@._-]{1,128}$/)).default([]),
  process_allowlist: z.array(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/)).default([]),
  service_manager: z.enum(["systemd", "supervisor"]).default("systemd"),
  log_level: LogLevel,
});
export type AgentConfig = z.infer<typeof AgentConfig>;

const WormConfig = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("local"),
    /** Demo only: files made read-only with a retention index. Not tamper-proof. */
    dir: AbsPath,
  }),
  z.strictObject({
    kind: z.literal("s3"),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
    region: z.string().default("us-east-1"),
    endpoint: z.string().url().optional(),
    force_path_style: z.boolean().default(false),
    access_key_id_file: AbsPath.optional(),
    secret_access_key_file: AbsPath.optional(),
  }),
]);

const PlannerConfig = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("rules") }),
  z.strictObject({
    kind: z.literal("llm"),
    base_url: z.string().url(),
    model: z.string().min(1).max(128),
    api_key_file: AbsPath,
    timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
  }),
]);

/** Control-plane configuration (`/etc/msp/control-plane.yaml`). */
export const ControlPlaneConfig = z.strictObject({
  version: z.literal(1),
  listen: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535).default(8443),
  }),
  public_url: z.string().url(),
  data_dir: AbsPath,
  signing_key_file: AbsPath,
  /** Server certificate and key of the HTTPS/WSS listener (issued by the internal CA at `init`, or your own). */
  tls: z.strictObject({ cert_file: AbsPath, key_file: AbsPath }),
  /** The runbook library (catalog.json + RB-*.yaml); by default the one shipped with the control plane. */
  runbooks_dir: AbsPath.optional(),
  worm: WormConfig,
  retention_years: z.number().int().min(HIPAA_RETENTION_YEARS).max(100).default(HIPAA_RETENTION_YEARS),
  planner: PlannerConfig.default({ kind: "rules" }),
  approval: z
    .strictObject({ confidence_threshold: z.number().min(0).max(1).default(0.8) })
    .default({ confidence_threshold: 0.8 }),
  rate_limits: z
    .strictObject({
      cooldown_seconds: z.number().int().min(0).default(300),
      per_clinic_per_hour: z.number().int().min(1).default(100),
      global_per_hour: z.number().int().min(1).default(1000),
    })
    .default({ cooldown_seconds: 300, per_clinic_per_hour: 100, global_per_hour: 1000 }),
  agent_cert_days: z.number().int().min(1).max(90).default(30),
  log_level: LogLevel,
});
export type ControlPlaneConfig = z.infer<typeof ControlPlaneConfig>;
