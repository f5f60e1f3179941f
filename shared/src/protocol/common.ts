/** Field types shared by several schemas. */
import { z } from "zod";
import { HIPAA_CITATIONS } from "../hipaa/index.js";
import { MAX_TEXT_CHARS } from "../limits/index.js";

/** Clinic (tenant) id: lower-case slug. */
export const ClinicId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, "must be a lower-case slug (a-z, 0-9, -), 2-63 chars");
/** Agent id: lower-case slug, unique per deployment. */
export const AgentId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{1,62}$/, "must be a lower-case slug (a-z, 0-9, -), 2-63 chars");
/** RFC 1123 host name. */
export const Hostname = z
  .string()
  .max(253)
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    "must be a valid host name",
  );
/** Runbook id in the seeds' style, e.g. RB-BACKUP-001. */
export const RunbookId = z.string().regex(/^RB-[A-Z]+-\d{3}$/, "must look like RB-NAME-001");
/** Lower-case hex sha256. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex characters");
/** ISO 8601 UTC timestamp with milliseconds optional. */
export const Timestamp = z.iso.datetime({ offset: false });
/** A HIPAA citation from the catalog. */
export const Citation = z.enum(HIPAA_CITATIONS);
/** Bounded free text. */
export const Text = z.string().max(MAX_TEXT_CHARS);
/** Standard base64 of exactly `bytes` bytes. */
export const base64Of = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, "must be standard base64")
    .refine(
      (s) => Buffer.from(s, "base64").length === bytes && Buffer.from(s, "base64").toString("base64") === s,
      {
        message: `must encode exactly ${bytes} bytes`,
      },
    );
/** Base64 ed25519 public key (32 bytes). */
export const PublicKeyB64 = base64Of(32);
/** Base64 ed25519 signature (64 bytes). */
export const SignatureB64 = base64Of(64);
/** Key id as produced by keyIdOf: 32 hex characters. */
export const KeyId = z.string().regex(/^[0-9a-f]{32}$/, "must be 32 lower-case hex characters");

/** Incident and runbook severities, most severe first. */
export const Severity = z.enum(["critical", "high", "medium", "low"]);
export type Severity = z.infer<typeof Severity>;

/**
 * Event types: what a drift check or an operator reports, and what runbooks
 * name in their `triggers`.
 */
export const EventType = z.enum([
  "backup_failure",
  "restore_test_due",
  "cert_expiry",
  "disk_full",
  "service_crash",
  "high_cpu",
  "firewall_drift",
  "ssh_config_drift",
  "time_drift",
  "audit_drift",
  "encryption_drift",
  "patch_missing",
]);
export type EventType = z.infer<typeof EventType>;

/** An ed25519 signature with the id of the key that made it. */
export const Signature = z.strictObject({
  alg: z.literal("ed25519"),
  key_id: KeyId,
  value: SignatureB64,
});
export type Signature = z.infer<typeof Signature>;
