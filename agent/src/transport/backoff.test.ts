import { createServer } from "node:net";
import { FakeClock, generateSigningKey, isMspError } from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { createTestPki, type TestPki } from "../../../test/support/pki.js";
import { memoryLogger } from "../../../test/transport/harness.js";
import { MemoryOutbox } from "../../../test/transport/memory-outbox.js";
import { Backoff, backoffDelay, checkBackoffPolicy } from "./backoff.js";
import { createTransport, type Transport } from "./index.js";

const policy = { initialMs: 100, maxMs: 1_000 };

describe("backoffDelay (full jitter)", () => {
  it("draws uniformly below a ceiling that doubles per attempt up to maxMs", () => {
    const top = () => 0.999_999;
    expect([0, 1, 2, 3, 4, 5, 60].map((a) => backoffDelay(a, policy, top))).toEqual([
      99, 199, 399, 799, 999, 999, 999,
    ]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(400);
  });

  it("clamps a misbehaving random source into [0, ceiling]", () => {
    expect(backoffDelay(0, policy, () => 7)).toBe(100);
    expect(backoffDelay(0, policy, () => -1)).toBe(0);
  });

  it("refuses policies that would spin or never grow", () => {
    for (const bad of [
      { initialMs: 0, maxMs: 10 },
      { initialMs: 10, maxMs: 5 },
      { initialMs: Number.NaN, maxMs: 5 },
    ]) {
      expect(() => checkBackoffPolicy(bad)).toThrow(/initialMs/);
    }
  });

  it("Backoff counts attempts and starts over after reset", () => {
    const b = new Backoff(policy, () => 0.5);
    expect([b.next(), b.next(), b.next()]).toEqual([50, 100, 200]);
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.next()).toBe(50);
  });
});

describe("the reconnect loop on a FakeClock", () => {
  let pki: TestPki | undefined;
  let transport: Transport | undefined;
  afterEach(async () => {
    await transport?.stop();
    pki?.cleanup();
  });

  /** A 127.0.0.1 port with nothing listening, so every dial is refused at once. */
  async function refusedPort(): Promise<number> {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const address = srv.address();
    await new Promise((r) => srv.close(r));
    return typeof address === "object" && address !== null ? address.port : 1;
  }

  async function until(what: string, check: () => boolean): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it("waits exactly the jittered delay on the injected clock before each redial", async () => {
    pki = createTestPki();
    const who = { agent_id: "srv-primary", client_id: "clinic-001" };
    const tls = pki.issueClient("a", who);
    const clock = new FakeClock();
    const cpKey = Buffer.alloc(32, 1).toString("base64");
    transport = createTransport({
      url: `wss://127.0.0.1:${await refusedPort()}/v1/agent`,
      ca: pki.ca.cert,
      cert: tls.cert,
      key: tls.key,
      hello: { ...who, hostname: "srv-primary", agent_version: "0.1.0", catalog_sha256: "d".repeat(64) },
      outbox: new MemoryOutbox(generateSigningKey(), cpKey, who),
      onCommand: async () => {},
      clock,
      random: () => 0.5,
      logger: memoryLogger(),
      backoff: policy,
    });
    transport.start();
    const expected = [50, 100, 200, 400, 500, 500];
    for (const [i, delay] of expected.entries()) {
      await until(
        `attempt ${i + 1} parked in backoff`,
        () => clock.pendingSleeps === 1 && transport?.stats().connectAttempts === i + 1,
      );
      expect(transport.stats()).toMatchObject({
        state: "backoff",
        connectAttempts: i + 1,
        backoffAttempts: i + 1,
      });
      await clock.advance(delay - 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(transport.stats().connectAttempts).toBe(i + 1);
      await clock.advance(1);
      await until(`attempt ${i + 2}`, () => transport?.stats().connectAttempts === i + 2);
    }
    // stop() cancels the pending backoff sleep instead of waiting for the fake clock.
    await until("parked again", () => transport?.state() === "backoff");
    await transport.stop();
    expect(transport.state()).toBe("stopped");
  });

  it("fails fast on options it could never connect with", async () => {
    pki = createTestPki();
    const who = { agent_id: "srv-primary", client_id: "clinic-001" };
    const tls = pki.issueClient("a", who);
    const other = pki.issueClient("b", who);
    const base = {
      url: "wss://127.0.0.1:1/v1/agent",
      ca: pki.ca.cert,
      cert: tls.cert,
      key: tls.key,
      hello: { ...who, hostname: "srv-primary", agent_version: "0.1.0", catalog_sha256: "d".repeat(64) },
      outbox: new MemoryOutbox(generateSigningKey(), Buffer.alloc(32, 1).toString("base64"), who),
      onCommand: async () => {},
    };
    const bad = [
      { url: "ws://127.0.0.1:1/v1/agent" },
      { url: "not a url" },
      { key: other.key },
      { cert: "" },
      { sendWindow: 0 },
      { pingIntervalMs: 1.5 },
      { backoff: { initialMs: 10, maxMs: 1 } },
      { hello: { ...base.hello, agent_id: "Not A Slug" } },
    ];
    for (const override of bad) {
      let thrown: unknown;
      try {
        createTransport({ ...base, ...override });
      } catch (e) {
        thrown = e;
      }
      expect(isMspError(thrown, "config_invalid"), JSON.stringify(override)).toBe(true);
    }
  });
});
