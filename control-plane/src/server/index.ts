/**
 * The control plane's composition root: it builds every part from the config
 * and wires them together, then serves the API and the agent WebSocket on one
 * HTTPS listener. Client certificates are requested but not required at the
 * TLS layer, because operators use API keys; the agent endpoint refuses any
 * upgrade without a verified, enrolled, unrevoked agent certificate.
 *
 * Shutdown order keeps the no-loss invariant: stop accepting connections,
 * close agent sockets, drain ingest (every submitted bundle committed and
 * answered), then close the database.
 */
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { getRequestListener } from "@hono/node-server";
import {
  type Clock,
  type ControlPlaneConfig,
  createLogger,
  EvidenceBundle,
  type Logger,
  loadSigningKey,
  readSecretFile,
  type SigningKey,
  systemClock,
} from "@msp/shared";
import type { Hono } from "hono";
import { createAgentEndpoint } from "../agent-ws/index.js";
import { createApp } from "../api/app.js";
import type { ApiEnv, RouteDef } from "../api/route.js";
import { createAuditLog } from "../audit/index.js";
import { createApiKeys } from "../auth/index.js";
import { createDashboardEvents, mountDashboard, observeIncidentService } from "../dashboard/index.js";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { createEvidenceStore, createIngest, type StoredRow } from "../evidence/index.js";
import { BREAKER_NAMES, createBreakers } from "../guardrails/breaker.js";
import { createRateLimiter } from "../guardrails/rate-limit.js";
import { createIncidentService } from "../incidents/service.js";
import { createIncidentStore } from "../incidents/store.js";
import { createMetrics } from "../metrics/index.js";
import { createPacketService, packetFactsSink } from "../packets/index.js";
import { computePosture } from "../packets/posture.js";
import {
  type CertificateAuthority,
  identityFromCertificate,
  loadOrCreateCertificateAuthority,
  verifyEnrollmentProof,
  verifyRenewalProof,
} from "../pki/index.js";
import { createPlanner, createPlanStore } from "../planner/index.js";
import { createRegistry } from "../registry/index.js";
import { enrollmentRoutes } from "../routes/enrollment.js";
import { evidenceRoutes } from "../routes/evidence.js";
import { fleetRoutes } from "../routes/fleet.js";
import { incidentRoutes } from "../routes/incidents.js";
import { metaRoutes } from "../routes/meta.js";
import { packetRoutes } from "../routes/packets.js";
import { runbookRoutes } from "../routes/runbooks.js";
import { loadRunbookCatalog } from "../runbooks/index.js";
import { CONTROL_PLANE_VERSION } from "../version.js";
import { storedBundleSink } from "../worm/index.js";
import { ALL_MIGRATIONS } from "./migrations.js";
import { createValidators } from "./validation.js";
import { createWorm } from "./worm.js";

/** How long a command stays valid for an agent that is offline when it is issued. */
const COMMAND_TTL_SECONDS = 3600;

export interface ControlPlaneOptions {
  config: ControlPlaneConfig;
  clock?: Clock;
  logger?: Logger;
  /** Verify worker threads (default: one per core; 0 verifies inline). */
  verifyWorkers?: number;
}

/** A running control plane. */
export interface ControlPlane {
  readonly port: number;
  /** `https://host:port` of the listener. */
  readonly url: string;
  readonly app: Hono<ApiEnv>;
  readonly db: Db;
  readonly ca: CertificateAuthority;
  readonly signingKey: SigningKey;
  /** Stops accepting, closes agent sockets, drains ingest, closes the database. */
  close(): Promise<void>;
}

/** The agent identity of a TLS peer whose client certificate the handshake verified, else null. */
function verifiedPeer(socket: TLSSocket) {
  return socket.authorized ? identityFromCertificate(socket.getPeerCertificate()) : null;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log_level);
  await mkdir(config.data_dir, { recursive: true, mode: 0o700 });

  const db = openDatabase(join(config.data_dir, "control-plane.db"));
  const applied = migrate(db, ALL_MIGRATIONS);
  if (applied.length > 0) logger.log("info", "database migrated", { applied });

  const signingKey = await loadSigningKey(config.signing_key_file);
  const ca = await loadOrCreateCertificateAuthority({
    dir: join(config.data_dir, "ca"),
    clock,
    commonName: "MSP control plane CA",
  });
  const catalog = loadRunbookCatalog(config.runbooks_dir);
  const metrics = createMetrics();
  const registry = createRegistry(db, clock);
  const apiKeys = createApiKeys(db, clock);
  const audit = createAuditLog(db, clock);
  const evidence = createEvidenceStore({ db, keys: registry });
  const rateLimiter = createRateLimiter({ db, clock, limits: config.rate_limits });
  const breakers = createBreakers({ db, clock });
  const llmBreaker = breakers.get(BREAKER_NAMES.llm);
  const planner = createPlanner({
    db,
    clock,
    runbooks: catalog.list().map((r) => r.definition),
    approvalThreshold: config.approval.confidence_threshold,
    // Clinic site parameters (set through the API) fill what an incident does not carry.
    siteParams: (incident, runbookId) =>
      registry.getClinic(incident.client_id)?.runbook_params[runbookId] ?? {},
    llm:
      config.planner.kind === "llm"
        ? {
            baseURL: config.planner.base_url,
            model: config.planner.model,
            apiKey: readSecretFile(config.planner.api_key_file, "planner API key"),
            timeoutMs: config.planner.timeout_ms,
          }
        : null,
    circuit: {
      allowRequest: () => llmBreaker.allow().allowed,
      recordSuccess: () => llmBreaker.recordSuccess(),
      recordFailure: () => llmBreaker.recordFailure(),
    },
  });
  const plans = createPlanStore(db);
  const incidentStore = createIncidentStore(db, clock);
  const validators = createValidators({ catalog, registry });

  // The endpoint is created after the service, which needs its `send`; a holder breaks the cycle.
  let sendToAgent: (agentId: string, frame: unknown) => boolean = () => false;
  // Live dashboard updates: the service announces every incident, plan and command change.
  const events = createDashboardEvents();
  const service = observeIncidentService(
    createIncidentService({
      store: incidentStore,
      planner,
      plans,
      catalog,
      agents: { get: (id) => registry.getAgent(id), list: (c) => registry.listAgents(c) },
      validateIncident: validators.incident,
      validateParams: validators.params,
      rateLimiter,
      breakers,
      signingKey,
      clock,
      logger,
      metrics,
      send: (agentId, frame) => sendToAgent(agentId, frame),
      commandTtlSeconds: COMMAND_TTL_SECONDS,
    }),
    events,
    (agentId) => registry.getAgent(agentId)?.client_id,
  );

  const uploader = await createWorm({ config, db, clock, logger, signingKey });
  // Refuses storage without Object Lock and versioning: the control plane must not run on it.
  await uploader.start();
  const storedHooks: ((rows: readonly StoredRow[]) => void)[] = [
    storedBundleSink(uploader, (e, row) =>
      logger.log("error", "WORM enqueue failed", {
        code: e.code,
        message: e.message,
        agent_id: row.agent_id,
        seq: row.seq,
      }),
    ),
    // What each bundle contributes to a compliance packet, so a packet need not re-read every body.
    packetFactsSink(db, (e, row) =>
      logger.log("warn", "packet facts not recorded; the next packet derives them from the stored body", {
        code: e.code,
        message: e.message,
        agent_id: row?.agent_id,
        seq: row?.seq,
      }),
    ),
    (rows) => {
      const executions = rows.filter((r) => r.kind.startsWith("runbook_"));
      if (executions.length > 0)
        service.onEvidence(executions.map((r) => EvidenceBundle.parse(JSON.parse(r.body))));
    },
  ];
  const ingest = await createIngest({
    db,
    keys: registry,
    signingKey,
    clock,
    ...(options.verifyWorkers === undefined ? {} : { workers: options.verifyWorkers }),
    onStored: (rows) => {
      for (const hook of storedHooks) hook(rows);
    },
    onError: (e) => logger.log("error", "ingest failure", { code: e.code, message: e.message }),
  });

  const endpoint = createAgentEndpoint({
    ingest,
    clock,
    identify: (socket: TLSSocket) => {
      const id = verifiedPeer(socket);
      if (id === null) return null;
      const status = registry.certificateStatus({
        serial: id.serial,
        agentId: id.agent_id,
        clientId: id.client_id,
      });
      return status === "ok" ? { agent_id: id.agent_id, client_id: id.client_id } : null;
    },
    isRevoked: (who) => registry.evidenceKeyOf(who.agent_id) === undefined,
    onHello: (who, hello) => {
      registry.markConnected({
        agentId: who.agent_id,
        hostname: hello.hostname,
        agentVersion: hello.agent_version,
        catalogSha256: hello.catalog_sha256,
        lastSeq: hello.last_seq,
      });
      if (hello.catalog_sha256 !== catalog.catalogSha256) {
        logger.log("warn", "agent runbook catalog differs from the control plane's", {
          agent_id: who.agent_id,
        });
      }
      logger.log("info", "agent connected", {
        agent_id: who.agent_id,
        client_id: who.client_id,
        version: hello.agent_version,
      });
      service.onAgentConnected(who.agent_id);
      events.publish({
        type: "agent",
        client_id: who.client_id,
        agent_id: who.agent_id,
        connection: "online",
      });
    },
    onDisconnect: (who, info) => {
      registry.markSeen(who.agent_id);
      // A reconnect may already have replaced this socket: report the agent as it stands now.
      events.publish({
        type: "agent",
        client_id: who.client_id,
        agent_id: who.agent_id,
        connection: endpoint.connected(who.agent_id) ? "online" : "offline",
      });
      logger.log("info", "agent disconnected", { agent_id: who.agent_id, code: info.code });
    },
    onIncident: (who, incident) => {
      service
        .submit(incident, { kind: "agent", agent_id: who.agent_id, client_id: who.client_id })
        .catch((e: unknown) => {
          logger.log("warn", "agent incident refused", {
            agent_id: who.agent_id,
            incident_id: incident.incident_id,
            err: String(e),
          });
        });
    },
    onCommandStatus: (who, frame) => service.onCommandStatus(who.agent_id, frame),
  });
  sendToAgent = (agentId, frame) => endpoint.send(agentId, frame as Parameters<typeof endpoint.send>[1]);

  metrics.gauge("msp_worm_objects", "WORM upload queue by state.", () =>
    Object.entries(uploader.counts()).map(([state, value]) => ({ labels: { state }, value })),
  );
  metrics.gauge("msp_agents_connected", "Agents with a live WebSocket.", () => endpoint.connections().length);
  metrics.gauge(
    "msp_ingest_pending",
    "Bundles submitted and not yet answered.",
    () => ingest.stats().pending,
  );
  metrics.gauge(
    "msp_bundles_ingested",
    "Bundles stored since start (counter semantics).",
    () => ingest.stats().stored,
  );
  metrics.gauge(
    "msp_bundles_rejected",
    "Bundles refused since start, any reason.",
    () => ingest.stats().rejected,
  );
  metrics.gauge("msp_frame_rejections", "Frames rejected by the agent endpoint, by reason.", () =>
    Object.entries(endpoint.counters.rejections).map(([reason, value]) => ({
      labels: { reason },
      value: value as number,
    })),
  );

  const packets = createPacketService({
    db,
    dataDir: config.data_dir,
    signingKey,
    clock,
    clinicName: (id) => registry.getClinic(id)?.name,
    retentionYears: config.retention_years,
    // Upload the packet now rather than at the uploader's next idle wake-up.
    onQueued: () => {
      uploader
        .pump()
        .catch((e: unknown) => logger.log("warn", "WORM upload of a packet deferred", { err: String(e) }));
    },
  });

  const publicUrl = new URL(config.public_url);
  let boundPort = config.listen.port;
  // A public URL on port 0 means "wherever the listener landed" (tests and demos on a free port).
  const wsUrl = () =>
    publicUrl.port === "0"
      ? `wss://${publicUrl.hostname}:${boundPort}/v1/agent`
      : `wss://${publicUrl.host}/v1/agent`;
  const apiRoutes: RouteDef[] = [
    ...metaRoutes({
      version: CONTROL_PLANE_VERSION,
      metrics,
      checks: {
        database: () => (db.open ? null : "closed"),
        worm: () => {
          const failed = uploader.counts().failed;
          return failed > 0 ? `${failed} WORM uploads failed; see the log` : null;
        },
      },
    }),
    ...fleetRoutes({
      registry,
      apiKeys,
      audit,
      connected: (id) => endpoint.connected(id),
      driftOf: (client_id, agent_id) => evidence.driftLatest({ client_id, agent_id }),
      checkRunbookParams: validators.params,
    }),
    ...enrollmentRoutes({
      registry,
      issue: ({ clientId, agentId, publicKeyPem }) =>
        ca.issueClientCertificate({
          clinicId: clientId,
          agentId,
          publicKeyPem,
          days: config.agent_cert_days,
        }),
      verifyEnrollmentProof: (r) => void verifyEnrollmentProof(r),
      verifyRenewalProof: (agentId, r) => void verifyRenewalProof(agentId, r),
      controlPlaneKey: { public_key: signingKey.publicKey.toString("base64"), key_id: signingKey.keyId },
      wsUrl,
      peer: (c) => {
        const socket = (c.env as { incoming?: { socket?: TLSSocket } } | undefined)?.incoming?.socket;
        const id = socket === undefined ? null : verifiedPeer(socket);
        return id === null ? null : { client_id: id.client_id, agent_id: id.agent_id, serial: id.serial };
      },
    }),
    ...runbookRoutes(catalog),
    ...incidentRoutes({
      service,
      store: incidentStore,
      plans,
      planningLog: planner.log,
      rateLimiter,
      breakers,
    }),
    ...evidenceRoutes({ evidence, proofs: uploader }),
    ...packetRoutes({ packets }),
  ];
  const app = createApp({
    clock,
    logger,
    metrics,
    apiKeys,
    audit,
    version: CONTROL_PLANE_VERSION,
    clinicExists: (id) => registry.getClinic(id) !== undefined,
    routes: apiRoutes,
  });
  const dashboard = mountDashboard(app, {
    db,
    clock,
    logger,
    apiKeys,
    registry,
    evidence,
    incidents: incidentStore,
    plans,
    connected: (id) => endpoint.connected(id),
    posture: (clinicId, month) => computePosture(db, { clinicId, month }),
    packets,
    wormStorage: config.worm.kind,
    events,
    apiRoutes,
  });

  const server: Server = createServer(
    {
      cert: readFileSync(config.tls.cert_file),
      key: readFileSync(config.tls.key_file),
      ca: [ca.certificatePem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: "TLSv1.2",
    },
    getRequestListener(app.fetch),
  );
  server.on("upgrade", (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
  const tlsRefused = metrics.counter(
    "msp_tls_handshakes_refused_total",
    "TLS handshakes that failed (bad, expired or foreign certificates, old TLS).",
  );
  server.on("tlsClientError", () => tlsRefused.inc());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.listen.port, config.listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  boundPort = port;
  logger.log("info", "control plane listening", {
    host: config.listen.host,
    port,
    version: CONTROL_PLANE_VERSION,
  });

  let closed: Promise<void> | null = null;
  return {
    port,
    url: `https://${config.listen.host}:${port}`,
    app,
    db,
    ca,
    signingKey,
    close() {
      closed ??= (async () => {
        dashboard.close();
        server.close();
        await endpoint.close();
        await ingest.close();
        await uploader.stop();
        server.closeAllConnections();
        db.close();
        logger.log("info", "control plane stopped", {});
      })();
      return closed;
    },
  };
}
