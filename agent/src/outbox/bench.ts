/**
 * Durable append rate of the outbox, for `pnpm bench` ("outbox durable
 * enqueue rate" in issue 4). Every append is a signed, fsync'd SQLite commit,
 * so the figure is bounded by the disk's fsync latency, not by JavaScript.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey, systemClock } from "@msp/shared";
import { driftDraft, TEST_IDENTITY } from "./fixtures.js";
import { createOutbox } from "./index.js";

/**
 * Appends `n` drafts of about 2 KB (canonical bundle bytes) to a fresh outbox
 * in a temp directory and reports durable appends per second. The temp
 * directory is removed afterwards.
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
