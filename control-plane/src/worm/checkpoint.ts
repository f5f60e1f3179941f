/**
 * Daily per-clinic checkpoints (format and signature in
 * `@msp/shared` merkle/checkpoint): once a UTC day is over by the control
 * plane's clock, each clinic gets one signed checkpoint over the bundles
 * received that day, queued for WORM behind those bundles.
 *
 * Every day from a clinic's first bundle onward gets one, including days with
 * no bundles (count 0, root sha256("")), so an auditor can tell "nothing
 * happened" from "the checkpoint is missing". A day is checkpointed once; the
 * uploader files bundles that arrive after their day's checkpoint under the
 * next open day, so a signed checkpoint is never contradicted.
 */
import {
  type CheckpointAgent,
  canonicalBytes,
  checkpointRoot,
  type DailyCheckpoint,
  type SigningKey,
  sha256Hex,
  signCheckpoint,
} from "@msp/shared";
import { addYears, checkpointObjectKey, nextDay, utcDay } from "./keys.js";
import type { WormQueue } from "./queue.js";

/** Most days one call checkpoints per clinic, so a long-idle clinic cannot stall the upload loop. */
export const MAX_CHECKPOINT_DAYS_PER_RUN = 366;

/** What one checkpoint run did. */
export interface CheckpointRun {
  /** `client_id/day` of each checkpoint queued, in order. */
  created: string[];
}

/**
 * Queues checkpoints for every clinic and every finished day not yet
 * checkpointed. Each day is one transaction: the checkpoint row and its queued
 * object commit together or not at all.
 */
export function runCheckpoints(
  queue: WormQueue,
  key: SigningKey,
  now: Date,
  retentionYears: number,
): CheckpointRun {
  const today = utcDay(now);
  const created: string[] = [];
  for (const clientId of queue.clients()) {
    const last = queue.lastCheckpointDay(clientId);
    let day = last === null ? queue.firstBundleDay(clientId) : nextDay(last);
    for (let n = 0; day !== null && day < today && n < MAX_CHECKPOINT_DAYS_PER_RUN; n++) {
      const d = day;
      queue.db.transaction(() => queueCheckpoint(queue, key, clientId, d, now, retentionYears))();
      created.push(`${clientId}/${d}`);
      day = nextDay(d);
    }
  }
  return { created };
}

/** Builds, signs and queues one clinic-day checkpoint; returns it. */
export function queueCheckpoint(
  queue: WormQueue,
  key: SigningKey,
  clientId: string,
  day: string,
  now: Date,
  retentionYears: number,
): DailyCheckpoint {
  const bundles = queue.dayBundles(clientId, day);
  const agents: CheckpointAgent[] = [];
  for (const b of bundles) {
    const last = agents[agents.length - 1];
    if (last !== undefined && last.agent_id === b.agent_id) {
      last.count++;
      last.last_seq = b.seq;
    } else {
      agents.push({ agent_id: b.agent_id, count: 1, first_seq: b.seq, last_seq: b.seq });
    }
  }
  const checkpoint = signCheckpoint(
    {
      format: "msp-daily-checkpoint/1",
      client_id: clientId,
      day,
      bundle_count: bundles.length,
      root: checkpointRoot(bundles.map((b) => b.sha256)),
      leaf_order: "agent_id,seq",
      first_bundle_id: bundles[0]?.bundle_id ?? null,
      last_bundle_id: bundles[bundles.length - 1]?.bundle_id ?? null,
      agents,
      created_at: now.toISOString(),
    },
    key,
  );
  const body = canonicalBytes(checkpoint);
  // Locked as long as the newest evidence it covers could be: the end of its day plus retention.
  const retainUntil = addYears(new Date(`${nextDay(day)}T00:00:00.000Z`), retentionYears);
  const objectId = queue.insertObject({
    client_id: clientId,
    kind: "checkpoint",
    object_key: checkpointObjectKey(clientId, day),
    sha256: sha256Hex(body),
    content_type: "application/json",
    retain_until: retainUntil.toISOString(),
    body,
    enqueued_at: now,
  });
  queue.insertCheckpoint({
    client_id: clientId,
    day,
    bundle_count: checkpoint.bundle_count,
    root: checkpoint.root,
    first_bundle_id: checkpoint.first_bundle_id,
    last_bundle_id: checkpoint.last_bundle_id,
    object_id: objectId,
    created_at: checkpoint.created_at,
  });
  return checkpoint;
}
