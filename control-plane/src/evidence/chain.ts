/**
 * The write side of the evidence store: applies verified bundles to each
 * agent's chain inside one SQLite transaction per batch. It decides, per
 * bundle, stored / duplicate / refused, and records every chain anomaly:
 *
 * - a seq already held with another hash is a **fork**: refused (`conflict`),
 *   both hashes and the offered body kept;
 * - a prev_hash that does not match the stored predecessor, or a hash that the
 *   stored successor does not point at, is a **broken_link**: refused
 *   (`chain_broken`), the offered body kept;
 * - a seq beyond the highest seen leaves a **gap** (stored, flagged; resolved
 *   when filled); a seq below it fills one and is flagged **reorder**;
 * - a bundle naming another agent or clinic is **foreign** (flagged by the
 *   pipeline before it gets here, recorded here).
 *
 * Chain heads are cached in memory; the cache is dropped whenever a batch's
 * transaction fails, so it never runs ahead of the database.
 */
import { type Clock, GENESIS_HASH, MspError } from "@msp/shared";
import type { Db } from "../db/index.js";
import type { RefusedBundle, VerifiedBundle, VerifyResult } from "./verify.js";

/** Who sent a bundle, from the connection's client certificate. */
export interface AgentIdentity {
  client_id: string;
  agent_id: string;
}

/** Where an agent's chain stands on the control plane. */
export interface ChainHead {
  /** Every seq from 1 to acked_seq is stored (0 if none). */
  acked_seq: number;
  /** Hash of the bundle at acked_seq (GENESIS_HASH when 0). */
  head_hash: string;
  /** Highest seq stored, which exceeds acked_seq while a gap is open. */
  max_seq: number;
}

/** A stored bundle as handed to `onStored` (WORM uploader, inventory). */
export interface StoredRow {
  client_id: string;
  agent_id: string;
  seq: number;
  bundle_id: string;
  kind: string;
  created_at: string;
  received_at: string;
  sha256: string;
  /** Canonical JSON of the signed bundle. */
  body: string;
}

/** What happened to one bundle. */
export type ApplyOutcome =
  | { status: "stored"; seq: number; hash: string }
  | { status: "duplicate"; seq: number; hash: string }
  | { status: "rejected"; seq: number | null; error: MspError };

interface State extends ChainHead {
  client_id: string;
}

type Item = { who: AgentIdentity; result: VerifyResult };

/** Applies batches to the chain tables; one instance per database. */
export class ChainWriter {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #heads = new Map<string, State>();
  readonly #q;

  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#q = {
      chain: db.prepare(
        "SELECT client_id, acked_seq, head_hash, max_seq FROM evidence_chains WHERE agent_id = ?",
      ),
      at: db.prepare("SELECT sha256, prev_hash FROM evidence_bundles WHERE agent_id = ? AND seq = ?"),
      insert: db.prepare(
        `INSERT INTO evidence_bundles (client_id, agent_id, seq, bundle_id, sha256, prev_hash, kind, key_id, created_at, received_at, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      saveChain: db.prepare(
        `INSERT INTO evidence_chains (agent_id, client_id, acked_seq, head_hash, max_seq, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (agent_id) DO UPDATE SET client_id = excluded.client_id, acked_seq = excluded.acked_seq,
           head_hash = excluded.head_hash, max_seq = excluded.max_seq, updated_at = excluded.updated_at`,
      ),
      anomaly: db.prepare(
        `INSERT OR IGNORE INTO evidence_anomalies
           (client_id, agent_id, kind, seq, seq_to, held_hash, offered_hash, expected_prev_hash, actual_prev_hash, message, body, ref, detected_at, resolved_at)
         VALUES (@client_id, @agent_id, @kind, @seq, @seq_to, @held_hash, @offered_hash, @expected_prev_hash, @actual_prev_hash, @message, @body, @ref, @detected_at, @resolved_at)`,
      ),
      resolveGaps: db.prepare(
        "UPDATE evidence_anomalies SET resolved_at = ? WHERE agent_id = ? AND kind = 'gap' AND resolved_at IS NULL AND seq_to <= ?",
      ),
      drift: db.prepare(
        `INSERT INTO evidence_drift_latest (client_id, agent_id, check_id, status, seq, bundle_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (agent_id, check_id) DO UPDATE SET client_id = excluded.client_id, status = excluded.status,
           seq = excluded.seq, bundle_id = excluded.bundle_id, created_at = excluded.created_at
         WHERE excluded.seq > evidence_drift_latest.seq`,
      ),
    };
  }

  /** The agent's chain head, from the cache or the database. */
  head(agentId: string): ChainHead {
    const s = this.#state(agentId, "");
    return { acked_seq: s.acked_seq, head_hash: s.head_hash, max_seq: s.max_seq };
  }

  #state(agentId: string, clientId: string): State {
    let s = this.#heads.get(agentId);
    if (s === undefined) {
      const row = this.#q.chain.get(agentId) as State | undefined;
      s = row ?? { client_id: clientId, acked_seq: 0, head_hash: GENESIS_HASH, max_seq: 0 };
      this.#heads.set(agentId, s);
    }
    return s;
  }

  /**
   * Applies a batch in order in one transaction and returns one outcome per
   * item, plus the rows stored and the agents whose chains it touched. Throws
   * (and changes nothing) if the transaction fails.
   */
  apply(items: readonly Item[]): { outcomes: ApplyOutcome[]; stored: StoredRow[]; touched: Set<string> } {
    const receivedAt = this.#clock.now().toISOString();
    const run = this.#db.transaction(() => {
      const outcomes: ApplyOutcome[] = [];
      const stored: StoredRow[] = [];
      const touched = new Set<string>();
      const dirty = new Set<string>();
      for (const { who, result } of items) {
        if (!result.ok) {
          outcomes.push(this.#refused(who, result, receivedAt));
          continue;
        }
        const out = this.#one(who, result, receivedAt, stored);
        if (out.status !== "rejected") touched.add(who.agent_id);
        if (out.status === "stored") dirty.add(who.agent_id);
        outcomes.push(out);
      }
      for (const agentId of dirty) {
        const s = this.#state(agentId, "");
        this.#q.saveChain.run(agentId, s.client_id, s.acked_seq, s.head_hash, s.max_seq, receivedAt);
      }
      return { outcomes, stored, touched };
    });
    try {
      return run();
    } catch (e) {
      this.#heads.clear();
      throw e;
    }
  }

  #refused(who: AgentIdentity, r: RefusedBundle, at: string): ApplyOutcome {
    if (r.foreign !== undefined) {
      this.#anomaly(who, "foreign", r.seq ?? 0, at, r.message, {
        ref: `${r.foreign.client_id}/${r.foreign.agent_id}`,
      });
    }
    return {
      status: "rejected",
      seq: r.seq,
      error: new MspError(r.code, r.message, { details: { seq: r.seq } }),
    };
  }

  #one(who: AgentIdentity, v: VerifiedBundle, at: string, stored: StoredRow[]): ApplyOutcome {
    const s = this.#state(who.agent_id, who.client_id);
    const { seq, hash } = v;
    const held =
      seq <= s.max_seq ? (this.#q.at.get(who.agent_id, seq) as { sha256: string } | undefined) : undefined;
    if (held?.sha256 === hash) return { status: "duplicate", seq, hash };
    if (held !== undefined) {
      const message = `fork: seq ${seq} is already stored with hash ${held.sha256}; refused ${hash}`;
      this.#anomaly(who, "fork", seq, at, message, {
        ref: hash,
        held_hash: held.sha256,
        offered_hash: hash,
        body: v.canonical,
      });
      return this.#reject("conflict", message, seq);
    }
    const prev = this.#hashAt(who.agent_id, s, seq - 1);
    if (prev !== undefined && prev !== v.prev_hash) {
      const message = `broken link: seq ${seq} has prev_hash ${v.prev_hash}, but seq ${seq - 1} is stored with hash ${prev}`;
      this.#anomaly(who, "broken_link", seq, at, message, {
        ref: hash,
        offered_hash: hash,
        expected_prev_hash: prev,
        actual_prev_hash: v.prev_hash,
        body: v.canonical,
      });
      return this.#reject("chain_broken", message, seq);
    }
    if (seq < s.max_seq) {
      const next = this.#q.at.get(who.agent_id, seq + 1) as { prev_hash: string } | undefined;
      if (next !== undefined && next.prev_hash !== hash) {
        const message = `broken link: stored seq ${seq + 1} points at ${next.prev_hash}, not at this seq ${seq} (${hash})`;
        this.#anomaly(who, "broken_link", seq, at, message, {
          ref: hash,
          offered_hash: hash,
          expected_prev_hash: next.prev_hash,
          actual_prev_hash: hash,
          body: v.canonical,
        });
        return this.#reject("chain_broken", message, seq);
      }
    }

    this.#q.insert.run(
      who.client_id,
      who.agent_id,
      seq,
      v.bundle_id,
      hash,
      v.prev_hash,
      v.kind,
      v.key_id,
      v.created_at,
      at,
      v.canonical,
    );
    stored.push({
      client_id: who.client_id,
      agent_id: who.agent_id,
      seq,
      bundle_id: v.bundle_id,
      kind: v.kind,
      created_at: v.created_at,
      received_at: at,
      sha256: hash,
      body: v.canonical,
    });
    if (seq > s.max_seq + 1) {
      const from = s.max_seq + 1;
      this.#anomaly(who, "gap", from, at, `gap: seq ${from}..${seq - 1} missing before seq ${seq}`, {
        seq_to: seq - 1,
        ref: "",
      });
    } else if (seq < s.max_seq) {
      this.#anomaly(who, "reorder", seq, at, `reordered: seq ${seq} arrived after seq ${s.max_seq}`, {
        ref: "",
      });
    }
    const hadGap = s.max_seq > s.acked_seq;
    s.client_id = who.client_id;
    s.max_seq = Math.max(s.max_seq, seq);
    const before = s.acked_seq;
    if (seq === s.acked_seq + 1) {
      s.acked_seq = seq;
      s.head_hash = hash;
      while (s.acked_seq < s.max_seq) {
        const row = this.#q.at.get(who.agent_id, s.acked_seq + 1) as { sha256: string } | undefined;
        if (row === undefined) break;
        s.acked_seq++;
        s.head_hash = row.sha256;
      }
    }
    if (hadGap && s.acked_seq > before) {
      this.#q.resolveGaps.run(at, who.agent_id, s.acked_seq);
    }
    if (v.drift !== null) {
      for (const d of v.drift) {
        this.#q.drift.run(who.client_id, who.agent_id, d.check_id, d.status, seq, v.bundle_id, v.created_at);
      }
    }
    return { status: "stored", seq, hash };
  }

  #hashAt(agentId: string, s: State, seq: number): string | undefined {
    if (seq === 0) return GENESIS_HASH;
    if (seq === s.acked_seq) return s.head_hash;
    if (seq > s.max_seq) return undefined;
    return (this.#q.at.get(agentId, seq) as { sha256: string } | undefined)?.sha256;
  }

  #reject(code: "conflict" | "chain_broken", message: string, seq: number): ApplyOutcome {
    return { status: "rejected", seq, error: new MspError(code, message, { details: { seq } }) };
  }

  #anomaly(
    who: AgentIdentity,
    kind: "gap" | "reorder" | "fork" | "broken_link" | "foreign",
    seq: number,
    at: string,
    message: string,
    extra: {
      ref: string;
      seq_to?: number;
      held_hash?: string;
      offered_hash?: string;
      expected_prev_hash?: string;
      actual_prev_hash?: string;
      body?: string;
    },
  ): void {
    this.#q.anomaly.run({
      client_id: who.client_id,
      agent_id: who.agent_id,
      kind,
      seq,
      seq_to: extra.seq_to ?? null,
      held_hash: extra.held_hash ?? null,
      offered_hash: extra.offered_hash ?? null,
      expected_prev_hash: extra.expected_prev_hash ?? null,
      actual_prev_hash: extra.actual_prev_hash ?? null,
      message: message.slice(0, 2000),
      body: extra.body ?? null,
      ref: extra.ref,
      detected_at: at,
      // A reorder is an event that settled itself when the late bundle arrived; only gaps stay open.
      resolved_at: kind === "reorder" ? at : null,
    });
  }
}
