/**
 * A minimal client of the control plane's operator API, as an operator's
 * script would use it: HTTPS trusting only the deployment's CA (`ca.crt`
 * written by `msp-cp init`), the admin API key as a bearer token, JSON in
 * and out. Any answer other than the expected status is a `DemoError`
 * carrying the API's own error code and message.
 */
import { request } from "node:https";
import { DemoError } from "./errors.js";

/** The API client. */
export interface Api {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown, expect?: number): Promise<T>;
}

/** Creates a client for `https://127.0.0.1:<port>`. */
export function createApi(options: { port: number; caPem: string; key: string }): Api {
  const call = (method: string, path: string, body: unknown, expect: number) =>
    new Promise<unknown>((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: "127.0.0.1",
          port: options.port,
          method,
          path,
          ca: options.caPem,
          timeout: 15_000,
          headers: {
            authorization: `Bearer ${options.key}`,
            ...(text === undefined
              ? {}
              : { "content-type": "application/json", "content-length": Buffer.byteLength(text) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown;
            try {
              parsed = JSON.parse(raw);
            } catch {
              return reject(new DemoError(`${method} ${path}: answer is not JSON (${res.statusCode})`));
            }
            if (res.statusCode !== expect) {
              const err = (parsed as { error?: { code?: string; message?: string } }).error;
              return reject(
                new DemoError(
                  `${method} ${path} answered ${res.statusCode}: ${err?.code ?? "?"}: ${err?.message ?? raw.slice(0, 300)}`,
                ),
              );
            }
            resolve(parsed);
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("no answer within 15 s")));
      req.on("error", (e) => reject(new DemoError(`${method} ${path}: ${e.message}`)));
      req.end(text);
    });
  return {
    get: <T>(path: string) => call("GET", path, undefined, 200) as Promise<T>,
    post: <T>(path: string, body: unknown, expect = 200) => call("POST", path, body, expect) as Promise<T>,
  };
}
