/**
 * What the security suite shares: raw HTTPS requests to the real listener
 * (any method, body text and content type, over one keep-alive agent), a
 * digest of every mutable table so "nothing stored" is checked byte for
 * byte, the documented error shape, and seeded fast-check runs that print
 * their seed when they fail.
 */
import { createHash } from "node:crypto";
import { Agent, request } from "node:https";
import { ERROR_CODES } from "@msp/shared";
import fc from "fast-check";
import type { Db } from "../../control-plane/src/db/index.js";
import type { TestControlPlane } from "../support/control-plane.js";

/**
 * Columns that record that a key or an agent was used, not what was asked:
 * `api_keys.last_used_at` moves on every authenticated call and the agents'
 * connection times on every (re)connect, whatever the input was. The audit
 * log is left out whole, since it must record the refusals.
 */
const BOOKKEEPING: Record<string, readonly string[]> = {
  api_keys: ["last_used_at"],
  agents: ["last_seen_at", "last_connected_at"],
};
const NOT_STATE = new Set(["audit_log", "sqlite_sequence"]);

/** sha256 of every row of every table except the audit log, per table (so a failure names the table). */
export function digest(db: Db): Record<string, string> {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
    name: string;
  }[];
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    if (NOT_STATE.has(name)) continue;
    const skip = BOOKKEEPING[name] ?? [];
    // Rows serialized then sorted: independent of storage order, and WITHOUT ROWID tables have no rowid.
    const lines: string[] = [];
    for (const row of db.prepare(`SELECT * FROM "${name}"`).iterate() as Iterable<Record<string, unknown>>) {
      let line = "";
      for (const [k, v] of Object.entries(row)) {
        if (skip.includes(k)) continue;
        line += `${k}=${Buffer.isBuffer(v) ? v.toString("hex") : JSON.stringify(v)};`;
      }
      lines.push(line);
    }
    out[name] = createHash("sha256").update(lines.sort().join("\n")).digest("hex");
  }
  return out;
}

/** Rows of the audit log after id `after`. */
export function auditSince(db: Db, after: number) {
  return db.prepare("SELECT * FROM audit_log WHERE id > ? ORDER BY id").all(after) as {
    id: number;
    actor_key_id: string | null;
    client_id: string | null;
    action: string;
    outcome: string;
    status: number;
    error_code: string | null;
  }[];
}

/** Highest audit log id so far. */
export const auditHead = (db: Db) =>
  (db.prepare("SELECT coalesce(max(id), 0) AS n FROM audit_log").get() as { n: number }).n;

/**
 * Why `body` is not the documented error body (docs/control-plane.md "Errors",
 * the `default` response of every operation), or null when it is:
 * `{"error": {"code", "message", "retryable", "details"?}}` with a known code
 * and nothing else.
 */
export function errorShapeProblem(body: unknown): string | null {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "not a JSON object";
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== "error") return `top-level keys ${keys.join(",")}`;
  const e = (body as { error: unknown }).error;
  if (typeof e !== "object" || e === null || Array.isArray(e)) return "error is not an object";
  const { code, message, retryable, details, ...rest } = e as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return `unknown error fields ${Object.keys(rest).join(",")}`;
  if (typeof code !== "string" || !(code in ERROR_CODES)) return `unknown code ${String(code)}`;
  if (typeof message !== "string" || message.length === 0) return "no message";
  if (typeof retryable !== "boolean") return "retryable is not a boolean";
  if (details !== undefined && (typeof details !== "object" || details === null || Array.isArray(details)))
    return "details is not an object";
  return null;
}

/** A raw answer. */
export interface RawResponse {
  status: number;
  text: string;
  json: unknown;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** Sends exactly `body` (when given) with `contentType` to the control plane's listener. */
export function send(
  t: TestControlPlane,
  method: string,
  path: string,
  opts: { key?: string; body?: string | Buffer; contentType?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: t.cp.port,
        method: method.toUpperCase(),
        path,
        ca: t.caPem,
        agent,
        headers: {
          ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
          ...(opts.body !== undefined
            ? {
                "content-type": opts.contentType ?? "application/json",
                "content-length": Buffer.byteLength(opts.body),
              }
            : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/**
 * The suite's seed: `MSP_FUZZ_SEED` if set (to replay a failure or explore),
 * else a fixed one so CI runs are reproducible.
 */
export const FUZZ_SEED =
  process.env.MSP_FUZZ_SEED === undefined ? 20261121 : Number(process.env.MSP_FUZZ_SEED);

/** Runs an async property with the suite's seed; a failure names the seed and how to replay it. */
export async function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  predicate: (v: T) => Promise<void>,
  numRuns: number,
): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(arb, predicate), { seed: FUZZ_SEED, numRuns, endOnFailure: true });
  } catch (e) {
    console.error(`fuzz "${name}" failed with seed ${FUZZ_SEED}; replay with MSP_FUZZ_SEED=${FUZZ_SEED}`);
    throw e;
  }
}

/** Polls `cond` until it holds (50 ms steps, 10 s at most). */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Value of one Prometheus sample in a `/metrics` text (0 when absent). */
export function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}
