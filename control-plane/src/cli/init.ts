/**
 * `msp-cp init`: everything a new deployment needs, made locally: the
 * control-plane ed25519 signing key, the internal CA, the listener's server
 * certificate (issued by that CA), a config file on embedded defaults
 * (SQLite, local WORM directory, rule-based planner) and the first admin API
 * key, printed once. It refuses to touch a directory that already holds a config.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import {
  type Clock,
  ControlPlaneConfig,
  generateSigningKey,
  MspError,
  parseWith,
  saveSigningKey,
} from "@msp/shared";
import { stringify } from "yaml";
import { createApiKeys } from "../auth/index.js";
import { migrate, openDatabase } from "../db/index.js";
import { loadOrCreateCertificateAuthority } from "../pki/index.js";
import { ALL_MIGRATIONS } from "../server/migrations.js";

export interface InitOptions {
  dir: string;
  host: string;
  port: number;
  /** How agents and operators reach the listener; default https://host:port. */
  publicUrl?: string;
  clock: Clock;
}

export interface InitResult {
  configFile: string;
  adminKey: string;
  caFile: string;
  config: ControlPlaneConfig;
}

export async function initDeployment(options: InitOptions): Promise<InitResult> {
  const dir = resolve(options.dir);
  const configFile = join(dir, "control-plane.yaml");
  if (existsSync(configFile))
    throw new MspError("conflict", `${configFile} already exists; init never overwrites a deployment`);
  await mkdir(join(dir, "tls"), { recursive: true, mode: 0o700 });
  const publicUrl = options.publicUrl ?? `https://${options.host}:${options.port}`;
  const config = parseWith(
    ControlPlaneConfig,
    {
      version: 1,
      listen: { host: options.host, port: options.port },
      public_url: publicUrl,
      data_dir: join(dir, "data"),
      signing_key_file: join(dir, "signing.key"),
      tls: { cert_file: join(dir, "tls", "server.crt"), key_file: join(dir, "tls", "server.key") },
      worm: { kind: "local", dir: join(dir, "worm") },
      planner: { kind: "rules" },
    },
    "generated config",
    "internal",
  );
  await saveSigningKey(config.signing_key_file, generateSigningKey());
  const ca = await loadOrCreateCertificateAuthority({
    dir: join(config.data_dir, "ca"),
    clock: options.clock,
    commonName: "MSP control plane CA",
  });
  const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, "");
  const names = [...new Set([host, options.host, "localhost", "127.0.0.1"])].filter(
    (n) => n !== "0.0.0.0" && n !== "::",
  );
  const server = ca.issueServerCertificate({
    hostnames: names.filter((n) => isIP(n) !== 0 || /^[a-z0-9.-]+$/i.test(n)),
    days: 397,
  });
  await writeFile(config.tls.cert_file, server.certificatePem, { mode: 0o644 });
  await writeFile(config.tls.key_file, server.privateKeyPem ?? "", { mode: 0o600 });
  await writeFile(join(dir, "ca.crt"), ca.certificatePem, { mode: 0o644 });
  const db = openDatabase(join(config.data_dir, "control-plane.db"));
  try {
    migrate(db, ALL_MIGRATIONS);
    const keys = createApiKeys(db, options.clock);
    const { key } = keys.create({ name: "initial admin", role: "admin", client_id: null, created_by: null });
    await writeFile(
      configFile,
      `# Written by msp-cp init. Schema: ControlPlaneConfig (shared/src/protocol/config.ts).\n${stringify(config)}`,
      {
        mode: 0o600,
      },
    );
    return { configFile, adminKey: key, caFile: join(dir, "ca.crt"), config };
  } finally {
    db.close();
  }
}
