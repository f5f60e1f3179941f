/**
 * A real control plane for integration tests: `msp-cp init` into a temp
 * directory, then `startControlPlane` on 127.0.0.1 with a free port, plus
 * helpers to call the API over HTTPS (trusting only the deployment's CA), to
 * enroll an agent exactly as `msp-agent enroll` does, and to open an agent
 * WebSocket with its client certificate. Restarting on the same directory
 * reuses the database, keys and CA.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bundleHash,
  ControlPlaneConfig,
  type EnrollmentResponse,
  type EvidenceBundle,
  GENESIS_HASH,
  generateSigningKey,
  generateTlsKeyPair,
  loadConfigFile,
  type SigningKey,
  signBundle,
  signEnrollmentProof,
  silentLogger,
  systemClock,
} from "@msp/shared";
import WebSocket from "ws";
import { initDeployment } from "../../control-plane/src/cli/init.js";
import { type ControlPlane, startControlPlane } from "../../control-plane/src/server/index.js";
import { unsignedBundle } from "./bundles.js";

export interface TestControlPlane {
  dir: string;
  cp: ControlPlane;
  adminKey: string;
  caPem: string;
  config: ControlPlaneConfig;
  api<T = unknown>(
    method: string,
    path: string,
    key?: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts (or restarts, given the same `dir` and `port`) a control plane. */
export async function startTestControlPlane(
  options: { dir?: string; port?: number; adminKey?: string } = {},
): Promise<TestControlPlane> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "msp-cp-"));
  let adminKey = options.adminKey ?? "";
  if (!existsSync(join(dir, "control-plane.yaml"))) {
    const made = await initDeployment({
      dir,
      host: "127.0.0.1",
      port: 0,
      publicUrl: "https://127.0.0.1:0",
      clock: systemClock,
    });
    adminKey = made.adminKey;
  }
  const config = loadConfigFile(ControlPlaneConfig, join(dir, "control-plane.yaml"));
  const caPem = readFileSync(join(dir, "ca.crt"), "utf8");
  const boot = (port: number) =>
    startControlPlane({
      config: { ...config, listen: { ...config.listen, port } },
      logger: silentLogger,
      verifyWorkers: 1,
    });
  let cp = await boot(options.port ?? 0);
  const handle: TestControlPlane = {
    dir,
    get cp() {
      return cp;
    },
    adminKey,
    caPem,
    config,
    api: (method, path, key, body) =>
      new Promise((resolve, reject) => {
        const text = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            host: "127.0.0.1",
            port: cp.port,
            method,
            path,
            ca: caPem,
            headers: {
              ...(key ? { authorization: `Bearer ${key}` } : {}),
              ...(text
                ? { "content-type": "application/json", "content-length": Buffer.byteLength(text) }
                : {}),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const raw = Buffer.concat(chunks).toString("utf8");
              let parsed: unknown = raw;
              try {
                parsed = JSON.parse(raw);
              } catch {
                // Not JSON (metrics): keep the text.
              }
              resolve({ status: res.statusCode ?? 0, body: parsed as never });
            });
          },
        );
        req.on("error", reject);
        req.end(text);
      }),
    async restart() {
      const port = cp.port;
      await cp.close();
      cp = await boot(port);
    },
    stop: () => cp.close(),
  };
  return handle;
}

/** An enrolled agent's credentials, as `msp-agent enroll` would write them. */
export interface EnrolledAgent {
  agentId: string;
  clientId: string;
  evidenceKey: SigningKey;
  tlsKeyPem: string;
  certPem: string;
  response: EnrollmentResponse;
}

/** Creates a token with the admin key and enrolls `agentId` into `clientId`. */
export async function enrollTestAgent(
  t: TestControlPlane,
  clientId: string,
  agentId: string,
): Promise<EnrolledAgent> {
  const token = await t.api<{ token: string }>(
    "POST",
    `/v1/clinics/${clientId}/enrollment-tokens`,
    t.adminKey,
    {},
  );
  if (token.status !== 201) throw new Error(`token: ${token.status} ${JSON.stringify(token.body)}`);
  const evidenceKey = generateSigningKey();
  const tls = generateTlsKeyPair();
  const body = {
    purpose: "msp-enroll-v1" as const,
    token: token.body.token,
    agent_id: agentId,
    evidence_public_key: evidenceKey.publicKey.toString("base64"),
    tls_public_key: tls.publicKeyPem,
  };
  const proofs = signEnrollmentProof(body, evidenceKey, tls.privateKeyPem);
  const res = await t.api<EnrollmentResponse>("POST", "/v1/enroll", undefined, {
    token: body.token,
    agent_id: agentId,
    hostname: agentId,
    agent_version: "test",
    evidence_public_key: body.evidence_public_key,
    tls_public_key: body.tls_public_key,
    ...proofs,
  });
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    agentId,
    clientId,
    evidenceKey,
    tlsKeyPem: tls.privateKeyPem,
    certPem: res.body.certificate.certificate_pem,
    response: res.body,
  };
}

/** Signed bundles 1..n (or from `from`) of one agent, chained from genesis or from `prev`. */
export function agentChain(agent: EnrolledAgent, n: number, from = 1, prev = GENESIS_HASH): EvidenceBundle[] {
  const out: EvidenceBundle[] = [];
  for (let seq = from; seq < from + n; seq++) {
    const b = signBundle(
      unsignedBundle(seq, prev, {
        client_id: agent.clientId,
        agent_id: agent.agentId,
        hostname: agent.agentId,
      }),
      agent.evidenceKey,
    );
    out.push(b);
    prev = bundleHash(b);
  }
  return out;
}

/** A connected agent socket with a frame inbox. */
export interface AgentSocket {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(frame: unknown): void;
  close(): Promise<void>;
}

/** Opens the agent WebSocket with a client certificate (default: the agent's own). */
export function connectAgent(
  t: TestControlPlane,
  creds: { certPem: string; keyPem: string } | null,
): Promise<AgentSocket | { refused: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${t.cp.port}/v1/agent`, {
      ca: t.caPem,
      ...(creds ? { cert: creds.certPem, key: creds.keyPem } : {}),
    });
    const frames: Record<string, unknown>[] = [];
    const waiters: { type: string; resolve: (f: Record<string, unknown>) => void }[] = [];
    ws.on("message", (data) => {
      const f = JSON.parse(String(data)) as Record<string, unknown>;
      const i = waiters.findIndex((w) => w.type === f.type);
      if (i >= 0) waiters.splice(i, 1)[0]?.resolve(f);
      else frames.push(f);
    });
    ws.on("unexpected-response", (_req, res) => resolve({ refused: res.statusCode ?? 0 }));
    ws.on("error", (e) => reject(e));
    ws.on("open", () =>
      resolve({
        ws,
        frames,
        next: (type, timeoutMs = 5000) => {
          const i = frames.findIndex((f) => f.type === type);
          if (i >= 0) return Promise.resolve(frames.splice(i, 1)[0] as Record<string, unknown>);
          return new Promise((res, rej) => {
            const timer = setTimeout(
              () => rej(new Error(`no ${type} frame within ${timeoutMs} ms`)),
              timeoutMs,
            );
            waiters.push({
              type,
              resolve: (f) => {
                clearTimeout(timer);
                res(f);
              },
            });
          });
        },
        send: (frame) => ws.send(JSON.stringify(frame)),
        close: () =>
          new Promise((res) => {
            if (ws.readyState === WebSocket.CLOSED) return res();
            ws.once("close", () => res());
            ws.close();
          }),
      }),
    );
  });
}
