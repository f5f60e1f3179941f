/**
 * The durable outbox: where every evidence bundle the agent produces is
 * sealed into the agent's hash chain and kept until a signed control-plane
 * ack covers it (DESIGN invariant 1: no evidence lost or duplicated).
 *
 * Each append is one SQLite transaction (read head, assign seq, prev_hash and
 * bundle id, sign, insert, advance head) committed with fsync before the
 * promise resolves, so a kill -9 leaves the whole bundle or none and a seq is
 * never handed out twice. The head lives in a `meta` row, not in the bundle
 * rows, because acked rows are deleted and the chain must continue after them.
 * The size policy is described in `policy.ts` and `README.md`.
 */
import {
  AgentId,
  ClinicId,
  type Clock,
  decodePublicKey,
  type EvidenceBundle,
  Hostname,
  keyIdOf,
  MspError,
  PROTOCOL_VERSION,
  parseWith,
  type SigningKey,
} from "@msp/shared";
import { z } from "zod";
import type { EvidenceSink } from "../evidence/index.js";
import { type AckResult, checkAckFrame, commitWithoutFsync, createAckTxn } from "./ack.js";
import { type AppendOutcome, createAppendTxn } from "./append.js";
import { type IntegrityReport, verifyStored } from "./integrity.js";
import type { OutboxAlert } from "./policy.js";
import {
  initMeta,
  openOutboxDb,
  prepareStatements,
  readMeta,
  type Statements,
  storageError,
} from "./store.js";

export type { AckFrameValue, AckRefusal, AckResult } from "./ack.js";
export type { IntegrityReport, StoredBundleProblem } from "./integrity.js";
export { ALERT_HEADROOM_BYTES, LOW_WATER_RATIO, type OutboxAlert } from "./policy.js";

/** Who the outbox seals bundles as; must match the agent's certificate and enrollment. */
export interface OutboxIdentity {
  client_id: string;
  agent_id: string;
  hostname: string;
}

/** Everything {@link createOutbox} needs; invalid values fail at creation, not at the first append. */
export interface OutboxOptions {
  /** SQLite file, e.g. `<state_dir>/outbox.db`; its directory is created 0700. */
  dbPath: string;
  /** The agent's ed25519 evidence key; every bundle is signed with it. */
  signingKey: SigningKey;
  identity: OutboxIdentity;
  /** Stamped into every bundle; defaults to the shared PROTOCOL_VERSION. */
  protocolVersion?: number;
  /** Bound on stored canonical bundle bytes; see `policy.ts` for what happens past it. */
  maxBytes: number;
  /** Source of created_at and the bundle-id day, injected so tests control time. */
  clock: Clock;
  /** Pinned control-plane public key (base64); only acks signed by it delete rows. */
  controlPlanePublicKey: string;
  /** Local alerts (outbox full, evidence kept past the bound, refused acks); must not throw. */
  onAlert?: (alert: OutboxAlert) => void;
}

/** Where the chain stands: the last sealed bundle and the last acked one. */
export interface OutboxHead {
  last_seq: number;
  last_hash: string;
  acked_seq: number;
  acked_hash: string;
}

/** Size and age of the backlog, for `msp-agent status` and the agent's health log. */
export interface OutboxStats {
  rows: number;
  bytes: number;
  max_bytes: number;
  /** Age of the oldest unacked bundle by the outbox clock, or null when empty. */
  oldest_age_ms: number | null;
  /** Start of the current full episode, or null when the outbox is not full. */
  full_since: string | null;
}

/** The outbox as the transport and the CLI use it; producers see only {@link EvidenceSink}. */
export interface Outbox extends EvidenceSink {
  /** Up to `limit` stored bundles with seq > afterSeq, in seq order, for (re)sending. */
  pending(afterSeq: number, limit: number): EvidenceBundle[];
  /** The chain head for the hello frame and for resuming sends after a reconnect. */
  head(): OutboxHead;
  /** Verifies a signed ack and, only if it binds to our chain, deletes the rows it covers. */
  applyAck(frame: unknown): AckResult;
  /** Backlog size and age; cheap enough for a periodic health log. */
  stats(): OutboxStats;
  /** Re-verifies every stored bundle and the chain from the acked anchor (verify-outbox). */
  verifyIntegrity(): IntegrityReport;
  /**
   * Calls `listener` with the new `last_seq` after every append that stored a
   * row (the bundle, or only the `local_alert` of a refused one), once it is
   * committed and before `append` resolves, whoever the writer is; the daemon
   * wires it to `transport.notify()` so new evidence is sent at once. A
   * throwing listener is ignored: the bundle is already stored. Returns the
   * function that removes the listener.
   */
  onAppended(listener: (lastSeq: number) => void): () => void;
  /** Closes the database; later calls fail with `unavailable`. Idempotent. */
  close(): void;
}

const IdentitySchema = z.strictObject({ client_id: ClinicId, agent_id: AgentId, hostname: Hostname });

/** Opens (or creates) the outbox at `options.dbPath`. Fails fast on bad options or a foreign database. */
export function createOutbox(options: OutboxOptions): Outbox {
  const identity = parseWith(IdentitySchema, options.identity, "outbox identity");
  const { signingKey: key, clock, maxBytes } = options;
  const protocolVersion = options.protocolVersion ?? PROTOCOL_VERSION;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new MspError("invalid_input", `outbox maxBytes must be a positive integer, got ${maxBytes}`);
  }
  if (!Number.isSafeInteger(protocolVersion) || protocolVersion < 1) {
    throw new MspError(
      "invalid_input",
      `outbox protocolVersion must be a positive integer, got ${protocolVersion}`,
    );
  }
  const cpKey = options.controlPlanePublicKey;
  const trust = {
    ...identity,
    controlPlanePublicKey: cpKey,
    controlPlaneKeyId: keyIdOf(decodePublicKey(cpKey)),
  };

  let db: ReturnType<typeof openOutboxDb>;
  try {
    db = openOutboxDb(options.dbPath);
  } catch (e) {
    throw storageError(e, `open of ${options.dbPath}`);
  }
  let st: Statements;
  try {
    st = prepareStatements(db);
    const meta = initMeta(st, {
      agent_id: identity.agent_id,
      client_id: identity.client_id,
      key_id: key.keyId,
    });
    if (meta.agent_id !== identity.agent_id || meta.client_id !== identity.client_id) {
      throw new MspError(
        "config_invalid",
        `outbox ${options.dbPath} belongs to agent ${meta.agent_id} of clinic ${meta.client_id}, not ${identity.agent_id} of ${identity.client_id}`,
      );
    }
    if (meta.key_id !== key.keyId) {
      // Unacked bundles signed by the old key would fail verify-outbox; once all are acked the chain may continue.
      if (meta.last_seq > meta.acked_seq) {
        throw new MspError(
          "config_invalid",
          `outbox ${options.dbPath} holds ${meta.last_seq - meta.acked_seq} unacked bundles signed by key ${meta.key_id}, but the evidence key is now ${key.keyId}`,
        );
      }
      st.setKeyId.run(key.keyId);
    }
  } catch (e) {
    db.close();
    throw storageError(e, "open");
  }

  const emit = (alerts: readonly OutboxAlert[]) => {
    for (const alert of alerts) {
      try {
        options.onAlert?.(alert);
      } catch {
        // The bundle is already committed; a failing alert sink must not turn that into an error.
      }
    }
  };

  const appended = new Set<(lastSeq: number) => void>();
  const announce = (outcome: AppendOutcome) => {
    const stored =
      "stored" in outcome ||
      outcome.alerts.some((a) => a.kind === "outbox_full" && a.alert_bundle_seq !== null);
    if (!stored || appended.size === 0) return;
    const { last_seq } = readMeta(st);
    for (const listener of appended) {
      try {
        listener(last_seq);
      } catch {
        // Committed is committed; a listener that fails must not turn the append into an error.
      }
    }
  };

  const ctx = { key, identity, protocolVersion };
  const appendTxn = createAppendTxn(db, st, ctx, clock, maxBytes);
  const ackTxn = createAckTxn(db, st, maxBytes);

  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new MspError("unavailable", "outbox is closed", { retryable: false });
  };

  return {
    async append(draft) {
      ensureOpen();
      let outcome: AppendOutcome;
      try {
        outcome = appendTxn.immediate(draft);
      } catch (e) {
        throw storageError(e, "append");
      }
      emit(outcome.alerts);
      announce(outcome);
      if ("refused" in outcome) throw outcome.refused;
      return outcome.stored;
    },

    pending(afterSeq, limit) {
      ensureOpen();
      if (!Number.isSafeInteger(afterSeq) || afterSeq < 0 || !Number.isSafeInteger(limit) || limit < 1) {
        throw new MspError(
          "invalid_input",
          `pending(afterSeq, limit) needs integers >= 0 and >= 1, got ${afterSeq}, ${limit}`,
        );
      }
      // Rows were schema-checked and signed on append; parsing them again would only cost replay speed.
      return st.pendingAfter.all(afterSeq, limit).map((row) => JSON.parse(row.body) as EvidenceBundle);
    },

    head() {
      ensureOpen();
      const { last_seq, last_hash, acked_seq, acked_hash } = readMeta(st);
      return { last_seq, last_hash, acked_seq, acked_hash };
    },

    applyAck(frame) {
      ensureOpen();
      const checked = checkAckFrame(frame, trust);
      let outcome: { result: AckResult; alerts?: OutboxAlert[] };
      if (!checked.ok) {
        outcome = { result: checked };
      } else {
        try {
          outcome = commitWithoutFsync(db, () => ackTxn.immediate(checked.receipt));
        } catch (e) {
          throw storageError(e, "ack");
        }
      }
      const { result } = outcome;
      emit(
        result.ok
          ? (outcome.alerts ?? [])
          : [{ kind: "ack_refused", message: result.message, refusal: result.refusal }],
      );
      return result;
    },

    stats() {
      ensureOpen();
      const { rows, bytes } = st.counts.get() ?? { rows: 0, bytes: 0 };
      const oldest = st.oldest.get();
      const oldest_age_ms =
        oldest === undefined ? null : Math.max(0, clock.now().getTime() - oldest.created_at_ms);
      return { rows, bytes, max_bytes: maxBytes, oldest_age_ms, full_since: readMeta(st).full_since };
    },

    verifyIntegrity() {
      ensureOpen();
      return verifyStored(st, key.publicKey.toString("base64"));
    },

    onAppended(listener) {
      appended.add(listener);
      return () => {
        appended.delete(listener);
      };
    },

    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
