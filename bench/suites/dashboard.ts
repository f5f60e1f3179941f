/**
 * Dashboard: server time to render one full fleet page (FLEET_PAGE_SIZE
 * agents) out of 1,000 agents (10 clinics of 100, five drift checks each, a
 * mix of online and offline) for an admin session, in-process through the API
 * app with the dashboard mounted as the server mounts it: session lookup,
 * registry and drift queries over all 1,000 agents (the filter and the counts
 * need them), Hono JSX render of the page's rows.
 * The target is under 1 s.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../control-plane/src/api/app.js";
import { createAuditLog } from "../../control-plane/src/audit/index.js";
import { createApiKeys } from "../../control-plane/src/auth/index.js";
import {
  createDashboardEvents,
  FLEET_PAGE_SIZE,
  mountDashboard,
} from "../../control-plane/src/dashboard/index.js";
import { migrate, openDatabase } from "../../control-plane/src/db/index.js";
import { createEvidenceStore } from "../../control-plane/src/evidence/index.js";
import { createIncidentStore } from "../../control-plane/src/incidents/store.js";
import { createMetrics } from "../../control-plane/src/metrics/index.js";
import { createPacketService } from "../../control-plane/src/packets/index.js";
import { computePosture } from "../../control-plane/src/packets/posture.js";
import { createPlanStore } from "../../control-plane/src/planner/index.js";
import { createRegistry } from "../../control-plane/src/registry/index.js";
import { incidentRoutes } from "../../control-plane/src/routes/incidents.js";
import { ALL_MIGRATIONS } from "../../control-plane/src/server/migrations.js";
import { generateSigningKey, silentLogger, systemClock } from "../../shared/src/index.js";
import { type Row, type Suite, sampleLatency } from "../lib.js";

export const F = {
  fleetP50: `fleet page, ${FLEET_PAGE_SIZE} of 1,000 agents (server time) p50`,
  fleetP99: `fleet page, ${FLEET_PAGE_SIZE} of 1,000 agents (server time) p99`,
} as const;

const CLINICS = 10;
const AGENTS_PER_CLINIC = 100;
const CHECKS = ["backup_freshness", "disk_encryption", "firewall", "patching", "time_sync"];

export const dashboardSuite: Suite = {
  name: "dashboard",
  title: "Dashboard (one core, file-backed SQLite)",
  description:
    `GET /dashboard/fleet (its first page, a full ${FLEET_PAGE_SIZE} rows) for an admin session over 1,000 agents ` +
    "(10 clinics x 100, 5 drift checks each, every third agent online), in-process through the API app with the " +
    "dashboard mounted as the server mounts it: session and key lookup, registry and drift queries over all 1,000 " +
    "agents on a database file (the filters and counts need them), server-side JSX render of the page. Wall time per request.",
  async run(opts) {
    const dir = mkdtempSync(join(tmpdir(), "msp-bench-dashboard-"));
    const db = openDatabase(join(dir, "cp.db"));
    try {
      migrate(db, ALL_MIGRATIONS);
      const clock = systemClock;
      const registry = createRegistry(db, clock);
      const apiKeys = createApiKeys(db, clock);
      const now = clock.now().toISOString();
      const agent = db.prepare(
        `INSERT INTO agents (agent_id, client_id, hostname, evidence_public_key, agent_version, enrolled_at, last_seen_at)
         VALUES (?, ?, ?, ?, '1.4.2', ?, ?)`,
      );
      const drift = db.prepare(
        `INSERT INTO evidence_drift_latest (client_id, agent_id, check_id, status, seq, bundle_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      );
      db.transaction(() => {
        for (let c = 0; c < CLINICS; c++) {
          const clinic = `clinic-${String(c).padStart(2, "0")}`;
          registry.createClinic({ client_id: clinic, name: `Clinic ${c}`, service_allowlist: [] });
          for (let a = 0; a < AGENTS_PER_CLINIC; a++) {
            const id = `${clinic}-srv-${String(a).padStart(3, "0")}`;
            agent.run(id, clinic, `${id}.clinic.example`, `${"A".repeat(43)}=`, now, now);
            for (const [i, check] of CHECKS.entries()) {
              drift.run(
                clinic,
                id,
                check,
                (a + i) % 7 === 0 ? "fail" : "pass",
                i + 1,
                "EB-20261121-0001",
                now,
              );
            }
          }
        }
      })();
      const admin = apiKeys.create({ name: "bench", role: "admin", client_id: null, created_by: null });
      // Only the declarations are read (which roles may approve); no API handler runs in this bench.
      const apiRoutes = incidentRoutes(undefined as never);
      // The API app with its own middleware (audit, body limit, key check), as the server composes it.
      const app = createApp({
        clock,
        logger: silentLogger,
        metrics: createMetrics(),
        apiKeys,
        audit: createAuditLog(db, clock),
        clinicExists: (id) => registry.getClinic(id) !== undefined,
        routes: apiRoutes,
        version: "bench",
      });
      const dashboard = mountDashboard(app, {
        db,
        clock,
        apiKeys,
        registry,
        evidence: createEvidenceStore({ db, keys: registry }),
        incidents: createIncidentStore(db, clock),
        plans: createPlanStore(db),
        connected: (id) => Number(id.slice(-3)) % 3 === 0,
        posture: (clinicId, month) => computePosture(db, { clinicId, month }),
        packets: createPacketService({
          db,
          dataDir: dir,
          signingKey: generateSigningKey(),
          clock,
          clinicName: (id) => registry.getClinic(id)?.name,
          retentionYears: 6,
        }),
        wormStorage: "local",
        events: createDashboardEvents(),
        apiRoutes,
      });
      const { id } = dashboard.sessions.signIn(admin.key);
      const headers = { cookie: `__Host-msp_session=${id}` };
      const render = async () => {
        const res = await app.request("/dashboard/fleet", { headers });
        const html = await res.text();
        if (res.status !== 200) throw new Error(`fleet page answered ${res.status}`);
        return html;
      };
      const html = await render();
      const rows = html.match(/<tr data-agent-id=/g)?.length ?? 0;
      if (rows !== FLEET_PAGE_SIZE)
        throw new Error(`fleet page shows ${rows} agents, not ${FLEET_PAGE_SIZE}`);
      const total = CLINICS * AGENTS_PER_CLINIC;
      if (!html.includes(`<p id="fleet-count">${FLEET_PAGE_SIZE} of ${total} agents shown`))
        throw new Error(`fleet page does not count all ${total} agents`);
      const latency = await sampleLatency(render, {
        samples: opts.quick ? 10 : 100,
        warmup: opts.quick ? 2 : 10,
      });
      dashboard.close();
      const rowsOut: Row[] = [
        { figure: F.fleetP50, value: latency.p50Us / 1000, unit: "ms" },
        {
          figure: F.fleetP99,
          value: latency.p99Us / 1000,
          unit: "ms",
          target: { kind: "atMost", value: 1000 },
          bound: "SQLite reads and JSX render on one core shared with other processes",
        },
      ];
      return rowsOut;
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
