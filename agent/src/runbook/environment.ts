/**
 * The environment contract between the executor and runbook scripts. Scripts
 * receive every input through these variables and nothing else from the
 * agent's own environment, so a value can never be pasted into command text
 * and an agent secret (or a stray `LD_PRELOAD`) can never reach a script.
 *
 * | variable | value |
 * | --- | --- |
 * | `MSP_PARAM_<NAME>` | each validated parameter (name upper-cased); integers in decimal, booleans `true`/`false`, paths canonical; unset when optional and absent |
 * | `MSP_ROOTS_<ROOT>` | every configured `path_roots` set, colon-joined |
 * | `MSP_WORK_DIR` | per-run scratch dir (0700), shared by the run's steps, removed after the run; also the cwd |
 * | `MSP_STATE_DIR` | persistent dir (0700) scripts may keep state in across runs |
 * | `MSP_LIB_DIR` | private copies of the pinned `scripts/lib/*.sh` files the runbook's scripts source; unset when the runbook pins none |
 * | `MSP_SERVICE_MANAGER` | `systemd` or `supervisor` |
 * | `MSP_SUPERVISOR_CONF` | supervisord config file, only when configured |
 * | `MSP_SERVICE_ALLOWLIST`, `MSP_PROCESS_ALLOWLIST` | space-joined allow-lists |
 * | `MSP_DRY_RUN` | `1` in dry run (scripts must then change nothing), else `0` |
 * | `MSP_RUNBOOK_ID`, `MSP_RUN_ID` | the runbook and this run |
 * | `MSP_STEP`, `MSP_STEP_NUMBER`, `MSP_PHASE`, `MSP_ATTEMPT` | the action's name (step, rollback action or validation name), its number (the step number, or its 1-based position among rollback actions or validations), `step`/`rollback`/`validation`, and the attempt (1..) |
 * | `PATH`, `HOME`, `LANG`, `TMPDIR` | fixed PATH, a per-run home, `C.UTF-8`, a per-run temp dir |
 */
import type { AgentConfig } from "@msp/shared";
import type { ParamValue } from "./params.js";

/** Fixed PATH for scripts: NixOS profile and wrappers first, then the FHS directories. */
export const SCRIPT_PATH =
  "/run/wrappers/bin:/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The agent configuration a script may learn about. */
export type ScriptConfig = Pick<
  AgentConfig,
  "path_roots" | "service_allowlist" | "process_allowlist" | "service_manager"
> & {
  supervisorConf?: string | undefined;
};

/** Everything that is the same for every action of one run. */
export interface RunEnvironment {
  runbookId: string;
  runId: string;
  params: Readonly<Record<string, ParamValue>>;
  config: ScriptConfig;
  workDir: string;
  homeDir: string;
  tmpDir: string;
  stateDir: string;
  dryRun: boolean;
}

/** What differs per action. */
export interface ActionEnvironment {
  name: string;
  step: number;
  phase: "step" | "rollback" | "validation";
  attempt: number;
  /** This attempt's copy of the pinned script libraries, or null when the runbook has none. */
  libDir?: string | null;
}

/** Builds the complete environment of one script invocation; nothing is inherited from the agent. */
export function scriptEnvironment(run: RunEnvironment, action: ActionEnvironment): Record<string, string> {
  const env: Record<string, string> = {
    PATH: SCRIPT_PATH,
    HOME: run.homeDir,
    LANG: "C.UTF-8",
    TMPDIR: run.tmpDir,
    MSP_WORK_DIR: run.workDir,
    MSP_STATE_DIR: run.stateDir,
    MSP_SERVICE_MANAGER: run.config.service_manager,
    MSP_SERVICE_ALLOWLIST: run.config.service_allowlist.join(" "),
    MSP_PROCESS_ALLOWLIST: run.config.process_allowlist.join(" "),
    MSP_DRY_RUN: run.dryRun ? "1" : "0",
    MSP_RUNBOOK_ID: run.runbookId,
    MSP_RUN_ID: run.runId,
    MSP_STEP: action.name,
    MSP_STEP_NUMBER: String(action.step),
    MSP_PHASE: action.phase,
    MSP_ATTEMPT: String(action.attempt),
  };
  if (run.config.supervisorConf !== undefined) env.MSP_SUPERVISOR_CONF = run.config.supervisorConf;
  if (action.libDir !== undefined && action.libDir !== null) env.MSP_LIB_DIR = action.libDir;
  for (const [root, dirs] of Object.entries(run.config.path_roots)) {
    env[`MSP_ROOTS_${root.toUpperCase()}`] = dirs.join(":");
  }
  for (const [name, value] of Object.entries(run.params)) {
    env[`MSP_PARAM_${name.toUpperCase()}`] = String(value);
  }
  return env;
}
