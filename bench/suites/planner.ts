/**
 * Planner: what it costs to turn an incident into a signed execute_runbook
 * frame with the rule-based planner, the path every incident takes when no
 * model is configured or the model's circuit is open. One call is: validate
 * the incident, hash it, choose the runbook and check parameters, append the
 * planning-log row, store the plan, build and sign the command. The database
 * is a real file (WAL, synchronous=FULL, as the control plane runs it), so the
 * two commits per incident are in the figure; an in-memory run shows how much
 * of it is the disk.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Db, migrate, openDatabase } from "../../control-plane/src/db/index.js";
import {
  buildSignedCommand,
  createPlanner,
  createPlanStore,
  PLANNER_MIGRATIONS,
} from "../../control-plane/src/planner/index.js";
import { loadRunbooks } from "../../runbooks/build-catalog.js";
import { type Incident, signingKeyFromSeed, systemClock } from "../../shared/src/index.js";
import { measureOps, type Row, type Suite, sampleLatency } from "../lib.js";

/** Figure names, shared by rows and comparisons. */
export const F = {
  fileP50: "incident -> signed command, file DB, p50",
  fileP99: "incident -> signed command, file DB, p99",
  fileOps: "incident -> signed command, file DB",
  memP50: "incident -> signed command, in-memory DB, p50",
  memOps: "incident -> signed command, in-memory DB",
} as const;

const RUNBOOKS = loadRunbooks().map((r) => r.definition);
const KEY = signingKeyFromSeed(Buffer.alloc(32, 3));
const SHA = "b".repeat(64);

/** A pipeline over `db`: each call plans a fresh service_crash incident and signs its command. */
function pipeline(db: Db): () => Promise<unknown> {
  migrate(db, PLANNER_MIGRATIONS);
  const planner = createPlanner({ db, runbooks: RUNBOOKS, clock: systemClock });
  const plans = createPlanStore(db);
  let n = 0;
  return async () => {
    n++;
    const incident: Incident = {
      incident_id: `INC-20260101-${String(n).padStart(8, "0")}`,
      client_id: "clinic-bench",
      agent_id: "agent-bench",
      hostname: "srv1",
      incident_type: "service_crash",
      severity: "high",
      detected_at: "2026-01-01T00:00:00.000Z",
      source: "drift_check",
      check_id: "services",
      details: { service_name: "nginx", observed: "inactive", expected: "active" },
    };
    const decision = await planner.plan(incident);
    const plan = plans.create(decision);
    return buildSignedCommand(plan, {
      agentId: "agent-bench",
      runbookSha256: SHA,
      signingKey: KEY,
      clock: systemClock,
      ttlSeconds: 300,
    });
  };
}

/** The planner suite. */
export const plannerSuite: Suite = {
  name: "planner",
  title: "Planner: incident to signed command (rule-based)",
  description:
    "Rule-based planner, one service_crash incident per call: schema check, canonical hash, runbook and " +
    "parameter checks, planning-log row and plan row (two commits, WAL, synchronous=FULL), ed25519-signed " +
    "execute_runbook frame. Wall time, single thread; no model involved.",
  comparisons: [
    { a: F.memOps, b: F.fileOps, say: (r) => `an in-memory database is ${r}x the file-backed one` },
  ],
  async run(opts) {
    const dir = mkdtempSync(join(tmpdir(), "msp-bench-planner-"));
    const fileDb = openDatabase(join(dir, "control-plane.db"));
    const memDb = openDatabase(":memory:");
    try {
      const onFile = pipeline(fileDb);
      const inMemory = pipeline(memDb);
      // Prove the measured path is the success path before timing it.
      const frame = (await onFile()) as { type?: string };
      if (frame.type !== "execute_runbook") throw new Error("planner suite: the pipeline made no command");
      const fileLatency = await sampleLatency(onFile, { samples: opts.latencySamples });
      const memLatency = await sampleLatency(inMemory, { samples: opts.latencySamples });
      const rows: Row[] = [
        { figure: F.fileP50, value: fileLatency.p50Us, unit: "µs" },
        { figure: F.fileP99, value: fileLatency.p99Us, unit: "µs" },
        { figure: F.fileOps, value: await measureOps(onFile, opts), unit: "ops/s" },
        { figure: F.memP50, value: memLatency.p50Us, unit: "µs" },
        { figure: F.memOps, value: await measureOps(inMemory, opts), unit: "ops/s" },
      ];
      return rows;
    } finally {
      fileDb.close();
      memDb.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
