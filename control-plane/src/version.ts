/** The control plane release, reported by /v1/health and the CLI. */
export const CONTROL_PLANE_VERSION = "0.1.0";
