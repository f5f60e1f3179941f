/**
 * Where evidence lives in the bucket and how long it is locked. Keys are
 * derived from data only (never from time of upload), so a retried or
 * repeated upload of the same bundle always targets the same key, which is
 * what makes uploads idempotent.
 *
 *   evidence/<client_id>/<agent_id>/<YYYY-MM-DD>/<seq, 12 digits>_<bundle_id>.json
 *   checkpoints/<client_id>/<YYYY-MM-DD>.json
 *
 * The date of an evidence key is the day the control plane received the
 * bundle (UTC), the same day whose checkpoint covers it; the seq is zero-padded
 * so a listing sorts in chain order.
 */
import { HIPAA_RETENTION_YEARS, MspError } from "@msp/shared";

/** Most years of retention accepted; a typo like 600 is refused rather than locking data for centuries. */
export const MAX_RETENTION_YEARS = 100;

/** Default retention: HIPAA documentation retention, 45 CFR 164.316(b)(2)(i). */
export const DEFAULT_RETENTION_YEARS = HIPAA_RETENTION_YEARS;

/** UTC calendar day `YYYY-MM-DD` of an instant. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The day after `day` (`YYYY-MM-DD`). */
export function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00.000Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return utcDay(d);
}

/** The object key of one bundle; see the module comment. */
export function bundleObjectKey(b: {
  client_id: string;
  agent_id: string;
  seq: number;
  bundle_id: string;
  day: string;
}): string {
  return `evidence/${b.client_id}/${b.agent_id}/${b.day}/${String(b.seq).padStart(12, "0")}_${b.bundle_id}.json`;
}

/** The object key of a clinic's daily checkpoint. */
export function checkpointObjectKey(clientId: string, day: string): string {
  return `checkpoints/${clientId}/${day}.json`;
}

/** Throws `config_invalid` unless `years` is a whole number of years in 1..MAX_RETENTION_YEARS. */
export function checkRetentionYears(years: number): void {
  if (!Number.isInteger(years) || years < 1 || years > MAX_RETENTION_YEARS) {
    throw new MspError(
      "config_invalid",
      `WORM retention must be a whole number of years from 1 to ${MAX_RETENTION_YEARS}, got ${years}`,
    );
  }
}

/**
 * `from` plus whole calendar years, in UTC. February 29 becomes March 1 in a
 * year without one, which errs on the side of keeping evidence a day longer.
 */
export function addYears(from: Date, years: number): Date {
  const d = new Date(from.getTime());
  d.setUTCFullYear(d.getUTCFullYear() + years);
  return d;
}
