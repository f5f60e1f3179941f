/**
 * The one HTTPS call shape enrollment and renewal need: POST a JSON body to
 * the control plane, trusting only the CA given (never the system store),
 * optionally presenting a client certificate, with a deadline and a bounded
 * answer. HTTP failures become MspErrors whose code follows the status, so
 * the CLI can tell "bad token" from "control plane down".
 */
import { request } from "node:https";
import { MspError } from "@msp/shared";

/** TLS material for one call: the pinned CA, and a client certificate for mTLS calls. */
export interface HttpsTrust {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** Largest answer accepted; an issued certificate with its CA is a few KB. */
const MAX_RESPONSE_BYTES = 256 * 1024;

function codeForStatus(status: number) {
  if (status === 400 || status === 422) return "invalid_input" as const;
  if (status === 401) return "unauthenticated" as const;
  if (status === 403) return "forbidden" as const;
  if (status === 404) return "not_found" as const;
  if (status === 409) return "conflict" as const;
  if (status === 429) return "rate_limited" as const;
  return "unavailable" as const;
}

/** The server's own explanation, if its error body has one (`message` or `error.message`). */
function serverMessage(body: string): string | null {
  try {
    const json = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } | unknown };
    if (typeof json.message === "string") return json.message;
    const inner = json.error as { message?: unknown } | undefined;
    if (inner !== null && typeof inner === "object" && typeof inner.message === "string")
      return inner.message;
  } catch {
    // Not JSON: report the status alone.
  }
  return null;
}

/** POSTs `body` as JSON to an https:// URL and resolves with the parsed JSON of a 2xx answer. */
export function postJson(
  url: string,
  body: unknown,
  trust: HttpsTrust,
  timeoutMs = 30_000,
): Promise<unknown> {
  let target: URL;
  try {
    target = new URL(url);
  } catch (e) {
    throw new MspError("invalid_input", `not a URL: ${url}`, { cause: e });
  }
  if (target.protocol !== "https:") throw new MspError("invalid_input", `${url} must be an https:// URL`);
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise<unknown>((resolve, reject) => {
    const req = request(
      target,
      {
        method: "POST",
        ca: trust.ca,
        ...(trust.cert === undefined ? {} : { cert: trust.cert }),
        ...(trust.key === undefined ? {} : { key: trust.key }),
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
        agent: false,
        timeout: timeoutMs,
        headers: {
          "content-type": "application/json",
          "content-length": String(payload.length),
          accept: "application/json",
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy();
            reject(
              new MspError(
                "payload_too_large",
                `answer from ${target.origin} exceeds ${MAX_RESPONSE_BYTES} bytes`,
              ),
            );
            return;
          }
          chunks.push(c);
        });
        res.on("error", (e) =>
          reject(
            new MspError("unavailable", `reading the answer from ${target.origin} failed`, { cause: e }),
          ),
        );
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) {
            const why = serverMessage(text);
            reject(
              new MspError(
                codeForStatus(status),
                `${target.pathname} answered ${status}${why === null ? "" : `: ${why}`}`,
                {
                  details: { status },
                },
              ),
            );
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch (e) {
            reject(
              new MspError("invalid_input", `${target.pathname} answered with invalid JSON`, { cause: e }),
            );
          }
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new MspError("timeout", `no answer from ${target.origin} within ${timeoutMs} ms`)),
    );
    req.on("error", (e) => {
      if (e instanceof MspError) return reject(e);
      reject(new MspError("unavailable", `cannot reach ${target.origin}: ${e.message}`, { cause: e }));
    });
    req.end(payload);
  });
}
