/**
 * Clinics, API keys, enrollment tokens, agents and the audit log. Admin keys
 * manage clinics and keys; operators create enrollment tokens and revoke
 * agents of their clinic; auditors read.
 */
import {
  CreateApiKeyRequest,
  CreateClinicRequest,
  CreateEnrollmentTokenRequest,
  MspError,
  PageQuery,
  type ParamValues,
  RunbookParamsRequest,
} from "@msp/shared";
import type { z } from "zod";
import { type RouteDef, route } from "../api/route.js";
import type { AuditLog } from "../audit/index.js";
import type { ApiKeys } from "../auth/index.js";
import type { AgentRecord, Registry } from "../registry/index.js";

export interface FleetDeps {
  registry: Registry;
  apiKeys: ApiKeys;
  audit: AuditLog;
  /** Live connection state from the agent endpoint. */
  connected(agentId: string): boolean;
  /** Last drift result per check for an agent, from stored evidence. */
  driftOf?(clientId: string, agentId: string): unknown;
  /** Guardrail check of site parameters for a runbook at a clinic; empty when acceptable. */
  checkRunbookParams(
    clientId: string,
    runbookId: string,
    params: ParamValues,
  ): { path: string; reason: string }[];
}

const READ = ["admin", "operator", "auditor"] as const;
const WRITE = ["admin", "operator"] as const;

export function fleetRoutes(deps: FleetDeps): RouteDef[] {
  const { registry } = deps;
  const agentView = (a: AgentRecord) => ({
    ...a,
    connection: a.revoked_at !== null ? "revoked" : deps.connected(a.agent_id) ? "online" : "offline",
    ...(deps.driftOf ? { drift: deps.driftOf(a.client_id, a.agent_id) } : {}),
  });
  const refuseBadParams = (clientId: string, runbookId: string, params: ParamValues) => {
    const findings = deps.checkRunbookParams(clientId, runbookId, params);
    if (findings.length > 0) {
      throw new MspError(
        "invalid_input",
        `parameters for ${runbookId} refused: ${findings.map((f) => `${f.path}: ${f.reason}`).join("; ")}`,
        {
          details: { findings },
        },
      );
    }
  };
  const agentIn = (clientId: string, agentId: string) => {
    const agent = registry.getAgent(agentId);
    if (agent === undefined || agent.client_id !== clientId)
      throw new MspError("not_found", `agent ${agentId} not found`);
    return agent;
  };

  return [
    route({
      method: "get",
      path: "/v1/clinics",
      summary: "List clinics",
      tag: "clinics",
      access: READ,
      handle: ({ principal }) => ({ clinics: registry.listClinics(principal?.client_id ?? null) }),
    }),
    route<z.output<typeof CreateClinicRequest>>({
      method: "post",
      path: "/v1/clinics",
      summary: "Create a clinic",
      tag: "clinics",
      access: ["admin"],
      body: CreateClinicRequest,
      status: 201,
      handle: ({ body }) => {
        for (const [runbookId, params] of Object.entries(body.runbook_params))
          refuseBadParams(body.client_id, runbookId, params);
        return registry.createClinic(body);
      },
    }),
    route<z.output<typeof RunbookParamsRequest>>({
      method: "post",
      path: "/v1/clinics/:clinic_id/runbook-params",
      summary: "Set a runbook's site parameters for a clinic",
      tag: "clinics",
      access: WRITE,
      body: RunbookParamsRequest,
      handle: ({ body, params }) => {
        refuseBadParams(params.clinic_id ?? "", body.runbook_id, body.params);
        return registry.setRunbookParams(params.clinic_id ?? "", body.runbook_id, body.params);
      },
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id",
      summary: "Get a clinic",
      tag: "clinics",
      access: READ,
      handle: ({ params }) => registry.getClinic(params.clinic_id ?? ""),
    }),
    route<z.output<typeof CreateEnrollmentTokenRequest>>({
      method: "post",
      path: "/v1/clinics/:clinic_id/enrollment-tokens",
      summary: "Create a one-time enrollment token",
      tag: "agents",
      access: WRITE,
      body: CreateEnrollmentTokenRequest,
      status: 201,
      handle: ({ body, params, principal }) =>
        registry.createEnrollmentToken({
          client_id: params.clinic_id ?? "",
          ttl_seconds: body.ttl_seconds,
          created_by: principal?.key_id ?? null,
        }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/agents",
      summary: "List a clinic's agents with connection state",
      tag: "agents",
      access: READ,
      handle: ({ params }) => ({ agents: registry.listAgents(params.clinic_id ?? "").map(agentView) }),
    }),
    route({
      method: "get",
      path: "/v1/clinics/:clinic_id/agents/:agent_id",
      summary: "Get an agent",
      tag: "agents",
      access: READ,
      handle: ({ params }) => agentView(agentIn(params.clinic_id ?? "", params.agent_id ?? "")),
    }),
    route({
      method: "post",
      path: "/v1/clinics/:clinic_id/agents/:agent_id/revoke",
      summary: "Revoke an agent and its certificates",
      tag: "agents",
      access: WRITE,
      handle: ({ params }) => {
        agentIn(params.clinic_id ?? "", params.agent_id ?? "");
        return agentView(registry.revokeAgent(params.agent_id ?? ""));
      },
    }),
    route<z.output<typeof CreateApiKeyRequest>>({
      method: "post",
      path: "/v1/api-keys",
      summary: "Create an API key (shown once)",
      tag: "api keys",
      access: ["admin"],
      body: CreateApiKeyRequest,
      status: 201,
      handle: ({ body, principal }) => {
        if (body.client_id !== null && registry.getClinic(body.client_id) === undefined) {
          throw new MspError("not_found", `clinic ${body.client_id} not found`);
        }
        return deps.apiKeys.create({ ...body, created_by: principal?.key_id ?? null });
      },
    }),
    route({
      method: "get",
      path: "/v1/api-keys",
      summary: "List API keys",
      tag: "api keys",
      access: ["admin"],
      handle: () => ({ api_keys: deps.apiKeys.list() }),
    }),
    route({
      method: "post",
      path: "/v1/api-keys/:key_id/revoke",
      summary: "Revoke an API key",
      tag: "api keys",
      access: ["admin"],
      handle: ({ params }) => deps.apiKeys.revoke(params.key_id ?? ""),
    }),
    route<undefined, z.output<typeof PageQuery>>({
      method: "get",
      path: "/v1/audit",
      summary: "Read the audit log",
      tag: "audit",
      access: ["admin"],
      query: PageQuery,
      handle: ({ query }) => ({
        entries: deps.audit.list({ limit: query.limit, ...(query.before ? { beforeId: query.before } : {}) }),
      }),
    }),
    route<undefined, z.output<typeof PageQuery>>({
      method: "get",
      path: "/v1/clinics/:clinic_id/audit",
      summary: "Read a clinic's audit log",
      tag: "audit",
      access: ["admin", "auditor"],
      query: PageQuery,
      handle: ({ query, params }) => ({
        entries: deps.audit.list({
          clientId: params.clinic_id ?? "",
          limit: query.limit,
          ...(query.before ? { beforeId: query.before } : {}),
        }),
      }),
    }),
  ];
}
