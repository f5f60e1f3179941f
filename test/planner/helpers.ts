/**
 * Shared set-up for the planner tests that drive the real `openai` SDK
 * against the fake OpenAI-compatible server: the real runbook library, an
 * in-memory database with the planner's migrations, a fake clock and a
 * circuit that counts what the planner reported.
 */

import { type Db, migrate, openDatabase } from "../../control-plane/src/db/index.js";
import {
  createPlanner,
  type LlmCircuit,
  PLANNER_MIGRATIONS,
  type Planner,
  type PlannerOptions,
} from "../../control-plane/src/planner/index.js";
import { loadRunbooks } from "../../runbooks/build-catalog.js";
import { FakeClock, type Incident, type RunbookDefinition } from "../../shared/src/index.js";

/** The six runbooks of the library, validated. */
export const RUNBOOKS: readonly RunbookDefinition[] = loadRunbooks().map((r) => r.definition);

/** A circuit that records calls and can be opened by the test. */
export interface CountingCircuit extends LlmCircuit {
  open: boolean;
  successes: number;
  failures: number;
  asked: number;
}

export function countingCircuit(): CountingCircuit {
  const c: CountingCircuit = {
    open: false,
    successes: 0,
    failures: 0,
    asked: 0,
    allowRequest: () => {
      c.asked++;
      return !c.open;
    },
    recordSuccess: () => {
      c.successes++;
    },
    recordFailure: () => {
      c.failures++;
    },
  };
  return c;
}

/** A valid service_crash incident from agent-1 of clinic-a. */
export function incident(over: Partial<Incident> = {}): Incident {
  return {
    incident_id: "INC-20260101-0001",
    client_id: "clinic-a",
    agent_id: "agent-1",
    hostname: "srv1",
    incident_type: "service_crash",
    severity: "high",
    detected_at: "2026-01-01T00:00:00.000Z",
    source: "drift_check",
    check_id: "services",
    details: { service_name: "nginx", observed: "inactive", expected: "active" },
    ...over,
  };
}

/** A database, clock, circuit and a planner talking to `baseURL`. */
export function plannerFor(baseURL: string, over: Partial<PlannerOptions> = {}) {
  const db: Db = openDatabase(":memory:");
  migrate(db, PLANNER_MIGRATIONS);
  const clock = new FakeClock("2026-03-01T10:00:00.000Z");
  const circuit = countingCircuit();
  const planner: Planner = createPlanner({
    db,
    runbooks: RUNBOOKS,
    clock,
    circuit,
    llm: { baseURL, apiKey: "test-key", model: "fake-model", timeoutMs: 2000 },
    ...over,
  });
  return { db, clock, circuit, planner };
}
