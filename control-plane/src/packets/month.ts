/**
 * One clinic-month of stored evidence, read once: every bundle whose
 * `created_at` falls in the month (UTC), oldest first, with its body parsed.
 *
 * Every section of a packet (and the dashboard's posture heatmap) is derived
 * from this one scan, so the figures of one packet all describe the same set
 * of bundles. The order is (created_at, agent_id, seq), fixed by the data
 * alone, so the same evidence always yields the same packet.
 */
import { ClinicId, type EvidenceBundle, MspError, parseWith, sha256Hex } from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";

/** A month as YYYY-MM. */
export const Month = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, "must be a month like 2025-11")
  .refine((m) => Number(m.slice(0, 4)) >= 2000, "must be 2000-01 or later");

/** The month's half-open range on `created_at`: [from, to). */
export function monthRange(month: string): { from: string; to: string } {
  const m = parseWith(Month, month, "month");
  const year = Number(m.slice(0, 4));
  const mon = Number(m.slice(5, 7));
  const from = new Date(Date.UTC(year, mon - 1, 1));
  const to = new Date(Date.UTC(year, mon, 1));
  return { from: from.toISOString(), to: to.toISOString() };
}

/** One stored bundle of the month. */
export interface MonthBundle {
  agent_id: string;
  seq: number;
  bundle_id: string;
  sha256: string;
  kind: string;
  created_at: string;
  /** True when the stored canonical body still hashes to its recorded sha256. */
  body_intact: boolean;
  bundle: EvidenceBundle;
}

/** The month's bundles of one clinic. */
export interface MonthEvidence {
  clinic_id: string;
  month: string;
  from: string;
  to: string;
  bundles: MonthBundle[];
}

interface Row {
  agent_id: string;
  seq: number;
  bundle_id: string;
  sha256: string;
  kind: string;
  created_at: string;
  body: string;
}

/**
 * Reads the month's bundles of a clinic. Bodies were validated against the
 * bundle schema at ingest and are stored in canonical form; here each body is
 * re-hashed (a tampered row shows as `body_intact: false` in the manifest)
 * and parsed as JSON. A body that no longer parses is an `integrity_mismatch`.
 */
export function readMonth(db: Db, query: { clinicId: string; month: string }): MonthEvidence {
  const clinicId = parseWith(ClinicId, query.clinicId, "clinic id");
  const { from, to } = monthRange(query.month);
  const rows = db
    .prepare(
      `SELECT agent_id, seq, bundle_id, sha256, kind, created_at, body FROM evidence_bundles
       WHERE client_id = ? AND created_at >= ? AND created_at < ?
       ORDER BY created_at, agent_id, seq`,
    )
    .all(clinicId, from, to) as Row[];
  const bundles = rows.map((r): MonthBundle => {
    let bundle: EvidenceBundle;
    try {
      bundle = JSON.parse(r.body) as EvidenceBundle;
    } catch (e) {
      throw new MspError(
        "integrity_mismatch",
        `stored bundle ${r.bundle_id} of ${r.agent_id} no longer parses`,
        {
          cause: e,
          details: { agent_id: r.agent_id, seq: r.seq, sha256: r.sha256 },
        },
      );
    }
    const { body, ...fields } = r;
    return { ...fields, body_intact: sha256Hex(body) === r.sha256, bundle };
  });
  return { clinic_id: clinicId, month: query.month, from, to, bundles };
}
