/**
 * Default paths, kept in a module of their own so that `--help` and `version`
 * can print them without loading the daemon or the composition root.
 */

/** Default config path, overridable by `--config` or MSP_AGENT_CONFIG. */
export const DEFAULT_CONFIG_PATH = "/etc/msp/agent.yaml";
/** Default state directory for `enroll`. */
export const DEFAULT_STATE_DIR = "/var/lib/msp-agent";
/** Default baseline path written into an enrolled agent's config. */
export const DEFAULT_BASELINE = "/etc/msp/baseline.yaml";
