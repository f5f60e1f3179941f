/**
 * Enrollment and certificate renewal, the agent side of
 * `shared/src/protocol/enrollment.ts`.
 *
 * `enroll` turns a one-time token into a working agent: it generates the
 * ed25519 evidence key and a P-256 TLS key, proves possession of both over
 * the canonical proof body, POSTs the request to `<url>/v1/enroll` trusting
 * only the given CA, checks the answer (schema, our agent id, the expected
 * clinic, a certificate for our TLS key signed by the answered CA, a key id
 * that matches the pinned key), and only then writes keys, certificate, CA
 * and the agent config. Nothing is written when anything fails, and nothing
 * existing is overwritten without `force`.
 *
 * `renew` replaces the TLS key and certificate over mTLS with the current,
 * still valid, certificate (`POST /v1/agents/renew`).
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  AgentConfig,
  decodePublicKey,
  type EnrollmentProofBody,
  EnrollmentRequest,
  EnrollmentResponse,
  EnrollmentToken,
  generateSigningKey,
  generateTlsKeyPair,
  IssuedCertificate,
  keyIdOf,
  MspError,
  parseWith,
  type RenewalProofBody,
  RenewalRequest,
  saveSigningKey,
  signEnrollmentProof,
  signRenewalProof,
} from "@msp/shared";
import { stringify } from "yaml";
import { AGENT_VERSION } from "../version.js";
import { postJson } from "./http.js";
import { checkIssuedCertificate, splitPem, writeFileAtomic } from "./keys.js";

/**
 * Kept under their former agent names so the package's public exports stay
 * stable; the implementation is the shared one the control plane verifies against.
 */
export { generateTlsKeyPair as generateTlsKey, type TlsKeyPair as TlsKey } from "@msp/shared";
export { type HttpsTrust, postJson } from "./http.js";
export { certificateWindow, needsRenewal } from "./keys.js";

/** Options of {@link enroll}; the CLI maps its flags onto these one to one. */
export interface EnrollOptions {
  /** Control-plane base URL, `https://cp:8443`. */
  url: string;
  token: string;
  /** PEM of the CA that must have issued the control plane's HTTPS certificate; nothing else is trusted. */
  caPem: string;
  agentId: string;
  hostname: string;
  /** The clinic the operator expects; the answer must name the same one. */
  clinicId?: string | undefined;
  configOut: string;
  stateDir: string;
  baselineFile: string;
  runbooksDir?: string | undefined;
  /** Replace existing keys, certificate and config. */
  force?: boolean;
  timeoutMs?: number;
}

/** Where enrollment put things. */
export interface EnrollResult {
  agent_id: string;
  client_id: string;
  config_file: string;
  evidence_key_file: string;
  cert_file: string;
  key_file: string;
  ca_file: string;
  control_plane_key_id: string;
  not_after: string;
}

/** The files an enrolled agent keeps in its state directory. */
export function enrollmentPaths(stateDir: string) {
  return {
    evidenceKey: join(stateDir, "evidence.key"),
    tlsKey: join(stateDir, "tls", "agent.key"),
    cert: join(stateDir, "tls", "agent.crt"),
    ca: join(stateDir, "tls", "ca.pem"),
  };
}

/** Joins PEM bundles, dropping certificates already present. */
function mergePem(...bundles: string[]): string {
  return `${[...new Set(bundles.flatMap(splitPem).map((p) => p.trim()))].join("\n")}\n`;
}

/** Enrolls this agent; see the module comment. */
export async function enroll(o: EnrollOptions): Promise<EnrollResult> {
  const token = parseWith(EnrollmentToken, o.token.trim(), "enrollment token");
  if (!o.stateDir.startsWith("/") || !o.configOut.startsWith("/") || !o.baselineFile.startsWith("/")) {
    throw new MspError("invalid_input", "--state-dir, --config-out and --baseline must be absolute paths");
  }
  if (splitPem(o.caPem).length === 0)
    throw new MspError("invalid_input", "the CA file holds no PEM certificate");
  const paths = enrollmentPaths(o.stateDir);
  const targets = [paths.evidenceKey, paths.tlsKey, paths.cert, paths.ca, o.configOut];
  const present = targets.filter((p) => existsSync(p));
  if (present.length > 0 && o.force !== true) {
    throw new MspError(
      "conflict",
      `refusing to overwrite ${present.join(", ")} (use --force to replace them)`,
    );
  }
  const evidenceKey = generateSigningKey();
  const tls = generateTlsKeyPair();
  const body: EnrollmentProofBody = {
    purpose: "msp-enroll-v1",
    token,
    agent_id: o.agentId,
    evidence_public_key: evidenceKey.publicKey.toString("base64"),
    tls_public_key: tls.publicKeyPem,
  };
  const request = parseWith(
    EnrollmentRequest,
    {
      token,
      agent_id: o.agentId,
      hostname: o.hostname,
      agent_version: AGENT_VERSION,
      evidence_public_key: body.evidence_public_key,
      tls_public_key: tls.publicKeyPem,
      ...signEnrollmentProof(body, evidenceKey, tls.privateKeyPem),
    },
    "enrollment request",
  );
  const base = o.url.replace(/\/+$/, "");
  const raw = await postJson(`${base}/v1/enroll`, request, { ca: o.caPem }, o.timeoutMs);
  const answer = parseWith(EnrollmentResponse, raw, "enrollment response");
  if (answer.agent_id !== o.agentId) {
    throw new MspError(
      "invalid_input",
      `the control plane enrolled agent ${answer.agent_id}, not ${o.agentId}`,
    );
  }
  if (o.clinicId !== undefined && answer.client_id !== o.clinicId) {
    throw new MspError("invalid_input", `the token belongs to clinic ${answer.client_id}, not ${o.clinicId}`);
  }
  if (keyIdOf(decodePublicKey(answer.control_plane_public_key)) !== answer.control_plane_key_id) {
    throw new MspError("invalid_input", "the answered control-plane key id does not match its public key");
  }
  checkIssuedCertificate(answer.certificate.certificate_pem, answer.certificate.ca_pem, tls);
  const config = parseWith(
    AgentConfig,
    {
      version: 1,
      agent_id: answer.agent_id,
      client_id: answer.client_id,
      control_plane: {
        url: answer.ws_url,
        ca_file: paths.ca,
        cert_file: paths.cert,
        key_file: paths.tlsKey,
        public_key: answer.control_plane_public_key,
      },
      evidence_key_file: paths.evidenceKey,
      state_dir: o.stateDir,
      baseline_file: o.baselineFile,
      ...(o.runbooksDir === undefined ? {} : { runbooks_dir: o.runbooksDir }),
    },
    "generated agent config",
    "invalid_input",
  );
  // Everything checked: write keys first and the config last, so a config on disk means a finished enrollment.
  if (o.force === true) rmSync(paths.evidenceKey, { force: true });
  await saveSigningKey(paths.evidenceKey, evidenceKey);
  writeFileAtomic(paths.tlsKey, tls.privateKeyPem, 0o600);
  writeFileAtomic(paths.cert, answer.certificate.certificate_pem, 0o644);
  // Trust the CA that authenticated enrollment and the internal CA the answer names.
  writeFileAtomic(paths.ca, mergePem(o.caPem, answer.certificate.ca_pem), 0o644);
  // Written with every default spelled out, so the operator sees each setting the agent runs with.
  writeFileAtomic(o.configOut, stringify(config), 0o640);
  return {
    agent_id: answer.agent_id,
    client_id: answer.client_id,
    config_file: o.configOut,
    evidence_key_file: paths.evidenceKey,
    cert_file: paths.cert,
    key_file: paths.tlsKey,
    ca_file: paths.ca,
    control_plane_key_id: answer.control_plane_key_id,
    not_after: answer.certificate.not_after,
  };
}

/** The HTTPS origin of the control plane, from the configured `wss://host:port/...` agent URL. */
export function renewalUrl(wsUrl: string): string {
  const u = new URL(wsUrl);
  return `https://${u.host}/v1/agents/renew`;
}

/** Options of {@link renew}: the agent's control-plane config section plus its id. */
export interface RenewOptions {
  agentId: string;
  controlPlane: Pick<AgentConfig["control_plane"], "url" | "ca_file" | "cert_file" | "key_file">;
  timeoutMs?: number;
}

/**
 * Renews the TLS certificate with a fresh key over mTLS and replaces key and
 * certificate files. The answer is an `IssuedCertificate`, bare or as
 * `{ certificate: IssuedCertificate }`.
 */
export async function renew(o: RenewOptions): Promise<IssuedCertificate> {
  const cp = o.controlPlane;
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch (e) {
      throw new MspError("config_missing", `${p} cannot be read; enroll first`, { cause: e });
    }
  };
  const trust = { ca: read(cp.ca_file), cert: read(cp.cert_file), key: read(cp.key_file) };
  const tls = generateTlsKeyPair();
  const body: RenewalProofBody = {
    purpose: "msp-renew-v1",
    agent_id: o.agentId,
    tls_public_key: tls.publicKeyPem,
  };
  const request = parseWith(
    RenewalRequest,
    { tls_public_key: tls.publicKeyPem, tls_proof: signRenewalProof(body, tls.privateKeyPem) },
    "renewal request",
  );
  const raw = await postJson(renewalUrl(cp.url), request, trust, o.timeoutMs);
  const inner =
    raw !== null && typeof raw === "object" && "certificate" in raw
      ? (raw as { certificate: unknown }).certificate
      : raw;
  const issued = parseWith(IssuedCertificate, inner, "renewal response");
  checkIssuedCertificate(issued.certificate_pem, mergePem(trust.ca, issued.ca_pem), tls);
  // Key first, then certificate: both renames are atomic, and the window between them is two syscalls.
  writeFileAtomic(cp.key_file, tls.privateKeyPem, 0o600);
  writeFileAtomic(cp.cert_file, issued.certificate_pem, 0o644);
  return issued;
}
