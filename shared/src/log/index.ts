/**
 * Structured logs: one JSON object per line on stderr, so journald and log
 * shippers can parse them. stdout is reserved for command output.
 */

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** The logger every module of the agent and the control plane takes. */
export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A JSON-lines logger writing to `out` (stderr by default) at or above `min`. */
export function createLogger(min: LogLevel = "info", out: NodeJS.WritableStream = process.stderr): Logger {
  return {
    log(level, msg, fields = {}) {
      if (ORDER[level] < ORDER[min]) return;
      out.write(`${JSON.stringify({ ts: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

/** A logger that drops everything (tests that do not assert on logs). */
export const silentLogger: Logger = { log: () => undefined };
