/**
 * The dashboard's live event source: a tiny in-process publish/subscribe that
 * the composition root feeds (agent connected/disconnected, incident, plan and
 * command changes) and the Server-Sent Events stream reads. Events carry only
 * identifiers and the clinic they belong to, never data: a page that hears of
 * a change re-reads it through its own authenticated request, so the stream
 * cannot leak more than the pages do, and the stream itself is filtered by
 * clinic scope before anything is written.
 */
import type { IncidentService } from "../incidents/service.js";

/** What changed. `incidents` covers incident, plan (approval) and command changes. */
export type DashboardEvent =
  | { type: "agent"; client_id: string; agent_id: string; connection: "online" | "offline" }
  | { type: "incidents"; client_id: string; incident_id: string | null };

/** Publish and subscribe; listeners run synchronously and must not throw. */
export interface DashboardEvents {
  publish(event: DashboardEvent): void;
  /** Returns the unsubscribe function; `onClose` runs if the source closes first. */
  subscribe(listener: (event: DashboardEvent) => void, onClose?: () => void): () => void;
  /** How many listeners are subscribed (open event streams). */
  listeners(): number;
  /** Ends every subscription (server shutdown); their `onClose` callbacks run. */
  close(): void;
}

/** Creates an event source with no subscribers. */
export function createDashboardEvents(): DashboardEvents {
  const listeners = new Set<(event: DashboardEvent) => void>();
  const closers = new Map<(event: DashboardEvent) => void, () => void>();
  return {
    publish(event) {
      for (const l of [...listeners]) {
        try {
          l(event);
        } catch {
          // A broken stream must not stop the others or the caller (ingest, the agent endpoint).
          listeners.delete(l);
          closers.delete(l);
        }
      }
    },
    subscribe(listener, onClose) {
      listeners.add(listener);
      if (onClose !== undefined) closers.set(listener, onClose);
      return () => {
        listeners.delete(listener);
        closers.delete(listener);
      };
    },
    listeners: () => listeners.size,
    close() {
      const pending = [...closers.values()];
      listeners.clear();
      closers.clear();
      for (const c of pending) c();
    },
  };
}

/**
 * Wraps the incident service so every change it makes is announced. Nothing
 * else changes: the same methods run with the same arguments, and errors pass
 * through untouched. `clientOfAgent` maps an agent to its clinic for the
 * calls that only name an agent.
 */
export function observeIncidentService(
  service: IncidentService,
  events: Pick<DashboardEvents, "publish">,
  clientOfAgent: (agentId: string) => string | undefined,
): IncidentService {
  const changed = (client_id: string | undefined, incident_id: string | null) => {
    if (client_id !== undefined) events.publish({ type: "incidents", client_id, incident_id });
  };
  return {
    async submit(incident, origin) {
      try {
        const record = await service.submit(incident, origin);
        changed(record.client_id, record.incident_id);
        return record;
      } catch (e) {
        // A refused incident may still have been recorded (rate limit, breaker): let pages re-read.
        changed(origin.client_id, incident.incident_id);
        throw e;
      }
    },
    approve(clientId, planId, approver) {
      const record = service.approve(clientId, planId, approver);
      changed(record.client_id, record.incident_id);
      return record;
    },
    reject(clientId, planId, approver, reason) {
      const record = service.reject(clientId, planId, approver, reason);
      changed(record.client_id, record.incident_id);
      return record;
    },
    execute(input) {
      const command = service.execute(input);
      changed(command.client_id, command.incident_id);
      return command;
    },
    onCommandStatus(agentId, status) {
      service.onCommandStatus(agentId, status);
      changed(clientOfAgent(agentId), null);
    },
    onEvidence(bundles) {
      service.onEvidence(bundles);
      const seen = new Set<string>();
      for (const b of bundles) {
        const key = `${b.client_id}\u0000${b.incident?.incident_id ?? ""}`;
        if (seen.has(key)) continue;
        seen.add(key);
        changed(b.client_id, b.incident?.incident_id ?? null);
      }
    },
    onAgentConnected(agentId) {
      service.onAgentConnected(agentId);
      changed(clientOfAgent(agentId), null);
    },
  };
}
