/**
 * One planning call to an OpenAI-compatible chat completions endpoint
 * (OpenAI, Azure OpenAI's v1 endpoint, vLLM, Ollama, llama.cpp) through the
 * `openai` SDK. The outcome is a value: an accepted answer, a transport error
 * (timeout, HTTP status, connection) or a rejected answer (the model replied
 * with something that is not a valid choice). Retries are off, because the
 * caller falls back to the rule-based planner rather than keep a clinic
 * waiting on a struggling model.
 */
import { describeIssues, type Incident, type ParamValues, type RunbookDefinition } from "@msp/shared";
import OpenAI from "openai";
import { buildAnswerSchema, buildMessages, buildResponseFormat } from "./prompt.js";

/** How to reach the model. */
export interface LlmOptions {
  /** e.g. `https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` (Ollama), `https://<res>.openai.azure.com/openai/v1`. */
  baseURL: string;
  apiKey: string;
  model: string;
  /** Whole-request timeout; default 10 s (the seed measured 2-8 s per call). */
  timeoutMs?: number;
}

/** Longest excerpt of a model's raw output (or an error text) kept in the planning log. */
export const RAW_EXCERPT_CHARS = 1024;

/** The model's accepted choice, with parameters already checked against the runbook. */
export interface LlmAnswer {
  runbook_id: string;
  confidence: number;
  reasoning: string;
  params: ParamValues;
}

/** Outcome of one call. `raw` is a bounded excerpt of what came back, for the log. */
export type LlmOutcome =
  | { ok: true; answer: LlmAnswer; raw: string }
  | { ok: false; kind: "error"; reason: string; raw: string | null }
  | { ok: false; kind: "rejected"; reason: string; raw: string };

/** The narrow client the planner needs: one chat completion call. */
export interface LlmClient {
  readonly model: string;
  complete(incident: Incident, candidates: readonly RunbookDefinition[]): Promise<LlmOutcome>;
}

/** Fails fast on options that could never work, so a typo is a startup error, not a silent fallback. */
function checkOptions(o: LlmOptions): void {
  let url: URL | null = null;
  try {
    url = new URL(o.baseURL);
  } catch {
    url = null;
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:"))
    throw new RangeError("planner llm: baseURL must be an http(s) URL");
  if (o.model.length === 0 || o.model.length > 128)
    throw new RangeError("planner llm: model must be 1-128 chars");
  if (o.apiKey.length === 0) throw new RangeError("planner llm: apiKey must not be empty");
  const t = o.timeoutMs ?? 10_000;
  if (!Number.isInteger(t) || t < 1 || t > 120_000)
    throw new RangeError("planner llm: timeoutMs must be 1..120000");
}

const excerpt = (s: string) => (s.length > RAW_EXCERPT_CHARS ? `${s.slice(0, RAW_EXCERPT_CHARS)}...` : s);

/** Creates the client; throws a RangeError on bad options. */
export function createLlmClient(options: LlmOptions): LlmClient {
  checkOptions(options);
  const sdk = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL,
    timeout: options.timeoutMs ?? 10_000,
    maxRetries: 0,
  });
  return {
    model: options.model,
    async complete(incident, candidates) {
      const messages = buildMessages(incident, candidates);
      let content: string | null | undefined;
      let refusal: string | null | undefined;
      try {
        const res = await sdk.chat.completions.create({
          model: options.model,
          temperature: 0,
          messages: [
            { role: "system", content: messages.system },
            { role: "user", content: messages.user },
          ],
          response_format: buildResponseFormat(candidates),
        });
        const message = res.choices?.[0]?.message;
        content = message?.content;
        refusal = message?.refusal;
      } catch (e) {
        return { ok: false, kind: "error", reason: describeError(e), raw: null };
      }
      if (typeof refusal === "string" && refusal.length > 0)
        return { ok: false, kind: "rejected", reason: "model refused", raw: excerpt(refusal) };
      if (typeof content !== "string" || content.length === 0)
        return { ok: false, kind: "rejected", reason: "empty answer", raw: "" };
      return judge(content, candidates);
    },
  };
}

/** Parses and validates the model's text; anything but a valid choice is a rejection. */
export function judge(content: string, candidates: readonly RunbookDefinition[]): LlmOutcome {
  const raw = excerpt(content);
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch {
    return { ok: false, kind: "rejected", reason: "answer is not JSON", raw };
  }
  const parsed = buildAnswerSchema(candidates).safeParse(json);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error)
      .slice(0, 5)
      .map((i) => `${i.path}: ${i.message}`);
    return { ok: false, kind: "rejected", reason: excerpt(`answer refused: ${issues.join("; ")}`), raw };
  }
  return { ok: true, answer: parsed.data, raw };
}

/** A short, log-safe description of an SDK failure. */
function describeError(e: unknown): string {
  if (e instanceof OpenAI.APIConnectionTimeoutError) return "timeout";
  if (e instanceof OpenAI.APIError && typeof e.status === "number") return `http ${e.status}`;
  if (e instanceof OpenAI.APIConnectionError) return "connection failed";
  return excerpt(`error: ${e instanceof Error ? e.message : String(e)}`);
}
