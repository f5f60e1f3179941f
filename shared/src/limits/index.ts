/**
 * Size limits shared by agent and control plane. Derived limits are computed
 * from the base ones so they cannot drift apart.
 */

/** Bytes of stdout/stderr kept in a bundle per stream; the full stream is represented by its sha256. */
export const OUTPUT_EXCERPT_BYTES = 4096;

/** Most steps a runbook may declare. */
export const MAX_RUNBOOK_STEPS = 32;

/** Most drift check results in one bundle. */
export const MAX_DRIFT_RESULTS = 256;

/** Largest free-text field (descriptions, reasons, observed values). */
export const MAX_TEXT_CHARS = 2048;

/** Largest incident `details` map, in entries. */
export const MAX_DETAIL_ENTRIES = 32;

/**
 * Largest evidence bundle: every step may carry two full excerpts plus
 * metadata, with headroom for drift results.
 */
export const MAX_BUNDLE_BYTES = MAX_RUNBOOK_STEPS * (2 * OUTPUT_EXCERPT_BYTES * 2 + 1024) + 256 * 1024;

/** Largest WebSocket frame either side accepts: one bundle plus its envelope. */
export const MAX_FRAME_BYTES = MAX_BUNDLE_BYTES + 16 * 1024;

/** Largest operator API request body. */
export const MAX_API_BODY_BYTES = 256 * 1024;
