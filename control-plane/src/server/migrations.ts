/** Every module's migrations, in dependency order. The one list the server and tools apply. */
import { AUDIT_MIGRATIONS } from "../audit/index.js";
import { AUTH_MIGRATIONS } from "../auth/index.js";
import { DASHBOARD_MIGRATIONS } from "../dashboard/sessions.js";
import type { Migration } from "../db/index.js";
import { EVIDENCE_MIGRATIONS } from "../evidence/index.js";
import { GUARDRAIL_MIGRATIONS } from "../guardrails/migrations.js";
import { INCIDENT_MIGRATIONS } from "../incidents/store.js";
import { PACKET_MIGRATIONS } from "../packets/migrations.js";
import { PLANNER_MIGRATIONS } from "../planner/index.js";
import { REGISTRY_MIGRATIONS } from "../registry/index.js";
import { WORM_MIGRATIONS } from "../worm/index.js";

export const ALL_MIGRATIONS: readonly Migration[] = [
  ...AUTH_MIGRATIONS,
  ...AUDIT_MIGRATIONS,
  ...REGISTRY_MIGRATIONS,
  ...EVIDENCE_MIGRATIONS,
  ...GUARDRAIL_MIGRATIONS,
  ...PLANNER_MIGRATIONS,
  ...INCIDENT_MIGRATIONS,
  ...WORM_MIGRATIONS,
  // After evidence and WORM: packet facts are derived from evidence_bundles, packet files queued in worm_objects.
  ...PACKET_MIGRATIONS,
  ...DASHBOARD_MIGRATIONS,
];
