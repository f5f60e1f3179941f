/**
 * The registry of clinics and their enrolled agents: who may connect, with
 * which certificate, and which ed25519 key signs their evidence. Enrollment
 * consumes a one-time token in the same transaction that records the agent
 * and its first certificate, so a token can never enroll two agents.
 * Revoking an agent revokes every certificate it holds; the agent endpoint
 * checks `certificateStatus` on every connection.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  type Clock,
  type EnrollmentRequest,
  type IssuedCertificate,
  MspError,
  type ParamValues,
  type RenewalRequest,
} from "@msp/shared";
import type { Db } from "../db/index.js";

export { REGISTRY_MIGRATIONS } from "./migrations.js";

/** A clinic as the API shows it. */
export interface Clinic {
  client_id: string;
  name: string;
  service_allowlist: string[];
  /** Site parameters per runbook id, merged under what an incident carries. */
  runbook_params: Record<string, ParamValues>;
  created_at: string;
}

/** An enrolled agent as the API shows it. */
export interface AgentRecord {
  agent_id: string;
  client_id: string;
  hostname: string;
  evidence_public_key: string;
  agent_version: string;
  enrolled_at: string;
  revoked_at: string | null;
  last_seen_at: string | null;
  last_connected_at: string | null;
  catalog_sha256: string | null;
  last_seq: number;
  /** The newest certificate's expiry. */
  cert_not_after: string | null;
}

/** A created enrollment token; `token` is shown once. */
export interface EnrollmentTokenCreated {
  token_id: string;
  token: string;
  client_id: string;
  expires_at: string;
}

/** Issues a certificate for a public key; the CA is the caller's. */
export type IssueCertificate = (input: {
  clientId: string;
  agentId: string;
  publicKeyPem: string;
}) => IssuedCertificate;

export interface Registry {
  createClinic(input: {
    client_id: string;
    name: string;
    service_allowlist: string[];
    runbook_params?: Record<string, ParamValues>;
  }): Clinic;
  /** Replaces one runbook's site parameters at a clinic. */
  setRunbookParams(clientId: string, runbookId: string, params: ParamValues): Clinic;
  getClinic(clientId: string): Clinic | undefined;
  listClinics(clientId: string | null): Clinic[];
  createEnrollmentToken(input: {
    client_id: string;
    ttl_seconds: number;
    created_by: string | null;
  }): EnrollmentTokenCreated;
  /** Redeems a token (proofs already verified by the caller) and issues the first certificate. */
  enroll(
    request: EnrollmentRequest,
    issue: IssueCertificate,
  ): { agent: AgentRecord; certificate: IssuedCertificate };
  /** Issues a new certificate to an active agent presenting a valid one. */
  renew(agentId: string, request: RenewalRequest, issue: IssueCertificate): IssuedCertificate;
  getAgent(agentId: string): AgentRecord | undefined;
  listAgents(clientId: string): AgentRecord[];
  revokeAgent(agentId: string): AgentRecord;
  /** Whether a presented client certificate may be used: known serial, not revoked, agent active, same identity. */
  certificateStatus(input: {
    serial: string;
    agentId: string;
    clientId: string;
  }): "ok" | "unknown" | "revoked";
  /** The registered evidence key (base64), for ingest; undefined for unknown or revoked agents. */
  evidenceKeyOf(agentId: string): string | undefined;
  /** Records a connection's hello. */
  markConnected(input: {
    agentId: string;
    hostname: string;
    agentVersion: string;
    catalogSha256: string;
    lastSeq: number;
  }): void;
  markSeen(agentId: string): void;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest();

const AGENT_SELECT = `SELECT a.*, (SELECT max(not_after) FROM agent_certificates c WHERE c.agent_id = a.agent_id AND c.revoked_at IS NULL) AS cert_not_after FROM agents a`;

type ClinicRow = Omit<Clinic, "service_allowlist" | "runbook_params"> & {
  service_allowlist: string;
  runbook_params: string;
};
const clinicOf = (row: ClinicRow): Clinic => ({
  ...row,
  service_allowlist: JSON.parse(row.service_allowlist) as string[],
  runbook_params: JSON.parse(row.runbook_params) as Record<string, ParamValues>,
});

export function createRegistry(db: Db, clock: Clock): Registry {
  const now = () => clock.now().toISOString();
  const agentById = db.prepare<[string], AgentRecord>(`${AGENT_SELECT} WHERE a.agent_id = ?`);
  const clinicById = db.prepare<[string], ClinicRow>("SELECT * FROM clinics WHERE client_id = ?");
  const insertCert = db.prepare(
    `INSERT INTO agent_certificates (serial, agent_id, client_id, not_before, not_after, issued_at, reason)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const keyCache = new Map<string, string | undefined>();

  const enroll = db.transaction((request: EnrollmentRequest, issue: IssueCertificate) => {
    const token = db
      .prepare<[Buffer], { token_id: string; client_id: string; expires_at: string; used_at: string | null }>(
        "SELECT token_id, client_id, expires_at, used_at FROM enrollment_tokens WHERE token_sha256 = ?",
      )
      .get(sha256(request.token));
    // One message for unknown, used and expired tokens: the caller learns nothing about which.
    const invalid = new MspError("unauthenticated", "enrollment token is unknown, used or expired");
    if (token === undefined || token.used_at !== null || token.expires_at <= now()) throw invalid;
    const existing = agentById.get(request.agent_id);
    if (existing !== undefined) {
      throw new MspError(
        "conflict",
        `agent ${request.agent_id} is already enrolled${existing.revoked_at ? " (revoked)" : ""}; choose another agent id`,
      );
    }
    db.prepare("UPDATE enrollment_tokens SET used_at = ?, used_by_agent = ? WHERE token_id = ?").run(
      now(),
      request.agent_id,
      token.token_id,
    );
    db.prepare(
      `INSERT INTO agents (agent_id, client_id, hostname, evidence_public_key, agent_version, enrolled_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(
      request.agent_id,
      token.client_id,
      request.hostname,
      request.evidence_public_key,
      request.agent_version,
      now(),
    );
    const certificate = issue({
      clientId: token.client_id,
      agentId: request.agent_id,
      publicKeyPem: request.tls_public_key,
    });
    insertCert.run(
      certificate.serial,
      request.agent_id,
      token.client_id,
      certificate.not_before,
      certificate.not_after,
      now(),
      "enrollment",
    );
    keyCache.delete(request.agent_id);
    return { agent: agentById.get(request.agent_id) as AgentRecord, certificate };
  });

  return {
    createClinic({ client_id, name, service_allowlist, runbook_params = {} }) {
      if (clinicById.get(client_id) !== undefined)
        throw new MspError("conflict", `clinic ${client_id} already exists`);
      db.prepare(
        "INSERT INTO clinics (client_id, name, service_allowlist, runbook_params, created_at) VALUES (?, ?, ?, ?, ?)",
      ).run(client_id, name, JSON.stringify(service_allowlist), JSON.stringify(runbook_params), now());
      return clinicOf(clinicById.get(client_id) as ClinicRow);
    },
    setRunbookParams(clientId, runbookId, params) {
      const row = clinicById.get(clientId);
      if (row === undefined) throw new MspError("not_found", `clinic ${clientId} not found`);
      const all = { ...clinicOf(row).runbook_params, [runbookId]: params };
      db.prepare("UPDATE clinics SET runbook_params = ? WHERE client_id = ?").run(
        JSON.stringify(all),
        clientId,
      );
      return clinicOf(clinicById.get(clientId) as ClinicRow);
    },
    getClinic(clientId) {
      const row = clinicById.get(clientId);
      return row === undefined ? undefined : clinicOf(row);
    },
    listClinics(clientId) {
      const rows =
        clientId === null
          ? db.prepare<[], ClinicRow>("SELECT * FROM clinics ORDER BY client_id").all()
          : db.prepare<[string], ClinicRow>("SELECT * FROM clinics WHERE client_id = ?").all(clientId);
      return rows.map(clinicOf);
    },
    createEnrollmentToken({ client_id, ttl_seconds, created_by }) {
      if (clinicById.get(client_id) === undefined)
        throw new MspError("not_found", `clinic ${client_id} not found`);
      const token = `msp_enr_${randomBytes(32).toString("base64url")}`;
      const token_id = `ENR-${randomBytes(6).toString("hex")}`;
      const expires_at = new Date(clock.now().getTime() + ttl_seconds * 1000).toISOString();
      db.prepare(
        `INSERT INTO enrollment_tokens (token_id, client_id, token_sha256, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(token_id, client_id, sha256(token), created_by, now(), expires_at);
      return { token_id, token, client_id, expires_at };
    },
    enroll: (request, issue) => enroll(request, issue),
    renew(agentId, request, issue) {
      const agent = agentById.get(agentId);
      if (agent === undefined || agent.revoked_at !== null) {
        throw new MspError("forbidden", `agent ${agentId} is not enrolled or is revoked`);
      }
      const certificate = issue({ clientId: agent.client_id, agentId, publicKeyPem: request.tls_public_key });
      insertCert.run(
        certificate.serial,
        agentId,
        agent.client_id,
        certificate.not_before,
        certificate.not_after,
        now(),
        "renewal",
      );
      return certificate;
    },
    getAgent: (agentId) => agentById.get(agentId),
    listAgents(clientId) {
      return db
        .prepare<[string], AgentRecord>(`${AGENT_SELECT} WHERE a.client_id = ? ORDER BY a.agent_id`)
        .all(clientId);
    },
    revokeAgent(agentId) {
      const agent = agentById.get(agentId);
      if (agent === undefined) throw new MspError("not_found", `agent ${agentId} not found`);
      if (agent.revoked_at !== null) throw new MspError("conflict", `agent ${agentId} is already revoked`);
      db.transaction(() => {
        db.prepare("UPDATE agents SET revoked_at = ? WHERE agent_id = ?").run(now(), agentId);
        db.prepare(
          "UPDATE agent_certificates SET revoked_at = ? WHERE agent_id = ? AND revoked_at IS NULL",
        ).run(now(), agentId);
      })();
      keyCache.delete(agentId);
      return agentById.get(agentId) as AgentRecord;
    },
    certificateStatus({ serial, agentId, clientId }) {
      const row = db
        .prepare<
          [string],
          { agent_id: string; client_id: string; revoked_at: string | null; agent_revoked: string | null }
        >(
          `SELECT c.agent_id, c.client_id, c.revoked_at, a.revoked_at AS agent_revoked
           FROM agent_certificates c JOIN agents a ON a.agent_id = c.agent_id WHERE c.serial = ?`,
        )
        .get(serial.toLowerCase());
      if (row === undefined || row.agent_id !== agentId || row.client_id !== clientId) return "unknown";
      return row.revoked_at !== null || row.agent_revoked !== null ? "revoked" : "ok";
    },
    evidenceKeyOf(agentId) {
      if (keyCache.has(agentId)) return keyCache.get(agentId);
      const agent = agentById.get(agentId);
      const key = agent === undefined || agent.revoked_at !== null ? undefined : agent.evidence_public_key;
      keyCache.set(agentId, key);
      return key;
    },
    markConnected({ agentId, hostname, agentVersion, catalogSha256, lastSeq }) {
      db.prepare(
        `UPDATE agents SET hostname = ?, agent_version = ?, catalog_sha256 = ?, last_seq = ?, last_connected_at = ?, last_seen_at = ?
         WHERE agent_id = ?`,
      ).run(hostname, agentVersion, catalogSha256, lastSeq, now(), now(), agentId);
    },
    markSeen(agentId) {
      db.prepare("UPDATE agents SET last_seen_at = ? WHERE agent_id = ?").run(now(), agentId);
    },
  };
}
