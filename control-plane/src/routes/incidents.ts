/**
 * Incidents (the seeds' `/chat`), direct executions, approvals, commands,
 * the planning log, rate-limit state and circuit breakers.
 */
import {
  ApprovalDecisionRequest,
  ExecutionRequest,
  Incident,
  IncidentQuery,
  MspError,
  PageQuery,
} from "@msp/shared";
import type { z } from "zod";
import { type RouteDef, route } from "../api/route.js";
import type { Principal } from "../auth/index.js";
import type { Breakers } from "../guardrails/breaker.js";
import type { RateLimiter } from "../guardrails/rate-limit.js";
import type { IncidentService } from "../incidents/service.js";
import type { IncidentStore } from "../incidents/store.js";
import type { PlanningLog } from "../planner/log.js";
import type { PlanStore } from "../planner/plans.js";

export interface IncidentRouteDeps {
  service: IncidentService;
  store: IncidentStore;
  plans: PlanStore;
  planningLog: PlanningLog;
  rateLimiter: Pick<RateLimiter, "state">;
  breakers: Pick<Breakers, "state" | "reset">;
}

const READ = ["admin", "operator", "auditor"] as const;
const WRITE = ["admin", "operator"] as const;

/** The approver name carried into commands and evidence: the key's name plus its id, in the plan store's alphabet. */
export const actorOf = (p: Principal | null) =>
  p === null ? "anonymous" : `${p.name.replace(/[^\p{L}\p{N}@._+: -]/gu, "-").slice(0, 100)}:${p.key_id}`;

export function incidentRoutes(deps: IncidentRouteDeps): RouteDef[] {
  const clinic = (params: Record<string, string>) => params.clinic_id ?? "";
  return [
    route<Incident>({
      method: "post",
      path: "/v1/clinics/:clinic_id/incidents",
      summary: "Submit an incident for planning",
      tag: "incidents",
      access: WRITE,
      body: Incident,
      status: 201,
      handle: async ({ body, params, principal }) => {
        const origin = { kind: "operator" as const, actor: actorOf(principal), client_id: clinic(params) };
        return deps.service.submit(body, origin);
      },
    }),
    route<undefined, z.output<typeof IncidentQuery>>({
      method: "get",
      path: "/v1/clinics/:clinic_id/incidents",
      summary: "List a clinic's incidents, newest first",
      tag: "incidents",
      access: READ,
      query: IncidentQuery,
      handle: ({ params, query }) => ({
        incidents: deps.store.list(clinic(params), {
          limit: query.limit,
          ...(query.status ? { status: query.status } : {}),
          ...(query.before ? { before: query.before } : {}),
        } as Parameters<IncidentStore["list"]>[1]),
      }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/incidents/:incident_id",
      summary: "Get an incident with its plan, command and planning decisions",
      tag: "incidents",
      access: READ,
      handle: ({ params }) => {
        const incident = deps.store.get(clinic(params), params.incident_id ?? "");
        if (incident === undefined)
          throw new MspError("not_found", `incident ${params.incident_id} not found`);
        return {
          incident,
          plan: incident.plan_id === null ? null : deps.plans.get(incident.plan_id),
          command: incident.command_id === null ? null : (deps.store.getCommand(incident.command_id) ?? null),
          decisions: deps.planningLog.query({
            clientId: clinic(params),
            incidentId: incident.incident_id,
            limit: 20,
          }),
        };
      },
    }),
    route<z.output<typeof ExecutionRequest>>({
      method: "post",
      path: "/v1/clinics/:clinic_id/executions",
      summary: "Request a runbook execution directly",
      tag: "incidents",
      access: WRITE,
      body: ExecutionRequest,
      status: 202,
      handle: ({ body, params, principal }) =>
        deps.service.execute({ ...body, client_id: clinic(params), actor: actorOf(principal) }),
    }),
    route<undefined, z.output<typeof PageQuery>>({
      method: "get",
      path: "/v1/clinics/:clinic_id/commands",
      summary: "List commands sent to a clinic's agents",
      tag: "incidents",
      access: READ,
      query: PageQuery,
      handle: ({ params, query }) => ({ commands: deps.store.listCommands(clinic(params), query.limit) }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/approvals",
      summary: "List plans waiting for approval",
      tag: "approvals",
      access: READ,
      handle: ({ params }) => ({ approvals: deps.plans.listPending(clinic(params)) }),
    }),
    route<z.output<typeof ApprovalDecisionRequest>>({
      method: "post",
      path: "/v1/clinics/:clinic_id/approvals/:plan_id/approve",
      summary: "Approve a pending plan",
      tag: "approvals",
      access: WRITE,
      body: ApprovalDecisionRequest,
      handle: ({ params, principal }) =>
        deps.service.approve(clinic(params), params.plan_id ?? "", actorOf(principal)),
    }),
    route<z.output<typeof ApprovalDecisionRequest>>({
      method: "post",
      path: "/v1/clinics/:clinic_id/approvals/:plan_id/reject",
      summary: "Reject a pending plan",
      tag: "approvals",
      access: WRITE,
      body: ApprovalDecisionRequest,
      handle: ({ params, principal, body }) =>
        deps.service.reject(
          clinic(params),
          params.plan_id ?? "",
          actorOf(principal),
          body.reason ?? "no reason given",
        ),
    }),
    route<undefined, z.output<typeof PageQuery>>({
      method: "get",
      path: "/v1/clinics/:clinic_id/planning-log",
      summary: "Read the planner's decisions",
      tag: "planner",
      access: READ,
      query: PageQuery,
      handle: ({ params, query }) => ({
        decisions: deps.planningLog.query({ clientId: clinic(params), limit: query.limit }),
      }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/rate-limits",
      summary: "Rate-limit state of a clinic",
      tag: "guardrails",
      access: READ,
      handle: ({ params }) => deps.rateLimiter.state(clinic(params)),
    }),
    route({
      method: "get",
      path: "/v1/circuit-breakers",
      summary: "List circuit breakers",
      tag: "guardrails",
      access: ["admin", "operator"],
      handle: () => ({ breakers: deps.breakers.state() }),
    }),
    route({
      method: "post",
      path: "/v1/circuit-breakers/:name/reset",
      summary: "Reset a circuit breaker",
      tag: "guardrails",
      access: ["admin"],
      handle: ({ params }) => deps.breakers.reset(decodeURIComponent(params.name ?? "")),
    }),
  ];
}
