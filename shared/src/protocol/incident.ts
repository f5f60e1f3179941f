/** Incidents: what an agent's drift check or an operator reports for remediation. */
import { z } from "zod";
import { MAX_DETAIL_ENTRIES } from "../limits/index.js";
import { AgentId, ClinicId, EventType, Hostname, Severity, Timestamp } from "./common.js";

/** Incident id in the seeds' style: INC-YYYYMMDD-NNNN, optionally with an agent-unique suffix. */
export const IncidentId = z
  .string()
  .regex(/^INC-\d{8}-[0-9A-Za-z-]{4,40}$/, "must look like INC-20251101-0001");

/** A detail value: scalars only, bounded, so details can never carry structured payloads. */
const DetailValue = z.union([z.string().max(512), z.number().finite(), z.boolean(), z.null()]);

/**
 * An incident as submitted (by an agent over the WebSocket, or by an operator
 * through the API). Field names follow the seeds' `/chat` request.
 */
export const Incident = z.strictObject({
  incident_id: IncidentId,
  client_id: ClinicId,
  agent_id: AgentId.optional(),
  hostname: Hostname,
  incident_type: EventType,
  severity: Severity,
  detected_at: Timestamp,
  source: z.enum(["drift_check", "operator", "agent_runbook"]),
  /** Check that raised it, when `source` is drift_check. */
  check_id: z
    .string()
    .regex(/^[a-z0-9_.-]{1,64}$/)
    .optional(),
  details: z
    .record(z.string().regex(/^[a-z0-9_]{1,64}$/, "detail keys are snake_case"), DetailValue)
    .refine(
      (d) => Object.keys(d).length <= MAX_DETAIL_ENTRIES,
      `at most ${MAX_DETAIL_ENTRIES} detail entries`,
    )
    .default({}),
});
export type Incident = z.infer<typeof Incident>;
