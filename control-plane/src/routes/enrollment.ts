/**
 * Agent enrollment and certificate renewal. Enrollment is authenticated by
 * the one-time token (no API key); renewal by the agent's current, valid
 * client certificate on this very TLS connection.
 */
import { EnrollmentRequest, type EnrollmentResponse, MspError, RenewalRequest } from "@msp/shared";
import type { Context } from "hono";
import { type ApiEnv, type RouteDef, route } from "../api/route.js";
import type { IssueCertificate, Registry } from "../registry/index.js";

/** The TLS peer of a request: the verified client certificate's identity, or null. */
export type PeerIdentity = (
  c: Context<ApiEnv>,
) => { client_id: string; agent_id: string; serial: string } | null;

export interface EnrollmentDeps {
  registry: Registry;
  issue: IssueCertificate;
  /** Throws `signature_invalid` unless both proofs of possession verify. */
  verifyEnrollmentProof(request: EnrollmentRequest): void;
  verifyRenewalProof(agentId: string, request: RenewalRequest): void;
  controlPlaneKey: { public_key: string; key_id: string };
  /** Where agents connect; read per request because a test listener learns its port only after start. */
  wsUrl: () => string;
  peer: PeerIdentity;
}

export function enrollmentRoutes(deps: EnrollmentDeps): RouteDef[] {
  return [
    route<EnrollmentRequest>({
      method: "post",
      path: "/v1/enroll",
      summary: "Enroll an agent with a one-time token",
      tag: "agents",
      access: "public",
      body: EnrollmentRequest,
      status: 201,
      handle: ({ body }): EnrollmentResponse => {
        deps.verifyEnrollmentProof(body);
        const { agent, certificate } = deps.registry.enroll(body, deps.issue);
        return {
          agent_id: agent.agent_id,
          client_id: agent.client_id,
          certificate,
          control_plane_public_key: deps.controlPlaneKey.public_key,
          control_plane_key_id: deps.controlPlaneKey.key_id,
          ws_url: deps.wsUrl(),
        };
      },
    }),
    route<RenewalRequest>({
      method: "post",
      path: "/v1/agents/renew",
      summary: "Renew an agent's client certificate (mTLS)",
      tag: "agents",
      access: "public",
      body: RenewalRequest,
      status: 201,
      handle: ({ c, body }) => {
        const peer = deps.peer(c);
        if (peer === null)
          throw new MspError("unauthenticated", "renewal needs the agent's current client certificate");
        const status = deps.registry.certificateStatus({
          serial: peer.serial,
          agentId: peer.agent_id,
          clientId: peer.client_id,
        });
        if (status !== "ok") throw new MspError("forbidden", `certificate is ${status}`);
        deps.verifyRenewalProof(peer.agent_id, body);
        return deps.registry.renew(peer.agent_id, body, deps.issue);
      },
    }),
  ];
}
