/**
 * Benchmark helpers for `pnpm bench` (issue 4): the durable append rate of the
 * outbox, and a prefilled outbox for the replay benchmark.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Clock, generateSigningKey, PROTOCOL_VERSION, type SigningKey, systemClock } from "@msp/shared";
import type { BundleDraft } from "../evidence/index.js";
import { createAppendTxn } from "./append.js";
import { driftDraft, TEST_IDENTITY } from "./fixtures.js";
import { createOutbox, type OutboxIdentity } from "./index.js";
import { openOutboxDb, prepareStatements } from "./store.js";

/**
 * Appends `n` drafts of about 2 KB (canonical bundle bytes) to a fresh outbox
 * in a temp directory and reports durable appends per second. Every append is
 * a signed, fsync'd SQLite commit, so the figure is bounded by the disk's
 * fsync latency, not by JavaScript. The temp directory is removed afterwards.
 */
export async function benchOutboxAppend(n: number): Promise<{ perSecond: number; n: number }> {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  const dir = mkdtempSync(join(tmpdir(), "msp-outbox-bench-"));
  const outbox = createOutbox({
    dbPath: join(dir, "outbox.db"),
    signingKey: generateSigningKey(),
    identity: TEST_IDENTITY,
    maxBytes: 1 << 30,
    clock: systemClock,
    controlPlanePublicKey: generateSigningKey().publicKey.toString("base64"),
  });
  try {
    // A drift bundle with a padded observation comes to ~2,040 bytes once signed and canonicalised.
    const draft = driftDraft(1200);
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await outbox.append(draft);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { perSecond: n / seconds, n };
  } finally {
    outbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What {@link prefillOutbox} seals the bundles as. */
export interface PrefillOptions {
  dbPath: string;
  signingKey: SigningKey;
  identity: OutboxIdentity;
  /** The control-plane key the outbox will pin when it is opened for the replay. */
  controlPlanePublicKey: string;
  clock?: Clock;
}

/**
 * Seals, signs and stores `n` copies of `draft` (about 2 KB each by default)
 * in a new outbox, exactly as `append` would (same transaction code, same
 * chain, same rows), but inside one outer transaction, so 100,000 bundles cost
 * one fsync instead of 100,000 before a replay benchmark can start. Only for
 * benchmarks: the agent itself always commits every append on its own.
 */
export function prefillOutbox(
  options: PrefillOptions,
  n: number,
  draft: BundleDraft = driftDraft(1200),
): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`n must be a positive integer, got ${n}`);
  const clock = options.clock ?? systemClock;
  // createOutbox validates the identity and writes the meta row; then the same append transaction runs n times.
  createOutbox({ ...options, clock, maxBytes: Number.MAX_SAFE_INTEGER }).close();
  const db = openOutboxDb(options.dbPath);
  try {
    const st = prepareStatements(db);
    const ctx = { key: options.signingKey, identity: options.identity, protocolVersion: PROTOCOL_VERSION };
    const append = createAppendTxn(db, st, ctx, clock, Number.MAX_SAFE_INTEGER);
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const outcome = append(draft);
        if ("refused" in outcome) throw outcome.refused;
      }
    }).immediate();
  } finally {
    db.close();
  }
}
