/**
 * Counters of the agent endpoint, as plain numbers the metrics exporter reads.
 * Refusals and rejections are kept by reason so an operator can tell a
 * misconfigured agent (hello mismatch, protocol) from an attack (forged
 * signatures, foreign bundles) at a glance.
 */

/** Why an HTTP upgrade was refused before any WebSocket existed. */
export const REFUSAL_REASONS = ["not_found", "unauthenticated", "unidentified", "revoked"] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** Why a frame was answered with an error frame (or, for `oversized_hard`, a 1009 close). */
export const REJECTION_REASONS = [
  "binary",
  "malformed",
  "oversized",
  "oversized_hard",
  "hello_first",
  "hello_twice",
  "protocol_mismatch",
  "hello_mismatch",
  "incident_forbidden",
  "forbidden",
  "signature_invalid",
  "conflict",
  "chain_broken",
  "unavailable",
  "too_many_pending",
  "internal",
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** Everything the endpoint counts. */
export interface AgentEndpointCounters {
  /** Upgrades accepted (WebSocket connections opened). */
  upgrades: number;
  refusals: Record<RefusalReason, number>;
  rejections: Record<RejectionReason, number>;
  hellos: number;
  welcomes: number;
  /** Older connections closed because the same agent connected again. */
  superseded: number;
  keepaliveTimeouts: number;
  helloTimeouts: number;
  /** Bundle frames handed to ingest. */
  bundles: number;
  stored: number;
  duplicate: number;
  acksSent: number;
  errorFramesSent: number;
  incidents: number;
  commandStatuses: number;
}

/** A zeroed counters object. */
export function newCounters(): AgentEndpointCounters {
  const zero = <K extends string>(keys: readonly K[]) =>
    Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
  return {
    upgrades: 0,
    refusals: zero(REFUSAL_REASONS),
    rejections: zero(REJECTION_REASONS),
    hellos: 0,
    welcomes: 0,
    superseded: 0,
    keepaliveTimeouts: 0,
    helloTimeouts: 0,
    bundles: 0,
    stored: 0,
    duplicate: 0,
    acksSent: 0,
    errorFramesSent: 0,
    incidents: 0,
    commandStatuses: 0,
  };
}
