/**
 * A real OpenAI-compatible HTTP server for planner tests: node:http on
 * 127.0.0.1, port 0, implementing POST /v1/chat/completions. Each test scripts
 * the replies it wants (a good answer, an unknown runbook id, shell text,
 * malformed JSON, extra fields, a reply slower than the client's timeout,
 * HTTP 429 or 500) and reads back the requests it received, so it can check
 * what the planner sent: the json_schema enum, and that incident details went
 * as quoted data.
 *
 * An unscripted request gets HTTP 500, so a test that forgets a reply fails
 * on a fallback it did not expect rather than hanging.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A request as received: the parsed JSON body and the headers that matter. */
export interface RecordedRequest {
  path: string;
  authorization: string | undefined;
  body: ChatRequest;
}

/** The parts of a chat completion request tests look at. */
export interface ChatRequest {
  model: string;
  messages: { role: string; content: string }[];
  response_format?: {
    type: string;
    json_schema?: { name: string; strict?: boolean; schema: Record<string, unknown> };
  };
  [key: string]: unknown;
}

/** One scripted reply. */
export type FakeReply =
  /** A completion whose message content is this text, verbatim. */
  | { kind: "content"; content: string }
  /** A completion whose content is this value as JSON. */
  | { kind: "json"; value: unknown }
  /** A completion with a refusal instead of content. */
  | { kind: "refusal"; refusal: string }
  /** Content computed from the request, e.g. to obey whatever the incident asks. */
  | { kind: "respond"; respond: (req: ChatRequest) => string }
  /** An HTTP error status with an OpenAI-style error body. */
  | { kind: "status"; status: number; message?: string }
  /** Waits `ms` before sending `reply`; if the client gives up first, nothing is sent. */
  | { kind: "delay"; ms: number; reply: FakeReply };

/** A running fake server. */
export interface FakeLlm {
  /** Base URL for the SDK, ending in /v1. */
  readonly baseURL: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Queues replies, served first in, first out. */
  enqueue(...replies: FakeReply[]): void;
  /** Replies still queued. */
  readonly pending: number;
  close(): Promise<void>;
}

function completion(model: string, message: { content: string | null; refusal: string | null }) {
  return {
    id: `chatcmpl-fake-${Math.random().toString(36).slice(2, 10)}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      { index: 0, finish_reason: "stop", logprobs: null, message: { role: "assistant", ...message } },
    ],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Starts the server on 127.0.0.1, port 0. */
export async function startFakeLlm(): Promise<FakeLlm> {
  const queue: FakeReply[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  async function serve(reply: FakeReply, body: ChatRequest, res: ServerResponse): Promise<void> {
    switch (reply.kind) {
      case "content":
        return sendJson(res, 200, completion(body.model, { content: reply.content, refusal: null }));
      case "json":
        return sendJson(
          res,
          200,
          completion(body.model, { content: JSON.stringify(reply.value), refusal: null }),
        );
      case "refusal":
        return sendJson(res, 200, completion(body.model, { content: null, refusal: reply.refusal }));
      case "respond":
        return sendJson(res, 200, completion(body.model, { content: reply.respond(body), refusal: null }));
      case "status":
        return sendJson(res, reply.status, {
          error: { message: reply.message ?? `fake status ${reply.status}`, type: "fake", code: null },
        });
      case "delay":
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, reply.ms);
          timers.add(t);
        });
        return serve(reply.reply, body, res);
    }
  }

  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
        sendJson(res, 404, { error: { message: "not found", type: "fake", code: null } });
        return;
      }
      let body: ChatRequest;
      try {
        body = JSON.parse(await readBody(req)) as ChatRequest;
      } catch {
        sendJson(res, 400, { error: { message: "body is not JSON", type: "fake", code: null } });
        return;
      }
      requests.push({ path: req.url, authorization: req.headers.authorization, body });
      const reply = queue.shift();
      if (reply === undefined) {
        sendJson(res, 500, { error: { message: "fake-llm: no scripted reply", type: "fake", code: null } });
        return;
      }
      await serve(reply, body, res);
    })().catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e), type: "fake", code: null } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...replies) => {
      queue.push(...replies);
    },
    get pending() {
      return queue.length;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
