/**
 * The read side of the evidence store, for the API and for packets: one
 * bundle with its verification status, paginated search within a clinic,
 * chain anomalies, counts, chain heads and the latest drift result per check.
 *
 * Every query is scoped by `client_id`, so a caller that holds one clinic's
 * scope cannot reach another clinic's evidence by guessing ids. Query input is
 * parsed here (`invalid_input` on anything wrong), not trusted from routes.
 */
import {
  AgentId,
  BundleId,
  BundleKind,
  bundleSigningBytes,
  ClinicId,
  EvidenceBundle,
  KeyCache,
  MspError,
  parseWith,
  Sha256,
  sha256Hex,
  Timestamp,
  verifyBytes,
} from "@msp/shared";
import { z } from "zod";
import type { Db } from "../db/index.js";

/** The caller-owned registry of enrolled agents' evidence keys (the same one ingest takes). */
export interface EvidenceKeys {
  /** Base64 ed25519 public key of the agent, or undefined when it is not enrolled. */
  evidenceKeyOf(agentId: string): string | undefined;
}

/** A stored bundle's index fields. */
export interface BundleSummary {
  client_id: string;
  agent_id: string;
  seq: number;
  bundle_id: string;
  kind: string;
  sha256: string;
  prev_hash: string;
  key_id: string;
  created_at: string;
  received_at: string;
}

/** A chain anomaly as recorded at ingest. */
export interface Anomaly {
  id: number;
  client_id: string;
  agent_id: string;
  kind: "gap" | "reorder" | "fork" | "broken_link" | "foreign";
  seq: number;
  seq_to: number | null;
  held_hash: string | null;
  offered_hash: string | null;
  expected_prev_hash: string | null;
  actual_prev_hash: string | null;
  message: string;
  detected_at: string;
  resolved_at: string | null;
}

/**
 * How a stored bundle checks out now: the stored body still hashes to its
 * sha256, the signature verifies with the agent's enrolled key ("unknown_key"
 * when no key is registered or no registry was given), and its chain link.
 */
export interface Verification {
  body_intact: boolean;
  signature: "valid" | "invalid" | "unknown_key";
  /** True when seq-1 is stored and this bundle's prev_hash is its hash (or seq 1 links to genesis); null when seq-1 is missing. */
  linked_to_previous: boolean | null;
  /** True when every seq up to this one is stored for the agent (the bundle is covered by an ack). */
  acknowledged: boolean;
  /** Anomalies recorded at this agent and seq. */
  anomalies: Anomaly[];
}

/** One bundle with its body and verification status. */
export interface StoredBundle extends BundleSummary {
  bundle: EvidenceBundle;
  verification: Verification;
}

/** A page of results and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** An agent's chain head as the control plane holds it. */
export interface ChainSummary {
  agent_id: string;
  client_id: string;
  acked_seq: number;
  head_hash: string;
  max_seq: number;
  updated_at: string;
}

/** The most recent result of one drift check on one agent. */
export interface DriftLatest {
  client_id: string;
  agent_id: string;
  check_id: string;
  status: string;
  seq: number;
  bundle_id: string;
  created_at: string;
}

const Limit = z.number().int().min(1).max(500);
const Cursor = z.string().max(200);

/** Search filters; `from` is inclusive, `to` exclusive, both on created_at. */
export const SearchQuery = z.strictObject({
  client_id: ClinicId,
  agent_id: AgentId.optional(),
  kind: BundleKind.optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
  limit: Limit.default(50),
  cursor: Cursor.optional(),
});
export type SearchQuery = z.input<typeof SearchQuery>;

/** Anomaly listing filters. */
export const AnomalyQuery = z.strictObject({
  client_id: ClinicId,
  agent_id: AgentId.optional(),
  kind: z.enum(["gap", "reorder", "fork", "broken_link", "foreign"]).optional(),
  /** true: only unresolved ones. */
  open: z.boolean().optional(),
  limit: Limit.default(100),
  cursor: Cursor.optional(),
});
export type AnomalyQuery = z.input<typeof AnomalyQuery>;

/** Count filters; `from` inclusive, `to` exclusive, on created_at. */
export const CountQuery = z.strictObject({
  client_id: ClinicId,
  agent_id: AgentId.optional(),
  from: Timestamp.optional(),
  to: Timestamp.optional(),
});
export type CountQuery = z.input<typeof CountQuery>;

/** Read access to stored evidence. */
export interface EvidenceStore {
  /** One bundle by bundle id (EB-...) or sha256 within a clinic; `conflict` if a bundle id names several agents' bundles and no agent_id is given. */
  get(id: string, scope: { client_id: string; agent_id?: string }): StoredBundle | null;
  /** Newest first, keyset-paginated. */
  search(query: SearchQuery): Page<BundleSummary>;
  /** Oldest first, keyset-paginated. */
  anomalies(query: AnomalyQuery): Page<Anomaly>;
  /** Bundles per kind in a time range (for packets). */
  counts(query: CountQuery): { total: number; by_kind: Record<string, number> };
  /** Chain heads of a clinic's agents. */
  chains(clientId: string): ChainSummary[];
  /** Latest drift result per (agent, check) of a clinic. */
  driftLatest(scope: { client_id: string; agent_id?: string }): DriftLatest[];
}

const SUMMARY_COLS =
  "id, client_id, agent_id, seq, bundle_id, kind, sha256, prev_hash, key_id, created_at, received_at";

function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString("base64url");
}

function decodeCursor<T extends (string | number)[]>(cursor: string, shape: ("s" | "n")[]): T {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    parts = null;
  }
  const ok =
    Array.isArray(parts) &&
    parts.length === shape.length &&
    parts.every((p, i) => (shape[i] === "n" ? Number.isSafeInteger(p) : typeof p === "string"));
  if (!ok)
    throw new MspError("invalid_input", "invalid cursor: pass back the next_cursor of a previous page");
  return parts as T;
}

type SummaryRow = BundleSummary & { id: number };
const summary = ({ id: _id, ...rest }: SummaryRow): BundleSummary => rest;

/** Opens the read side over a migrated database; `keys` lets `get` re-verify signatures. */
export function createEvidenceStore(options: { db: Db; keys?: EvidenceKeys }): EvidenceStore {
  const { db, keys } = options;
  const cache = new KeyCache(1_000);
  const byHash = db.prepare(`SELECT ${SUMMARY_COLS}, body FROM evidence_bundles WHERE sha256 = ?`);
  const byBundleId = db.prepare(
    `SELECT ${SUMMARY_COLS}, body FROM evidence_bundles WHERE bundle_id = ? AND client_id = ? LIMIT 2`,
  );
  const byAgentBundleId = db.prepare(
    `SELECT ${SUMMARY_COLS}, body FROM evidence_bundles WHERE bundle_id = ? AND client_id = ? AND agent_id = ?`,
  );
  const hashAt = db.prepare("SELECT sha256 FROM evidence_bundles WHERE agent_id = ? AND seq = ?");
  const chainOf = db.prepare("SELECT acked_seq FROM evidence_chains WHERE agent_id = ?");
  const anomaliesAt = db.prepare(
    "SELECT * FROM evidence_anomalies WHERE agent_id = ? AND seq = ? ORDER BY id",
  );

  const anomalyOut = (r: Anomaly & { body?: unknown; ref?: unknown }): Anomaly => {
    const { body: _b, ref: _r, ...rest } = r;
    return rest;
  };

  return {
    get(id, scope) {
      const s = parseWith(
        z.strictObject({
          id: z.union([Sha256, BundleId]),
          client_id: ClinicId,
          agent_id: AgentId.optional(),
        }),
        { id, ...scope },
        "evidence lookup",
      );
      type Row = SummaryRow & { body: string };
      let rows: Row[];
      if (/^[0-9a-f]{64}$/.test(s.id)) {
        const row = byHash.get(s.id) as Row | undefined;
        rows = row === undefined || row.client_id !== s.client_id ? [] : [row];
        if (s.agent_id !== undefined) rows = rows.filter((r) => r.agent_id === s.agent_id);
      } else if (s.agent_id !== undefined) {
        rows = byAgentBundleId.all(s.id, s.client_id, s.agent_id) as Row[];
      } else {
        rows = byBundleId.all(s.id, s.client_id) as Row[];
      }
      if (rows.length > 1) {
        throw new MspError("conflict", `bundle id ${s.id} names bundles of several agents; pass agent_id`, {
          details: { agents: rows.map((r) => r.agent_id) },
        });
      }
      const row = rows[0];
      if (row === undefined) return null;
      let bundle: EvidenceBundle;
      try {
        bundle = EvidenceBundle.parse(JSON.parse(row.body));
      } catch (e) {
        throw new MspError(
          "integrity_mismatch",
          `stored bundle ${row.bundle_id} of ${row.agent_id} no longer parses`,
          {
            cause: e,
            details: { agent_id: row.agent_id, seq: row.seq, sha256: row.sha256 },
          },
        );
      }
      const key = keys?.evidenceKeyOf(row.agent_id);
      let signature: Verification["signature"] = "unknown_key";
      if (key !== undefined) {
        const sig = Buffer.from(bundle.signature.value, "base64");
        signature = verifyBytes(key, bundleSigningBytes(bundle), sig, cache) ? "valid" : "invalid";
      }
      const prev =
        row.seq === 1
          ? { sha256: "0".repeat(64) }
          : (hashAt.get(row.agent_id, row.seq - 1) as { sha256: string } | undefined);
      const acked = (chainOf.get(row.agent_id) as { acked_seq: number } | undefined)?.acked_seq ?? 0;
      const { body: _body, ...fields } = row;
      return {
        ...summary(fields),
        bundle,
        verification: {
          body_intact: sha256Hex(row.body) === row.sha256,
          signature,
          linked_to_previous: prev === undefined ? null : prev.sha256 === row.prev_hash,
          acknowledged: row.seq <= acked,
          anomalies: (anomaliesAt.all(row.agent_id, row.seq) as Anomaly[]).map(anomalyOut),
        },
      };
    },

    search(input) {
      const q = parseWith(SearchQuery, input, "evidence search");
      const where = ["client_id = ?"];
      const args: (string | number)[] = [q.client_id];
      if (q.agent_id !== undefined) where.push("agent_id = ?") && args.push(q.agent_id);
      if (q.kind !== undefined) where.push("kind = ?") && args.push(q.kind);
      if (q.from !== undefined) where.push("created_at >= ?") && args.push(q.from);
      if (q.to !== undefined) where.push("created_at < ?") && args.push(q.to);
      if (q.cursor !== undefined) {
        const [at, id] = decodeCursor<[string, number]>(q.cursor, ["s", "n"]);
        where.push("(created_at < ? OR (created_at = ? AND id < ?))");
        args.push(at, at, id);
      }
      const rows = db
        .prepare(
          `SELECT ${SUMMARY_COLS} FROM evidence_bundles WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ?`,
        )
        .all(...args, q.limit + 1) as SummaryRow[];
      const more = rows.length > q.limit;
      const page = rows.slice(0, q.limit);
      const last = page.at(-1);
      return {
        items: page.map(summary),
        next_cursor: more && last !== undefined ? encodeCursor([last.created_at, last.id]) : null,
      };
    },

    anomalies(input) {
      const q = parseWith(AnomalyQuery, input, "anomaly query");
      const where = ["client_id = ?"];
      const args: (string | number)[] = [q.client_id];
      if (q.agent_id !== undefined) where.push("agent_id = ?") && args.push(q.agent_id);
      if (q.kind !== undefined) where.push("kind = ?") && args.push(q.kind);
      if (q.open === true) where.push("resolved_at IS NULL");
      if (q.cursor !== undefined) {
        const [id] = decodeCursor<[number]>(q.cursor, ["n"]);
        where.push("id > ?") && args.push(id);
      }
      const rows = db
        .prepare(`SELECT * FROM evidence_anomalies WHERE ${where.join(" AND ")} ORDER BY id LIMIT ?`)
        .all(...args, q.limit + 1) as Anomaly[];
      const more = rows.length > q.limit;
      const page = rows.slice(0, q.limit).map(anomalyOut);
      const last = page.at(-1);
      return { items: page, next_cursor: more && last !== undefined ? encodeCursor([last.id]) : null };
    },

    counts(input) {
      const q = parseWith(CountQuery, input, "evidence count");
      const where = ["client_id = ?"];
      const args: string[] = [q.client_id];
      if (q.agent_id !== undefined) where.push("agent_id = ?") && args.push(q.agent_id);
      if (q.from !== undefined) where.push("created_at >= ?") && args.push(q.from);
      if (q.to !== undefined) where.push("created_at < ?") && args.push(q.to);
      const rows = db
        .prepare(
          `SELECT kind, count(*) AS n FROM evidence_bundles WHERE ${where.join(" AND ")} GROUP BY kind ORDER BY kind`,
        )
        .all(...args) as { kind: string; n: number }[];
      const by_kind = Object.fromEntries(rows.map((r) => [r.kind, r.n]));
      return { total: rows.reduce((sum, r) => sum + r.n, 0), by_kind };
    },

    chains(clientId) {
      const id = parseWith(ClinicId, clientId, "clinic id");
      return db
        .prepare("SELECT * FROM evidence_chains WHERE client_id = ? ORDER BY agent_id")
        .all(id) as ChainSummary[];
    },

    driftLatest(scope) {
      const s = parseWith(
        z.strictObject({ client_id: ClinicId, agent_id: AgentId.optional() }),
        scope,
        "drift query",
      );
      const agent = s.agent_id === undefined ? "" : " AND agent_id = ?";
      const args = s.agent_id === undefined ? [s.client_id] : [s.client_id, s.agent_id];
      return db
        .prepare(
          `SELECT client_id, agent_id, check_id, status, seq, bundle_id, created_at FROM evidence_drift_latest WHERE client_id = ?${agent} ORDER BY agent_id, check_id`,
        )
        .all(...args) as DriftLatest[];
    },
  };
}
