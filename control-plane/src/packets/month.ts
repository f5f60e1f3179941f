/**
 * One clinic-month of stored evidence, read once: every bundle whose
 * `created_at` falls in the month (UTC), oldest first, with the facts it
 * contributes to a packet (facts.ts).
 *
 * Every section of a packet (and the dashboard's posture heatmap) is derived
 * from this one read, so the figures of one packet all describe the same set
 * of bundles. The order is (created_at, agent_id, seq), fixed by the data
 * alone, so the same evidence always yields the same packet.
 */
import { ClinicId, parseWith } from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";
import { type BundleFacts, decodeFacts, FACTS_VERSION } from "./facts.js";
import { fillFacts } from "./facts-table.js";

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
  /** The sha256 ingest recorded (and the WORM copy carries). */
  sha256: string;
  kind: string;
  created_at: string;
  /**
   * True when the bytes the facts were taken from hashed to `sha256`: the
   * body ingest verified, or the stored body when the facts were derived
   * later (see facts-table.ts).
   */
  body_intact: boolean;
  facts: BundleFacts;
}

/** The month's bundles of one clinic. */
export interface MonthEvidence {
  clinic_id: string;
  month: string;
  from: string;
  to: string;
  bundles: MonthBundle[];
}

type Row = [string, number, string, string, string, string, number, string];

/**
 * Reads the month's bundles of a clinic from `packet_facts`, first deriving
 * the facts of any bundle of the month that has none (a write, see
 * facts-table.ts). Throws `invalid_input` for a malformed clinic id or month,
 * `integrity_mismatch` for a stored body that no longer parses.
 */
export function readMonth(db: Db, query: { clinicId: string; month: string }): MonthEvidence {
  const clinicId = parseWith(ClinicId, query.clinicId, "clinic id");
  const { from, to } = monthRange(query.month);
  fillFacts(db, clinicId, from, to);
  // Iterated, not read whole: each raw row dies young, only its decoded facts stay.
  const rows = db
    .prepare(
      `SELECT agent_id, seq, bundle_id, sha256, kind, created_at, body_intact, facts FROM packet_facts
       WHERE client_id = ? AND created_at >= ? AND created_at < ? AND version = ?
       ORDER BY created_at, agent_id, seq`,
    )
    .raw()
    .iterate(clinicId, from, to, FACTS_VERSION) as IterableIterator<Row>;
  const bundles: MonthBundle[] = [];
  for (const [agent_id, seq, bundle_id, sha256, kind, created_at, intact, facts] of rows) {
    bundles.push({
      agent_id,
      seq,
      bundle_id,
      sha256,
      kind,
      created_at,
      body_intact: intact === 1,
      facts: decodeFacts(facts),
    });
  }
  return { clinic_id: clinicId, month: query.month, from, to, bundles };
}
