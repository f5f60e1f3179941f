/**
 * Property-based fuzzing of the agent WebSocket (invariant 5 on the agent
 * side) with an enrolled agent's real client certificate: binary frames, text
 * that is not JSON, JSON of the wrong shape, frames of every agent type with
 * one field broken (near misses of the frame's published JSON Schema, and
 * one-field mutations of a correctly signed bundle), oversized frames, and
 * arbitrary first frames before hello.
 *
 * Each frame must be answered with an `error` frame (parsed with the shared
 * `ErrorFrame` schema) or close the socket with a documented close code; no
 * mutable table may change; and a second agent connected throughout keeps its
 * socket and still gets its evidence acknowledged at the end.
 */
import {
  AgentFrame,
  CommandStatusFrame,
  ErrorFrame,
  HelloFrame,
  IncidentFrame,
  limits,
  PROTOCOL_VERSION,
} from "@msp/shared";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  agentChain,
  type EnrolledAgent,
  enrollTestAgent,
  startTestControlPlane,
} from "../support/control-plane.js";
import { digest, FUZZ_SEED, fuzz, send } from "./harness.js";
import { nearMissOf, type Schema } from "./json-schema.js";

/**
 * Close codes the agent endpoint documents (control-plane/src/agent-ws):
 * 1002 protocol mismatch, 1008 policy (hello first, identity mismatch, too
 * many pending bundles), 1009 frame over the transport cap.
 */
const DOCUMENTED_CLOSE_CODES = [1002, 1008, 1009];

const CLINIC = "clinic-f";
const t = await startTestControlPlane();
afterAll(() => t.stop());
if ((await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "Fuzz" })).status !== 201)
  throw new Error("clinic not created");
const target = await enrollTestAgent(t, CLINIC, "srv-fuzz");
const bystander = await enrollTestAgent(t, CLINIC, "srv-bystander");

/** A raw agent socket: every frame received, and how it closed. */
interface Session {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: number | null;
  /** Resolves with the next frame (or the close code) after `from` frames. */
  answer(from: number, timeoutMs?: number): Promise<{ frame: Record<string, unknown> } | { close: number }>;
}

function helloOf(agent: EnrolledAgent) {
  return {
    type: "hello",
    protocol_version: PROTOCOL_VERSION,
    agent_id: agent.agentId,
    client_id: agent.clientId,
    hostname: agent.agentId,
    agent_version: "fuzz",
    last_seq: 0,
    catalog_sha256: "0".repeat(64),
  };
}

async function open(agent: EnrolledAgent, hello = true): Promise<Session> {
  const ws = new WebSocket(`wss://127.0.0.1:${t.cp.port}/v1/agent`, {
    ca: t.caPem,
    cert: agent.certPem,
    key: agent.tlsKeyPem,
  });
  const s: Session = {
    ws,
    frames: [],
    closed: null,
    answer: (from, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const f = s.frames[from];
          if (f !== undefined) return done({ frame: f });
          if (s.closed !== null) return done({ close: s.closed });
        };
        const timer = setTimeout(() => done(null), timeoutMs);
        const done = (v: { frame: Record<string, unknown> } | { close: number } | null) => {
          clearTimeout(timer);
          ws.off("message", check);
          ws.off("close", check);
          if (v === null) reject(new Error(`no answer within ${timeoutMs} ms`));
          else resolve(v);
        };
        ws.on("message", check);
        ws.on("close", check);
        queueMicrotask(check);
      }),
  };
  // Registered before the answer() listeners, so frames and the close code are recorded first.
  ws.prependListener("message", (d) => s.frames.push(JSON.parse(String(d)) as Record<string, unknown>));
  ws.prependListener("close", (code) => {
    s.closed = code;
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  if (hello) {
    ws.send(JSON.stringify(helloOf(agent)));
    const a = await s.answer(0);
    if (!("frame" in a) || a.frame.type !== "welcome") throw new Error(`no welcome: ${JSON.stringify(a)}`);
  }
  return s;
}

let fuzzSession: Session | null = null;
/** The target's socket past hello, reopened when a previous frame closed it. */
async function ready(): Promise<Session> {
  if (fuzzSession === null || fuzzSession.closed !== null) fuzzSession = await open(target);
  return fuzzSession;
}

/** Sends one frame and checks: an error frame or a documented close, and nothing stored. */
async function probe(s: Session, data: string | Buffer, binary: boolean): Promise<void> {
  const before = digest(t.cp.db);
  const from = s.frames.length;
  s.ws.send(data, { binary });
  const answer = await s.answer(from);
  const what = `${binary ? "binary" : "text"} ${String(data).slice(0, 200)} => ${JSON.stringify(answer).slice(0, 300)}`;
  if ("frame" in answer) {
    expect(ErrorFrame.safeParse(answer.frame).success, what).toBe(true);
  } else {
    expect(DOCUMENTED_CLOSE_CODES, what).toContain(answer.close);
  }
  expect(digest(t.cp.db), what).toEqual(before);
}

/** Not one of the frames the protocol defines. */
const notAFrame = (v: unknown) => !AgentFrame.safeParse(v).success;

const schemaOf = (s: { toJSONSchema(p: object): unknown }) =>
  s.toJSONSchema({ io: "input", unrepresentable: "any" }) as Schema;

const SAMPLES: unknown[] = [
  null,
  true,
  -1,
  1.5,
  "",
  "x".repeat(5000),
  "'; DROP TABLE evidence_bundles;--",
  [],
  {},
];

const REMOVE = Symbol("remove");

/** A copy of `root` with the value at `path` replaced by `value`, or removed for REMOVE. */
function withValue(root: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
  return copy;
}

/** One-field mutations of a JSON value: delete a key, add one, or replace a value with a sample. */
function mutationsOf(v: unknown, path: (string | number)[] = []): ((root: unknown) => unknown)[] {
  const put = (p: (string | number)[], value: unknown) => (root: unknown) => withValue(root, p, value);
  const out: ((root: unknown) => unknown)[] = [];
  if (path.length > 0) {
    for (const sample of SAMPLES) out.push(put(path, sample));
    if (typeof v === "string" && v.length > 0)
      out.push(put(path, `${v.slice(0, -1)}${v.endsWith("A") ? "B" : "A"}`));
    if (typeof v === "number") out.push(put(path, v + 1));
  }
  if (typeof v === "object" && v !== null) {
    if (!Array.isArray(v)) out.push(put([...path, "unknown_field_xyz"], 1));
    for (const [k, x] of Object.entries(v)) {
      const key = Array.isArray(v) ? Number(k) : k;
      if (path.length > 0 || k !== "type") out.push(put([...path, key], REMOVE));
      out.push(...mutationsOf(x, [...path, key]));
    }
  }
  return out;
}

const signedBundle = agentChain(target, 1)[0];
const bundleFrame = { type: "bundle", bundle: signedBundle };
// A sample equal to the value it replaces (null for a null field, {} for empty outputs) is no change.
const bundleMutations = mutationsOf(bundleFrame).filter(
  (m) => JSON.stringify(m(bundleFrame)) !== JSON.stringify(bundleFrame),
);

describe("agent WebSocket frames from an enrolled agent", () => {
  let bystanderSession: Session;

  it("connects the bystander agent, which must be left alone", async () => {
    bystanderSession = await open(bystander);
    expect(bystanderSession.closed).toBeNull();
  });

  it(`answers binary frames with an error frame (seed ${FUZZ_SEED})`, async () => {
    await fuzz(
      "binary",
      fc.uint8Array({ maxLength: 512 }),
      async (b) => probe(await ready(), Buffer.from(b), true),
      20,
    );
  });

  it("answers text that is not JSON with an error frame", async () => {
    await fuzz(
      "not JSON",
      fc.string({ maxLength: 200, unit: "binary" }).filter((s) => {
        try {
          JSON.parse(s);
          return false;
        } catch {
          return true;
        }
      }),
      async (s) => probe(await ready(), s, false),
      20,
    );
  });

  it("answers JSON of the wrong shape with an error frame", async () => {
    await fuzz(
      "wrong shape",
      fc
        .oneof(
          fc.jsonValue({ maxDepth: 3 }),
          fc.record({ type: fc.constantFrom("hello", "bundle", "incident", "command_status", "shell") }),
          fc
            .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 })
            .map((d) => ({ type: "bundle", ...d })),
        )
        .filter(notAFrame),
      async (v) => probe(await ready(), JSON.stringify(v), false),
      25,
    );
  });

  it("answers hello, incident and command_status frames with one field broken", async () => {
    const arb = fc.oneof(
      nearMissOf(schemaOf(HelloFrame)),
      nearMissOf(schemaOf(IncidentFrame)),
      nearMissOf(schemaOf(CommandStatusFrame)),
    );
    await fuzz("near-miss frames", arb, async (v) => probe(await ready(), JSON.stringify(v), false), 40);
  });

  it("refuses every one-field change to a correctly signed bundle, storing nothing", async () => {
    await fuzz(
      "mutated bundles",
      fc.constantFrom(...bundleMutations).map((m) => m(bundleFrame)),
      async (v) => probe(await ready(), JSON.stringify(v), false),
      40,
    );
  });

  it("answers a frame over the frame limit with payload_too_large, and closes past the transport cap with 1009", async () => {
    const s = await ready();
    const pad = (n: number) => `{"type":"bundle","bundle":"${"x".repeat(n)}"}`;
    await probe(s, pad(limits.MAX_FRAME_BYTES), false);
    expect(s.frames.at(-1)).toMatchObject({ type: "error", code: "payload_too_large" });
    await probe(s, pad(2 * limits.MAX_FRAME_BYTES + 1), false);
    expect(s.closed).toBe(1009);
  });

  it("answers any first frame other than hello, and closes on a well-formed non-hello", async () => {
    await fuzz(
      "first frame",
      fc.oneof(
        fc
          .uint8Array({ maxLength: 64 })
          .map((b) => ({ data: Buffer.from(b) as string | Buffer, binary: true })),
        fc
          .jsonValue({ maxDepth: 2 })
          .map((v) => ({ data: JSON.stringify(v) as string | Buffer, binary: false })),
        fc.constant({ data: JSON.stringify(bundleFrame) as string | Buffer, binary: false }),
      ),
      async ({ data, binary }) => {
        const s = await open(target, false);
        await probe(s, data, binary);
        if (data === JSON.stringify(bundleFrame)) {
          await s.answer(1);
          expect(s.closed).toBe(1008);
        }
        s.ws.close();
      },
      10,
    );
  });

  it("kept serving: the bystander's socket stayed open and its evidence is acknowledged", async () => {
    expect(bystanderSession.closed).toBeNull();
    expect((await send(t, "GET", "/v1/health")).status).toBe(200);
    const from = bystanderSession.frames.length;
    bystanderSession.ws.send(JSON.stringify({ type: "bundle", bundle: agentChain(bystander, 1)[0] }));
    const a = await bystanderSession.answer(from);
    expect(a).toMatchObject({ frame: { type: "ack", receipt: { agent_id: "srv-bystander", up_to_seq: 1 } } });
    // The fuzzed agent itself is not locked out either: its real bundle is stored and acknowledged.
    const s = await ready();
    const n = s.frames.length;
    s.ws.send(JSON.stringify(bundleFrame));
    expect(await s.answer(n)).toMatchObject({ frame: { type: "ack", receipt: { up_to_seq: 1 } } });
    bystanderSession.ws.close();
    s.ws.close();
  });
});
