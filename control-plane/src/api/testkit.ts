/**
 * An in-memory API for route tests: a migrated database, the fleet, meta
 * and audit parts, an admin key, and helpers to call `app.request()` with a key.
 */
import { FakeClock, silentLogger } from "@msp/shared";
import { AUDIT_MIGRATIONS, createAuditLog } from "../audit/index.js";
import { AUTH_MIGRATIONS, createApiKeys, type Role } from "../auth/index.js";
import { migrate, openDatabase } from "../db/index.js";
import { createMetrics } from "../metrics/index.js";
import { createRegistry, REGISTRY_MIGRATIONS } from "../registry/index.js";
import { fleetRoutes } from "../routes/fleet.js";
import { metaRoutes } from "../routes/meta.js";
import { createApp } from "./app.js";
import type { RouteDef } from "./route.js";

export function apiTestkit(
  extra: (parts: { registry: ReturnType<typeof createRegistry> }) => RouteDef[] = () => [],
) {
  const clock = new FakeClock("2026-11-01T12:00:00.000Z");
  const db = openDatabase(":memory:");
  migrate(db, [...AUTH_MIGRATIONS, ...AUDIT_MIGRATIONS, ...REGISTRY_MIGRATIONS]);
  const apiKeys = createApiKeys(db, clock);
  const audit = createAuditLog(db, clock);
  const registry = createRegistry(db, clock);
  const metrics = createMetrics();
  const app = createApp({
    clock,
    logger: silentLogger,
    metrics,
    apiKeys,
    audit,
    clinicExists: (id) => registry.getClinic(id) !== undefined,
    version: "test",
    routes: [
      ...metaRoutes({ version: "test", metrics, checks: { database: () => null } }),
      ...fleetRoutes({
        registry,
        apiKeys,
        audit,
        connected: () => false,
        checkRunbookParams: (_c, runbookId, params) =>
          runbookId === "RB-BACKUP-001" && Object.values(params).every((v) => !/[;$`]/.test(String(v)))
            ? []
            : [{ path: "params", reason: "refused by the test validator" }],
      }),
      ...extra({ registry }),
    ],
  });
  const admin = apiKeys.create({ name: "root", role: "admin", client_id: null, created_by: null }).key;
  registry.createClinic({ client_id: "clinic-a", name: "Clinic A", service_allowlist: ["nginx"] });
  registry.createClinic({ client_id: "clinic-b", name: "Clinic B", service_allowlist: [] });
  const keyFor = (role: Role, client: string | null) =>
    apiKeys.create({ name: `${role}-${client}`, role, client_id: client, created_by: null }).key;

  /** Calls the app with an optional key and JSON body. */
  const call = (
    method: string,
    path: string,
    key?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    app.request(path, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    });
  const count = (table: string) =>
    (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { app, db, clock, apiKeys, audit, registry, metrics, admin, keyFor, call, count };
}
