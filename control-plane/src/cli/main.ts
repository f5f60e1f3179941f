#!/usr/bin/env node
/**
 * `msp-cp`: the control plane's command line. Thin: each command parses its
 * flags strictly (unknown flags are errors), loads the config once, and calls
 * a module. Exit codes: 0 ok, 1 failure, 2 usage error.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  ControlPlaneConfig,
  CreateApiKeyRequest,
  CreateClinicRequest,
  createLogger,
  isMspError,
  loadConfigFile,
  loadSigningKey,
  MspError,
  parseWith,
  systemClock,
  toMspError,
} from "@msp/shared";
import { createAuditLog } from "../audit/index.js";
import { createApiKeys } from "../auth/index.js";
import { migrate, openDatabase } from "../db/index.js";
import { exportEvidence } from "../export/index.js";
import { createPacketService } from "../packets/index.js";
import { createRegistry } from "../registry/index.js";
import { startControlPlane } from "../server/index.js";
import { ALL_MIGRATIONS } from "../server/migrations.js";
import { objectStoreOf } from "../server/worm.js";
import { CONTROL_PLANE_VERSION } from "../version.js";
import { initDeployment } from "./init.js";

const HELP: Record<string, string> = {
  "": `msp-cp ${CONTROL_PLANE_VERSION}: control plane of the MSP HIPAA compliance autopilot

Usage: msp-cp <command> [options]

Commands:
  init         create a deployment: keys, internal CA, server certificate, config, first admin key
  serve        run the control plane (API + agent WebSocket on one HTTPS listener)
  clinic       clinic create: add a clinic
  api-key      api-key create: make an API key (printed once)
  token        token create: one-time agent enrollment token (printed once)
  export       evidence export for auditors (bundles, signed checkpoints, keys), checked with msp-verify
  packet       monthly compliance packet for one clinic (Markdown, HTML, PDF), signed and queued for WORM
  version      print the version

Run 'msp-cp <command> --help' for a command's options.
Config: --config PATH, or MSP_CP_CONFIG; any field can be overridden with MSP_CP__SECTION__FIELD.`,
  init: `Usage: msp-cp init --dir DIR [--host 127.0.0.1] [--port 8443] [--public-url https://host:port]

Creates DIR/control-plane.yaml on embedded defaults (SQLite, local WORM directory
- not tamper-proof, for demos - and the rule-based planner), the signing key, the
internal CA (DIR/ca.crt is what agents trust), the server certificate, and prints
the first admin API key once. Refuses a DIR that already holds a config.`,
  serve: `Usage: msp-cp serve --config PATH

Serves /v1 (operator API, OpenAPI at /openapi.json), /metrics, and /v1/agent
(agent WebSocket over mutual TLS). SIGTERM/SIGINT drain ingest, then exit.`,
  clinic: `Usage: msp-cp clinic create --config PATH --id CLINIC_ID --name NAME [--service UNIT]...`,
  "api-key": `Usage: msp-cp api-key create --config PATH --name NAME --role admin|operator|auditor [--clinic CLINIC_ID]

Operator and auditor keys need --clinic; admin keys span all clinics. The key is printed once.`,
  token: `Usage: msp-cp token create --config PATH --clinic CLINIC_ID [--ttl SECONDS]

Prints a one-time enrollment token for 'msp-agent enroll' (default lifetime 86400 s).`,
  export: `Usage: msp-cp export --config PATH --clinic CLINIC_ID --from YYYY-MM-DD --to YYYY-MM-DD --out DIR

Writes DIR/manifest.json, bundles/<agent>/<seq>.json (exactly as stored) and
checkpoints/<day>.json (the signed daily Merkle checkpoints, read back from WORM)
for the receipt days in the range. The auditor checks it offline:
  pnpm verify DIR --control-plane-key <base64 key pinned out of band>`,
  packet: `Usage: msp-cp packet --config PATH --clinic CLINIC_ID --month YYYY-MM

Generates the clinic's compliance packet for the month (UTC) from stored
evidence: packet.json, packet.md, packet.html and packet.pdf (headless
/usr/bin/chromium; without it the packet is made without a PDF and says why),
plus signature.json signed with the control-plane key. Writes them under
<data_dir>/packets/CLINIC_ID/<packet id>/, lists the packet in the API
(GET /v1/clinics/CLINIC_ID/packets) and queues every file for WORM upload,
done by the running control plane. Prints the packet record as JSON.`,
  version: "Usage: msp-cp version",
};

type Out = (s: string) => void;

function loadConfig(path: string | undefined): ControlPlaneConfig {
  const file = path ?? process.env.MSP_CP_CONFIG;
  if (file === undefined) throw new MspError("config_missing", "give --config PATH (or set MSP_CP_CONFIG)");
  return loadConfigFile(ControlPlaneConfig, file, { envPrefix: "MSP_CP" });
}

/** Opens the deployment database for offline admin commands, recording each in the audit log. */
function withDb<T>(
  config: ControlPlaneConfig,
  action: string,
  clientId: string | null,
  fn: (db: ReturnType<typeof openDatabase>) => T,
): T {
  const db = openDatabase(join(config.data_dir, "control-plane.db"));
  try {
    migrate(db, ALL_MIGRATIONS);
    const audit = createAuditLog(db, systemClock);
    try {
      const result = fn(db);
      audit.record({
        actor_key_id: null,
        actor_role: "cli",
        client_id: clientId,
        action,
        target: null,
        outcome: "ok",
        status: 0,
        error_code: null,
        remote: null,
      });
      return result;
    } catch (e) {
      const err = toMspError(e);
      audit.record({
        actor_key_id: null,
        actor_role: "cli",
        client_id: clientId,
        action,
        target: null,
        outcome: "failed",
        status: err.status,
        error_code: err.code,
        remote: null,
      });
      throw e;
    }
  } finally {
    db.close();
  }
}

async function run(argv: string[], out: Out): Promise<number> {
  const [command = "", ...rest] = argv;
  const sub = rest[0] !== undefined && !rest[0].startsWith("--") ? rest.shift() : undefined;
  if (command === "" || command === "--help" || command === "help") {
    out(HELP[""] ?? "");
    return command === "" ? 2 : 0;
  }
  if (!(command in HELP))
    throw new MspError("invalid_input", `unknown command '${command}'; see msp-cp --help`);
  const { values } = parseArgs({
    args: rest,
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: "boolean" },
      config: { type: "string" },
      dir: { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "public-url": { type: "string" },
      id: { type: "string" },
      name: { type: "string" },
      service: { type: "string", multiple: true },
      role: { type: "string" },
      clinic: { type: "string" },
      ttl: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      out: { type: "string" },
      month: { type: "string" },
    },
  });
  if (values.help) {
    out(HELP[command] ?? "");
    return 0;
  }
  const need = (name: keyof typeof values) => {
    const v = values[name];
    if (typeof v !== "string" || v === "")
      throw new MspError("invalid_input", `--${name} is required; see msp-cp ${command} --help`);
    return v;
  };
  const intOf = (name: string, text: string, min: number, max: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new MspError("invalid_input", `--${name} must be an integer ${min}..${max}`);
    return n;
  };
  const expectSub = (want: string) => {
    if (sub !== want) throw new MspError("invalid_input", `usage: msp-cp ${command} ${want} ...; see --help`);
  };

  switch (command) {
    case "version":
      out(`msp-cp ${CONTROL_PLANE_VERSION}`);
      return 0;
    case "init": {
      const host = values.host ?? "127.0.0.1";
      const result = await initDeployment({
        dir: need("dir"),
        host,
        port: intOf("port", values.port ?? "8443", 0, 65535),
        ...(values["public-url"] ? { publicUrl: values["public-url"] } : {}),
        clock: systemClock,
      });
      out(
        [
          `config       ${result.configFile}`,
          `agent CA     ${result.caFile}   (agents pass it to 'msp-agent enroll --ca-file')`,
          `admin key    ${result.adminKey}`,
          "             shown once: store it in your secrets manager now.",
          `start with   msp-cp serve --config ${result.configFile}`,
        ].join("\n"),
      );
      return 0;
    }
    case "serve": {
      const config = loadConfig(values.config);
      const logger = createLogger(config.log_level);
      const cp = await startControlPlane({ config, logger });
      out(JSON.stringify({ listening: cp.url, pid: process.pid }));
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      await cp.close();
      return 0;
    }
    case "clinic": {
      expectSub("create");
      const config = loadConfig(values.config);
      const id = need("id");
      // The same schema as POST /v1/clinics, so the CLI cannot create what the API would refuse.
      const input = parseWith(
        CreateClinicRequest,
        { client_id: id, name: need("name"), service_allowlist: values.service ?? [] },
        "clinic",
      );
      const clinic = withDb(config, "cli clinic create", id, (db) =>
        createRegistry(db, systemClock).createClinic(input),
      );
      out(JSON.stringify(clinic, null, 2));
      return 0;
    }
    case "api-key": {
      expectSub("create");
      const config = loadConfig(values.config);
      const input = parseWith(
        CreateApiKeyRequest,
        { name: need("name"), role: need("role"), client_id: values.clinic ?? null },
        "API key",
      );
      const made = withDb(config, "cli api-key create", input.client_id, (db) => {
        if (
          input.client_id !== null &&
          createRegistry(db, systemClock).getClinic(input.client_id) === undefined
        ) {
          throw new MspError("not_found", `clinic ${input.client_id} not found`);
        }
        return createApiKeys(db, systemClock).create({ ...input, created_by: null });
      });
      out(`${made.key}\n(key id ${made.info.key_id}, role ${made.info.role}; shown once)`);
      return 0;
    }
    case "token": {
      expectSub("create");
      const config = loadConfig(values.config);
      const clinic = need("clinic");
      const ttl = intOf("ttl", values.ttl ?? "86400", 60, 7 * 86400);
      const token = withDb(config, "cli token create", clinic, (db) =>
        createRegistry(db, systemClock).createEnrollmentToken({
          client_id: clinic,
          ttl_seconds: ttl,
          created_by: null,
        }),
      );
      out(
        `${token.token}\n(token ${token.token_id} for clinic ${clinic}, expires ${token.expires_at}; shown once)`,
      );
      return 0;
    }
    case "export": {
      const config = loadConfig(values.config);
      const logger = createLogger("warn");
      const key = await loadSigningKey(config.signing_key_file);
      const store = await objectStoreOf(config, systemClock, logger);
      const db = openDatabase(join(config.data_dir, "control-plane.db"));
      try {
        migrate(db, ALL_MIGRATIONS);
        if (createRegistry(db, systemClock).getClinic(need("clinic")) === undefined) {
          throw new MspError("not_found", `clinic ${need("clinic")} not found`);
        }
        const result = await exportEvidence({
          db,
          clinicId: need("clinic"),
          from: need("from"),
          to: need("to"),
          outDir: need("out"),
          controlPlanePublicKey: key.publicKey.toString("base64"),
          objectStore: store,
        });
        out(`${result.manifest.bundles.length} bundles exported to ${result.dir}`);
      } finally {
        db.close();
      }
      return 0;
    }
    case "packet": {
      const config = loadConfig(values.config);
      const clinic = need("clinic");
      const month = need("month");
      const signingKey = await loadSigningKey(config.signing_key_file);
      const db = openDatabase(join(config.data_dir, "control-plane.db"));
      try {
        migrate(db, ALL_MIGRATIONS);
        const registry = createRegistry(db, systemClock);
        const packets = createPacketService({
          db,
          dataDir: config.data_dir,
          signingKey,
          clock: systemClock,
          clinicName: (id) => registry.getClinic(id)?.name,
          retentionYears: config.retention_years,
        });
        const made = await packets.generate({ clinicId: clinic, month, generatedBy: "cli" });
        createAuditLog(db, systemClock).record({
          actor_key_id: null,
          actor_role: "cli",
          client_id: clinic,
          action: "cli packet",
          target: made.packet_id,
          outcome: "ok",
          status: 0,
          error_code: null,
          remote: null,
        });
        out(JSON.stringify(made, null, 2));
      } finally {
        db.close();
      }
      return 0;
    }
    default:
      throw new MspError("invalid_input", `unknown command '${command}'`);
  }
}

/** Entry point; returns the exit code. Exported for tests. */
export async function main(
  argv: string[],
  out: Out = (s) => process.stdout.write(`${s}\n`),
): Promise<number> {
  try {
    return await run(argv, out);
  } catch (e) {
    const usage = (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
    const err = usage ? new MspError("invalid_input", (e as Error).message) : toMspError(e);
    process.stderr.write(`msp-cp: ${err.code}: ${err.message}\n`);
    return isMspError(err, "invalid_input") || usage ? 2 : 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /[\\/]cli[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
