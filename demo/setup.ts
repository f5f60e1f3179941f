/**
 * The demo's first half: a real control plane (`msp-cp init` logic, then
 * `msp-cp serve` as a child process), the clinic and its site parameters set
 * through the operator API with the admin key, the simulated clinic server,
 * and the agent enrolled by the real `msp-agent enroll`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type InitResult, initDeployment } from "../control-plane/dist/cli/init.js";
import { AgentConfig, Baseline, loadConfigFile, parseWith, systemClock } from "../shared/dist/index.js";
import { type Api, createApi } from "./api.js";
import { type Daemon, runNodeOk, startDaemon } from "./children.js";
import { DemoError } from "./errors.js";
import { COMMANDS, RUNBOOKS_DIR } from "./result.js";
import {
  AGENT,
  baselineOf,
  CLINIC,
  confineAgentConfig,
  type DemoLayout,
  outside,
  writeClinicServer,
} from "./site.js";
import type { Steps } from "./steps.js";

/** How old the simulated last nightly backup is: past the 26 h the baseline allows. */
const STALE_HOURS = 72;
/** Waits for the live system: generous, because the machine may be busy; the happy path takes seconds. */
export const WAIT_MS = 30_000;

/** The running deployment the remediation steps work with. */
export interface Deployment {
  init: InitResult;
  adminKeyFile: string;
  cp: Daemon;
  url: string;
  cpLog: string;
  api: Api;
  /** The enrolled, confined agent config. */
  agentConfig: AgentConfig;
  /** The stale backup the drift check must fail on. */
  oldBackup: string;
}

/** `https://127.0.0.1:<port>` as `msp-cp serve` reported it, or a `DemoError`. */
function portOf(url: string): number {
  let port = Number.NaN;
  try {
    port = Number(new URL(url).port);
  } catch {
    // Reported below.
  }
  if (!Number.isInteger(port) || port <= 0) throw new DemoError(`msp-cp serve reported "${url}", not a URL`);
  return port;
}

/** Runs the setup steps; `track` registers each daemon so the caller can stop it whatever happens. */
export async function runSetup(l: DemoLayout, steps: Steps, track: (d: Daemon) => void): Promise<Deployment> {
  const init = await steps.run("msp-cp init: control plane on embedded defaults", async () => {
    const made = await initDeployment({
      dir: l.controlPlane,
      host: "127.0.0.1",
      port: 0,
      publicUrl: "https://127.0.0.1:0",
      clock: systemClock,
    });
    const keyFile = join(l.controlPlane, "admin.key");
    writeFileSync(keyFile, `${made.adminKey}\n`, { mode: 0o600 });
    const c = made.config;
    return {
      value: { made, keyFile },
      lines: [
        `config    ${made.configFile}`,
        `database  SQLite ${join(c.data_dir, "control-plane.db")}`,
        `WORM      local directory ${c.worm.kind === "local" ? c.worm.dir : "?"} (NOT tamper-proof; S3 Object Lock in production)`,
        `planner   ${c.planner.kind === "rules" ? "rule-based (no LLM configured)" : c.planner.kind}`,
        `admin key ${keyFile} (0600)`,
      ],
    };
  });
  const cpLog = join(l.logs, "control-plane.log");

  const cp = await steps.run("msp-cp serve: API and agent WebSocket on one HTTPS listener", async () => {
    const d = await startDaemon({
      name: "control-plane",
      script: COMMANDS.cp,
      args: ["serve", "--config", init.made.configFile],
      logFile: cpLog,
      pidDir: l.pids,
      home: l.home,
      readyTimeoutMs: WAIT_MS,
    });
    track(d);
    const url = String(d.ready.listening ?? "");
    const port = portOf(url);
    return { value: { d, url, port }, lines: [`${url}  (pid ${d.pid}, log ${cpLog})`] };
  });
  const caPem = readFileSync(init.made.caFile, "utf8");
  const api = createApi({ port: cp.port, caPem, key: init.made.adminKey });

  const oldBackup = await steps.run(
    "Simulated clinic server: synthetic EHR export, stale backup",
    async () => {
      const id = writeClinicServer(l, new Date(), STALE_HOURS);
      return {
        value: id,
        lines: [
          `data      ${l.clinicData} (synthetic records, no real PHI)`,
          `backups   ${l.backups}: newest ${id}, ${STALE_HOURS} h old (the nightly job "stopped")`,
        ],
      };
    },
  );

  const token = await steps.run("Clinic, site parameters and enrollment token via the API", async () => {
    await api.post("/v1/clinics", { client_id: CLINIC, name: "Demo Clinic (synthetic)" }, 201);
    // Where this clinic's backups live: what an incident cannot carry, the planner takes from here.
    const params = {
      source_dir: l.clinicData,
      repository_dir: l.backups,
      min_free_mb: 1,
      max_age_hours: 26,
    };
    await api.post(`/v1/clinics/${CLINIC}/runbook-params`, { runbook_id: "RB-BACKUP-001", params });
    const t = await api.post<{ token: string; expires_at: string }>(
      `/v1/clinics/${CLINIC}/enrollment-tokens`,
      { ttl_seconds: 600 },
      201,
    );
    const tokenFile = join(l.agent, "enroll.token");
    writeFileSync(tokenFile, `${t.token}\n`, { mode: 0o600 });
    return {
      value: tokenFile,
      lines: [
        `clinic       ${CLINIC}  (POST /v1/clinics)`,
        `site params  RB-BACKUP-001 source ${l.clinicData}, repository ${l.backups}  (POST .../runbook-params)`,
        `token        one-time, expires ${t.expires_at}  (POST .../enrollment-tokens)`,
      ],
    };
  });

  const agentConfig = await steps.run("msp-agent enroll: keys, client certificate, pinned key", async () => {
    const out = await runNodeOk({
      script: COMMANDS.agent,
      what: "msp-agent enroll",
      home: l.home,
      args: [
        "enroll",
        "--json",
        "--url",
        cp.url,
        "--token-file",
        token,
        "--ca-file",
        init.made.caFile,
        "--agent-id",
        AGENT,
        "--clinic",
        CLINIC,
        "--hostname",
        "demo-clinic-server",
        "--config-out",
        l.agentConfig,
        "--state-dir",
        l.agentState,
        "--baseline",
        l.baseline,
        "--runbooks-dir",
        RUNBOOKS_DIR,
      ],
    });
    const enrolled = JSON.parse(out) as {
      cert_file: string;
      not_after: string;
      control_plane_key_id: string;
    };
    writeFileSync(
      l.baseline,
      `${JSON.stringify(parseWith(Baseline, baselineOf(l), "demo baseline"), null, 2)}\n`,
    );
    const written = loadConfigFile(AgentConfig, l.agentConfig);
    const confined = parseWith(AgentConfig, confineAgentConfig(written, l), "demo agent config");
    const roots = Object.values(confined.path_roots).flat();
    const stray = outside(l.root, [...roots, confined.state_dir]);
    if (stray.length > 0) throw new DemoError(`agent paths outside the demo directory: ${stray.join(", ")}`);
    writeFileSync(l.agentConfig, `${JSON.stringify(confined, null, 2)}\n`, { mode: 0o640 });
    return {
      value: confined,
      lines: [
        `agent     ${AGENT} for ${CLINIC}; certificate ${enrolled.cert_file} (until ${enrolled.not_after.slice(0, 10)})`,
        `pinned    control-plane key ${enrolled.control_plane_key_id}`,
        `confined  path roots ${roots.join(", ")}; no services or processes allow-listed`,
      ],
    };
  });
  return {
    init: init.made,
    adminKeyFile: init.keyFile,
    cp: cp.d,
    url: cp.url,
    cpLog,
    api,
    agentConfig,
    oldBackup,
  };
}
