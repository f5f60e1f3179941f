/**
 * The transport's counters, kept across connections so `stats()` (and
 * `msp-agent status`) can show what happened over the agent's lifetime, not
 * only on the current socket.
 */

/** Monotonic counters across connections, reported by `stats()`. */
export interface TransportCounters {
  connectAttempts: number;
  /** Connections that ended before a welcome (TLS refusal, HTTP refusal, timeout, mismatch). */
  connectFailures: number;
  welcomes: number;
  bundlesSent: number;
  acksApplied: number;
  acksRefused: number;
  /** Refused acks at or below the outbox's acked seq: harmless repeats. */
  acksStale: number;
  malformedFrames: number;
  unexpectedFrames: number;
  errorFrames: number;
  commandsReceived: number;
  commandHandlerErrors: number;
  incidentsSent: number;
  incidentsDropped: number;
  keepaliveTimeouts: number;
  welcomeTimeouts: number;
  /** Bundles too large for one frame; the stream stalls on them (see `pump`). */
  oversizedBundles: number;
}

/** All-zero counters. */
export function newCounters(): TransportCounters {
  return {
    connectAttempts: 0,
    connectFailures: 0,
    welcomes: 0,
    bundlesSent: 0,
    acksApplied: 0,
    acksRefused: 0,
    acksStale: 0,
    malformedFrames: 0,
    unexpectedFrames: 0,
    errorFrames: 0,
    commandsReceived: 0,
    commandHandlerErrors: 0,
    incidentsSent: 0,
    incidentsDropped: 0,
    keepaliveTimeouts: 0,
    welcomeTimeouts: 0,
    oversizedBundles: 0,
  };
}
