/**
 * The one error type of the project. Every failure that crosses a boundary
 * (API, WebSocket frame, CLI, config, runbook load) is an `MspError` with a
 * code from a closed set, a public message that is safe to show a caller, an
 * optional cause kept for logs only, and a `retryable` flag that tells the
 * caller whether trying again later can succeed.
 *
 * Findings (drift results, runbook outcomes) are values, never errors.
 */

/** Every error code, with its HTTP status and whether a retry can help. */
export const ERROR_CODES = {
  invalid_input: { status: 400, retryable: false },
  unauthenticated: { status: 401, retryable: false },
  forbidden: { status: 403, retryable: false },
  not_found: { status: 404, retryable: false },
  conflict: { status: 409, retryable: false },
  payload_too_large: { status: 413, retryable: false },
  rate_limited: { status: 429, retryable: true },
  protocol_mismatch: { status: 426, retryable: false },
  signature_invalid: { status: 422, retryable: false },
  chain_broken: { status: 422, retryable: false },
  integrity_mismatch: { status: 422, retryable: false },
  config_missing: { status: 500, retryable: false },
  config_invalid: { status: 500, retryable: false },
  circuit_open: { status: 503, retryable: true },
  unavailable: { status: 503, retryable: true },
  timeout: { status: 504, retryable: true },
  internal: { status: 500, retryable: false },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Options accepted by {@link MspError}. */
export interface MspErrorOptions {
  /** The underlying error; logged, never sent to a caller. */
  cause?: unknown;
  /** Overrides the code's default retryability (e.g. an `unavailable` that will not recover). */
  retryable?: boolean;
  /** Structured, caller-safe details (field paths, seq numbers, limit names). */
  details?: Record<string, unknown>;
  /** Seconds until a retry may succeed, for `rate_limited` and `circuit_open`. */
  retryAfterSeconds?: number;
}

/** The project's single error class; see the module comment. */
export class MspError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: MspErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MspError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The caller-facing JSON form: code, message, details. Never the cause. */
  toJSON(): { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** True when `e` is an {@link MspError}, optionally with the given code. */
export function isMspError(e: unknown, code?: ErrorCode): e is MspError {
  return e instanceof MspError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into an `MspError`; an existing one passes through unchanged. */
export function toMspError(e: unknown, fallback: ErrorCode = "internal"): MspError {
  if (e instanceof MspError) return e;
  return new MspError(fallback, fallback === "internal" ? "internal error" : String(e), { cause: e });
}
