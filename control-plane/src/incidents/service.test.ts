import { type Incident, MspError, signingKeyFromSeed, silentLogger, systemClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { migrate, openDatabase } from "../db/index.js";
import { createBreakers } from "../guardrails/breaker.js";
import { createRateLimiter } from "../guardrails/rate-limit.js";
import { createMetrics } from "../metrics/index.js";
import { createPlanner, createPlanStore } from "../planner/index.js";
import { createRegistry } from "../registry/index.js";
import { loadRunbookCatalog } from "../runbooks/index.js";
import { ALL_MIGRATIONS } from "../server/migrations.js";
import { createValidators } from "../server/validation.js";
import { type AgentDirectory, createIncidentService, type IncidentServiceDeps } from "./service.js";
import { createIncidentStore } from "./store.js";

const CLINIC = "clinic-a";
const AGENT = "agent-a";
const catalog = loadRunbookCatalog();

/** The service over a fresh in-memory database, composed as the server composes it. */
function setup(overrides: Partial<IncidentServiceDeps> = {}) {
  const db = openDatabase(":memory:");
  migrate(db, ALL_MIGRATIONS);
  const clock = systemClock;
  const registry = createRegistry(db, clock);
  registry.createClinic({ client_id: CLINIC, name: "Clinic A", service_allowlist: ["nginx"] });
  const agent = { agent_id: AGENT, client_id: CLINIC, hostname: "srv1", revoked_at: null };
  const agents: AgentDirectory = {
    get: (id) => (id === AGENT ? agent : undefined),
    list: (c) => (c === CLINIC ? [agent] : []),
  };
  const validators = createValidators({ catalog, registry });
  const store = createIncidentStore(db, clock);
  const planner = createPlanner({ db, clock, runbooks: catalog.list().map((r) => r.definition) });
  const sent: { agentId: string; frame: unknown }[] = [];
  const service = createIncidentService({
    store,
    planner,
    plans: createPlanStore(db),
    catalog,
    agents,
    validateIncident: validators.incident,
    validateParams: validators.params,
    rateLimiter: createRateLimiter({ db, clock }),
    breakers: createBreakers({ db, clock }),
    signingKey: signingKeyFromSeed(Buffer.alloc(32, 9)),
    clock,
    logger: silentLogger,
    metrics: createMetrics(),
    send: (agentId, frame) => {
      sent.push({ agentId, frame });
      return true;
    },
    commandTtlSeconds: 300,
    ...overrides,
  });
  return { db, store, planner, service, sent };
}

const incident = (n = 1): Incident => ({
  incident_id: `INC-20260101-${String(n).padStart(4, "0")}`,
  client_id: CLINIC,
  agent_id: AGENT,
  hostname: "srv1",
  incident_type: "service_crash",
  severity: "high",
  detected_at: "2026-01-01T00:00:00.000Z",
  source: "drift_check",
  check_id: "services",
  details: { service_name: "nginx", observed: "inactive", expected: "active" },
});
const fromAgent = { kind: "agent", agent_id: AGENT, client_id: CLINIC } as const;

describe("incident service: incident to command", () => {
  it("commits the incident, decision, plan and command before the command is sent, then marks it sent", async () => {
    let seenAtSend: { status: string | undefined; inTransaction: boolean } | null = null;
    const ctx = setup({
      send: (_agentId, frame) => {
        const id = (frame as { command: { command_id: string } }).command.command_id;
        seenAtSend = { status: ctx.store.getCommand(id)?.status, inTransaction: ctx.db.inTransaction };
        return true;
      },
    });
    const record = await ctx.service.submit(incident(), fromAgent);
    expect(record.status).toBe("dispatched");
    expect(seenAtSend).toEqual({ status: "queued", inTransaction: false });
    const command = ctx.store.getCommand(record.command_id ?? "");
    expect(command?.status).toBe("sent");
    expect(ctx.planner.log.query({ incidentId: record.incident_id })).toHaveLength(1);
    // The durability setting is back to FULL after the unsynced "sent" mark.
    expect(ctx.db.pragma("synchronous", { simple: true })).toBe(2);
  });

  it("leaves a command queued when its agent is not connected", async () => {
    const ctx = setup({ send: () => false });
    const record = await ctx.service.submit(incident(), fromAgent);
    expect(ctx.store.getCommand(record.command_id ?? "")?.status).toBe("queued");
  });

  it("stores nothing when planning fails", async () => {
    const ctx = setup();
    const failing = setup({
      planner: {
        decide: () => Promise.reject(new MspError("internal", "planner down")),
      },
    });
    await expect(failing.service.submit(incident(), fromAgent)).rejects.toThrow(/planner down/);
    expect(failing.store.get(CLINIC, incident().incident_id)).toBeUndefined();
    expect(ctx.sent).toHaveLength(0);
  });

  it("plans a resubmission racing the first only once and returns the same incident", async () => {
    const ctx = setup();
    const [a, b] = await Promise.all([
      ctx.service.submit(incident(), fromAgent),
      ctx.service.submit(incident(), fromAgent),
    ]);
    expect(a.incident_id).toBe(b.incident_id);
    expect(a.command_id).toBe(b.command_id);
    expect(ctx.planner.log.query({ incidentId: a.incident_id })).toHaveLength(1);
    expect(ctx.sent).toHaveLength(1);
  });

  it("refuses a racing resubmission with other content and keeps the first", async () => {
    const ctx = setup();
    const other = { ...incident(), severity: "low" as const };
    const results = await Promise.allSettled([
      ctx.service.submit(incident(), fromAgent),
      ctx.service.submit(other, fromAgent),
    ]);
    expect(results[0]?.status).toBe("fulfilled");
    expect(results[1]?.status).toBe("rejected");
    expect(ctx.store.get(CLINIC, incident().incident_id)?.severity).toBe("high");
  });
});
