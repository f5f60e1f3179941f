/**
 * Sealing drafts into the chain: the one transaction that turns a
 * `BundleDraft` into a signed, stored `EvidenceBundle`.
 *
 * Everything that decides a bundle's identity (seq, prev_hash, bundle id,
 * created_at) is read from the `meta` row inside the same IMMEDIATE
 * transaction that inserts the row and advances the head, so two writers, or
 * a writer killed half-way, can never produce two bundles with one seq.
 */
import {
  type BundleKind,
  type Clock,
  canonicalize,
  type EvidenceBundle,
  formatBundleId,
  limits,
  MspError,
  type SigningKey,
  sha256Hex,
  signBundle,
  type UnsignedBundle,
} from "@msp/shared";
import type Database from "better-sqlite3";
import type { BundleDraft } from "../evidence/index.js";
import { admit, fullAlertDraft, type OutboxAlert } from "./policy.js";
import { type MetaRow, readMeta, type Statements } from "./store.js";

/** What every sealed bundle carries besides its draft. */
export interface SealContext {
  key: SigningKey;
  identity: { client_id: string; agent_id: string; hostname: string };
  protocolVersion: number;
}

/** A signed bundle with the values its row and the head need. */
export interface Sealed {
  bundle: EvidenceBundle;
  /** Canonical JSON, stored as is and hashed for the next prev_hash. */
  body: string;
  hash: string;
  bytes: number;
  day: string;
  counter: number;
}

/**
 * Seals a draft as the successor of `meta`'s head. Throws `invalid_input`
 * (from signBundle) for a draft that does not match the schema and
 * `payload_too_large` for one the control plane would refuse forever, which
 * would otherwise block every bundle queued behind it.
 */
export function seal(ctx: SealContext, draft: BundleDraft, meta: MetaRow, now: Date): Sealed {
  const today = now.toISOString().slice(0, 10);
  // The id day never moves backwards, so a clock stepped back cannot mint an id already used that day.
  const day = meta.id_day !== "" && today < meta.id_day ? meta.id_day : today;
  const counter = day === meta.id_day ? meta.id_counter + 1 : 1;
  const unsigned: UnsignedBundle = {
    protocol_version: ctx.protocolVersion,
    bundle_id: formatBundleId(new Date(`${day}T00:00:00.000Z`), counter),
    seq: meta.last_seq + 1,
    prev_hash: meta.last_hash,
    client_id: ctx.identity.client_id,
    agent_id: ctx.identity.agent_id,
    hostname: ctx.identity.hostname,
    created_at: now.toISOString(),
    // Fields are copied one by one so a draft cannot smuggle in its own seq or identity.
    kind: draft.kind,
    incident: draft.incident,
    runbook: draft.runbook,
    actions_taken: draft.actions_taken,
    drift: draft.drift,
    hipaa_controls: draft.hipaa_controls,
    execution: draft.execution,
    outputs: draft.outputs,
  };
  const bundle = signBundle(unsigned, ctx.key);
  const body = canonicalize(bundle);
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > limits.MAX_BUNDLE_BYTES) {
    throw new MspError(
      "payload_too_large",
      `${draft.kind} bundle is ${bytes} bytes, over the ${limits.MAX_BUNDLE_BYTES}-byte bundle limit`,
    );
  }
  return { bundle, body, hash: sha256Hex(body), bytes, day, counter };
}

/** What one append did: stored a bundle or refused it, plus the alerts to raise after commit. */
export type AppendOutcome =
  | { stored: EvidenceBundle; alerts: OutboxAlert[] }
  | { refused: MspError; alerts: OutboxAlert[] };

/** Builds the append transaction; run it with `.immediate(draft)` so the write lock is taken up front. */
export function createAppendTxn(
  db: Database.Database,
  st: Statements,
  ctx: SealContext,
  clock: Clock,
  maxBytes: number,
): Database.Transaction<(draft: BundleDraft) => AppendOutcome> {
  const insert = (meta: MetaRow, s: Sealed, now: Date): MetaRow => {
    const { seq, bundle_id, kind } = s.bundle;
    const created_at_ms = now.getTime();
    st.insertBundle.run({ seq, bundle_id, kind, hash: s.hash, created_at_ms, bytes: s.bytes, body: s.body });
    st.advanceHead.run({ seq, hash: s.hash, day: s.day, counter: s.counter, bytes: s.bytes });
    const stored_bytes = meta.stored_bytes + s.bytes;
    return { ...meta, last_seq: seq, last_hash: s.hash, id_day: s.day, id_counter: s.counter, stored_bytes };
  };

  /** Starts (or continues) a full episode; emits its one local_alert bundle if that fits the headroom. */
  const enterEpisode = (meta: MetaRow, trigger: BundleKind, now: Date): number | null => {
    const since = meta.full_since ?? now.toISOString();
    let alertSeq = meta.full_alert_seq;
    let emitted: number | null = null;
    if (alertSeq === null) {
      const s = seal(ctx, fullAlertDraft(trigger, meta.stored_bytes, maxBytes, since), meta, now);
      if (admit("local_alert", meta.stored_bytes, s.bytes, maxBytes) !== "refuse") {
        insert(meta, s, now);
        alertSeq = emitted = s.bundle.seq;
      }
    }
    st.setFullEpisode.run(since, alertSeq);
    return emitted;
  };

  return db.transaction((draft: BundleDraft): AppendOutcome => {
    const now = clock.now();
    const before = readMeta(st);
    const sealed = seal(ctx, draft, before, now);
    const admission = admit(draft.kind, before.stored_bytes, sealed.bytes, maxBytes);
    const stored_bytes = before.stored_bytes;
    if (admission === "refuse") {
      const emitted = enterEpisode(before, draft.kind, now);
      const message = `outbox is full (${stored_bytes} of ${maxBytes} bytes stored): ${draft.kind} bundle refused until the control plane acks the backlog`;
      const details = { stored_bytes, max_bytes: maxBytes, kind: draft.kind };
      const refused = new MspError("unavailable", message, { retryable: true, details });
      const alert: OutboxAlert = {
        kind: "outbox_full",
        message,
        refused_kind: draft.kind,
        stored_bytes,
        max_bytes: maxBytes,
        alert_bundle_seq: emitted,
      };
      return { refused, alerts: [alert] };
    }
    const after = insert(before, sealed, now);
    if (admission === "store") return { stored: sealed.bundle, alerts: [] };
    const over = after.stored_bytes - maxBytes;
    const alert: OutboxAlert = {
      kind: "outbox_over_limit",
      message: `${draft.kind} bundle seq ${sealed.bundle.seq} stored ${over} bytes past the outbox bound of ${maxBytes} bytes: this kind of evidence is never refused for size`,
      seq: sealed.bundle.seq,
      bundle_kind: draft.kind,
      stored_bytes: after.stored_bytes,
      max_bytes: maxBytes,
    };
    enterEpisode(after, draft.kind, now);
    return { stored: sealed.bundle, alerts: [alert] };
  });
}
