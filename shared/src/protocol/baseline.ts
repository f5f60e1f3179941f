/**
 * Drift baselines: the versioned document that says what a compliant clinic
 * server looks like (`hipaa-v1`). The agent runs one check per entry and
 * reports each as a `DriftResult`; a failing check raises an incident with the
 * check's `event_type`. Approved deviations are data here too, so an auditor
 * reads every accepted risk, its owner and its expiry next to the checks.
 *
 * Like every config file it has a required `version` and rejects unknown
 * fields, so a misspelt expectation is an error at load time, not a check
 * that silently never fails.
 */
import { z } from "zod";
import { MAX_DRIFT_RESULTS } from "../limits/index.js";
import { Citation, EventType, Severity, Text } from "./common.js";

const AbsPath = z.string().regex(/^\/[^\0]*$/, "must be an absolute path");
/** Same shape as `DriftResult.check_id`, so every check id can appear in a bundle. */
const CheckId = z.string().regex(/^[a-z0-9_.-]{1,64}$/, "must be 1-64 chars of a-z, 0-9, _ . -");
/** Id of an allowed-drift item or exception; bounded like `DriftResult.exception.id`. */
const ExceptionId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 chars of A-Z, a-z, 0-9, _ . -");
const Port = z.number().int().min(1).max(65_535);
const SshAlgorithm = z.string().regex(/^[A-Za-z0-9@._+-]{1,128}$/, "must be an OpenSSH algorithm name");
/** Never starts with `-`, so a name can not be read as an option by systemctl or supervisorctl. */
const ServiceName = z
  .string()
  .regex(/^[A-Za-z0-9@:_.][A-Za-z0-9@:._-]{0,127}$/, "must be a unit or supervisor program name");
/** A shell-free glob for one path component: letters, digits, `* ? [ ] . _ -`. */
const FileGlob = z.string().regex(/^[A-Za-z0-9*?[\]._-]{1,128}$/, "must be a simple file name glob");
const Percent = z.number().min(0).max(100);
const Person = z.string().min(1).max(128);

/**
 * What a failing check raises unless the baseline says otherwise. Kept here so
 * the baseline file, the agent and the planner's runbook triggers agree.
 */
export const CHECK_EVENT_TYPES = {
  firewall: "firewall_drift",
  ssh_config: "ssh_config_drift",
  time_sync: "time_drift",
  auditd: "audit_drift",
  disk_encryption: "encryption_drift",
  services: "service_crash",
  backup_freshness: "backup_failure",
  cert_expiry: "cert_expiry",
  disk_usage: "disk_full",
  cpu_load: "high_cpu",
} as const satisfies Record<string, EventType>;

/** Fields every check carries: identity, why it exists (citation) and what a failure raises. */
const base = <T extends keyof typeof CHECK_EVENT_TYPES>(type: T) => ({
  type: z.literal(type),
  id: CheckId,
  description: Text.optional(),
  citation: z.array(Citation).min(1),
  severity: Severity,
  event_type: EventType.default(CHECK_EVENT_TYPES[type]),
});

const FirewallCheck = z.strictObject({
  ...base("firewall"),
  /** `auto` reads `nft list ruleset` and falls back to `iptables -S`. */
  backend: z.enum(["auto", "nftables", "iptables"]).default("auto"),
  /** Default-deny inbound: some input base chain (or `-P INPUT`) must have policy drop. */
  require_input_drop: z.boolean().default(true),
  /** Chains that must exist: a bare chain name, or `family table chain` for nftables. */
  required_chains: z.array(z.string().min(1).max(128)).default([]),
  /** TCP ports that must be accepted inbound (the services the clinic needs). */
  required_tcp_ports: z.array(Port).default([]),
  /** TCP ports that must not be accepted inbound (clear-text or admin protocols). */
  forbidden_tcp_ports: z.array(Port).default([]),
});

const SshConfigCheck = z.strictObject({
  ...base("ssh_config"),
  /** Read under the agent's root when `sshd -T` is unavailable. */
  config_path: AbsPath.default("/etc/ssh/sshd_config"),
  password_authentication: z.boolean().default(false),
  kbd_interactive_authentication: z.boolean().optional(),
  /** `no` demands no root login; `prohibit-password` also accepts key-only root login. */
  permit_root_login: z.enum(["no", "prohibit-password"]).default("no"),
  allowed_ciphers: z.array(SshAlgorithm).min(1).optional(),
  allowed_macs: z.array(SshAlgorithm).min(1).optional(),
  allowed_kex_algorithms: z.array(SshAlgorithm).min(1).optional(),
  max_auth_tries: z.number().int().min(1).max(100).optional(),
});

const TimeSyncCheck = z.strictObject({
  ...base("time_sync"),
  /** Largest tolerated |offset| from NTP time, in milliseconds. */
  max_offset_ms: z.number().positive().max(3_600_000),
});

const AuditdCheck = z.strictObject({
  ...base("auditd"),
  /** Fewest loaded rules (`auditctl -l`) that count as "rules loaded". */
  min_rules: z.number().int().min(0).default(1),
  /** Rule keys (`-k` / `key=`) that must be present, e.g. identity or phi-access watches. */
  required_keys: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/)).default([]),
  /** Require the rules to be locked (`enabled 2`, `-e 2`). */
  require_immutable: z.boolean().default(false),
});

const DiskEncryptionCheck = z.strictObject({
  ...base("disk_encryption"),
  /** Every mountpoint must sit on a dm-crypt device. */
  mountpoints: z.array(AbsPath).min(1),
  /** Also require the LUKS2 header format (`cryptsetup luksDump`). */
  require_luks2: z.boolean().default(false),
});

const ServicesCheck = z.strictObject({
  ...base("services"),
  manager: z.enum(["systemd", "supervisor"]).default("systemd"),
  /** supervisord config for `supervisorctl -c`; defaults to the Debian path. */
  supervisor_config: AbsPath.optional(),
  services: z.array(ServiceName).min(1),
});

const BackupFreshnessCheck = z.strictObject({
  ...base("backup_freshness"),
  directory: AbsPath,
  /** Which files are backups (archives or manifests), matched on the file name. */
  pattern: FileGlob.default("*"),
  recursive: z.boolean().default(false),
  max_age_hours: z
    .number()
    .positive()
    .max(24 * 366),
  /** An empty file is not a backup. */
  min_size_bytes: z.number().int().min(0).default(1),
});

const CertExpiryCheck = z.strictObject({
  ...base("cert_expiry"),
  files: z.array(AbsPath).min(1),
  min_days: z.number().int().min(0).max(3650),
});

const DiskUsageCheck = z
  .strictObject({
    ...base("disk_usage"),
    /** A mountpoint measured with the filesystem's own size. */
    mount: AbsPath.optional(),
    /** Or a directory measured with `du` against `quota_mb`. */
    directory: AbsPath.optional(),
    quota_mb: z.number().positive().optional(),
    max_used_percent: Percent,
  })
  .refine((c) => (c.mount === undefined) !== (c.directory === undefined), {
    message: "set exactly one of mount or directory",
  })
  .refine((c) => c.directory === undefined || c.quota_mb !== undefined, {
    message: "directory needs quota_mb",
    path: ["quota_mb"],
  });

const CpuLoadCheck = z.strictObject({
  ...base("cpu_load"),
  max_percent: Percent,
  /** How long the load is averaged over; short so a cycle stays quick. */
  sample_ms: z.number().int().min(100).max(60_000).default(1000),
});

/** One check of a baseline, discriminated by `type`. */
export const BaselineCheck = z.discriminatedUnion("type", [
  FirewallCheck,
  SshConfigCheck,
  TimeSyncCheck,
  AuditdCheck,
  DiskEncryptionCheck,
  ServicesCheck,
  BackupFreshnessCheck,
  CertExpiryCheck,
  DiskUsageCheck,
  CpuLoadCheck,
]);
export type BaselineCheck = z.infer<typeof BaselineCheck>;

/** A permanent, approved deviation: the check still fails in evidence but raises no incident. */
export const AllowedDrift = z.strictObject({
  id: ExceptionId,
  check_id: CheckId,
  reason: Text.min(1),
  approved_by: Person,
});
export type AllowedDrift = z.infer<typeof AllowedDrift>;

/**
 * A time-limited risk acceptance. It applies through the whole `expires` day
 * (UTC); after that it is ignored and the check raises incidents again.
 */
export const BaselineException = z.strictObject({
  id: ExceptionId,
  check_id: CheckId,
  reason: Text.min(1),
  risk: z.enum(["low", "medium", "high"]),
  owner: Person,
  expires: z.iso.date(),
});
export type BaselineException = z.infer<typeof BaselineException>;

/** A versioned baseline document (`agent/baselines/hipaa-v1.yaml`). */
export const Baseline = z
  .strictObject({
    version: z.literal(1),
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, "must be a lower-case id like hipaa-v1"),
    baseline_version: z
      .string()
      .regex(/^\d{1,6}\.\d{1,6}\.\d{1,6}$/, "must be a semantic version like 1.0.0"),
    description: Text.min(1),
    checks: z.array(BaselineCheck).min(1).max(MAX_DRIFT_RESULTS),
    allowed_drift: z.array(AllowedDrift).default([]),
    exceptions: z.array(BaselineException).default([]),
  })
  .superRefine((b, ctx) => {
    const checkIds = new Set<string>();
    b.checks.forEach((c, i) => {
      if (checkIds.has(c.id))
        ctx.addIssue({ code: "custom", path: ["checks", i, "id"], message: `duplicate check id ${c.id}` });
      checkIds.add(c.id);
    });
    // Allowed drift and exceptions share one id space: a result names either by id alone.
    const itemIds = new Set<string>();
    for (const list of ["allowed_drift", "exceptions"] as const) {
      b[list].forEach((item, i) => {
        if (itemIds.has(item.id))
          ctx.addIssue({ code: "custom", path: [list, i, "id"], message: `duplicate id ${item.id}` });
        itemIds.add(item.id);
        if (!checkIds.has(item.check_id)) {
          ctx.addIssue({
            code: "custom",
            path: [list, i, "check_id"],
            message: `no check with id ${item.check_id}`,
          });
        }
      });
    }
  });
export type Baseline = z.infer<typeof Baseline>;
