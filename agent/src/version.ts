/** The agent's release version, reported in `hello` frames and `msp-agent version`. */
export const AGENT_VERSION = "0.1.0";
