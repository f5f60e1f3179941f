/**
 * The binding between a client certificate and an agent: one SAN URI
 * `urn:msp:clinic:<clinic>:agent:<agent>`. The CA writes it; the ingest and
 * renewal endpoints read it back from the peer certificate that the TLS stack
 * has already verified against our CA. Identity comes only from there, never
 * from a frame or request body, so an agent cannot speak for another.
 *
 * The SAN is read from the certificate's DER, not from node's display string,
 * where a crafted entry could imitate the `, ` separator.
 */
import type { X509Certificate } from "node:crypto";
import { AgentId, ClinicId, MspError } from "@msp/shared";
import { OID } from "./certificate.js";
import { readCertificate, readSubjectAltName } from "./certificate-reader.js";

/** Who a verified client certificate speaks for, and until when. */
export interface AgentCertificateIdentity {
  client_id: string;
  agent_id: string;
  /** Lower-case hex serial, as in `IssuedCertificate.serial`. */
  serial: string;
  /** ISO 8601 end of validity. */
  not_after: string;
}

/** What `tls.TLSSocket#getPeerCertificate()` returns, narrowed to the DER we read; `{}` when there is none. */
export interface PeerCertificateLike {
  raw?: Buffer | undefined;
}

const URI_FORM = /^urn:msp:clinic:([^:]*):agent:([^:]*)$/;

/** The SAN URI that binds a certificate to one agent of one clinic; refuses ids that are not slugs. */
export function agentSanUri(clinicId: string, agentId: string): string {
  if (!ClinicId.safeParse(clinicId).success) throw new MspError("invalid_input", "clinic id must be a slug");
  if (!AgentId.safeParse(agentId).success) throw new MspError("invalid_input", "agent id must be a slug");
  return `urn:msp:clinic:${clinicId}:agent:${agentId}`;
}

/**
 * Reads the agent identity from a peer certificate or an `X509Certificate`.
 * Returns null unless the certificate parses and carries exactly one SAN URI,
 * of our form, with well-formed clinic and agent ids. It does not check the
 * signature or validity: call it only on a certificate the TLS handshake
 * accepted (`socket.authorized`).
 */
export function identityFromCertificate(
  cert: X509Certificate | PeerCertificateLike | null | undefined,
): AgentCertificateIdentity | null {
  const raw = cert?.raw;
  if (raw === undefined || raw.length === 0) return null;
  let fields: ReturnType<typeof readCertificate>;
  let uris: string[];
  try {
    fields = readCertificate(raw);
    const san = fields.extensions.get(OID.subjectAltName);
    if (san === undefined) return null;
    uris = readSubjectAltName(san.value).flatMap((e) => (e.kind === "uri" ? [e.value] : []));
  } catch {
    // A certificate we cannot read names nobody.
    return null;
  }
  const m = uris.length === 1 ? URI_FORM.exec(uris[0] ?? "") : null;
  const clinic = ClinicId.safeParse(m?.[1]);
  const agent = AgentId.safeParse(m?.[2]);
  if (!clinic.success || !agent.success) return null;
  let serial = fields.serial;
  if (serial.length > 1 && serial[0] === 0) serial = serial.subarray(1);
  return {
    client_id: clinic.data,
    agent_id: agent.data,
    serial: serial.toString("hex"),
    not_after: fields.notAfter.toISOString(),
  };
}
