import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { createAgentEndpoint } from "./index.js";

const ingest = {
  submitFrame: async () => {
    throw new Error("not used");
  },
  head: () => ({ acked_seq: 0 }),
  ackFor: () => null,
  keyId: "0".repeat(32),
};

/** A socket that records what the upgrade handler wrote before closing it. */
function fakeUpgrade(url: string, tls: { encrypted?: boolean; authorized?: boolean }) {
  let written = "";
  const socket = { end: (text: string) => (written += text) } as unknown as Duplex;
  const req = { url, socket: tls, headers: {} } as unknown as IncomingMessage;
  return { req, socket, written: () => written };
}

describe("agent endpoint upgrade gate", () => {
  it("refuses other paths (404), plain or unverified sockets (401), unreadable identities (401) and revoked agents (403)", async () => {
    const endpoint = createAgentEndpoint({
      ingest,
      identify: (s) => (s as unknown as { who?: { agent_id: string; client_id: string } }).who ?? null,
      isRevoked: (who) => who.agent_id === "srv-gone",
    });
    const cases: [string, Record<string, unknown>, string][] = [
      ["/v1/other", { encrypted: true, authorized: true }, "404"],
      ["/v1/agent", {}, "401"],
      ["/v1/agent", { encrypted: true, authorized: false }, "401"],
      ["/v1/agent", { encrypted: true, authorized: true }, "401"],
      [
        "/v1/agent",
        { encrypted: true, authorized: true, who: { agent_id: "BAD ID", client_id: "clinic-001" } },
        "401",
      ],
      [
        "/v1/agent",
        { encrypted: true, authorized: true, who: { agent_id: "srv-gone", client_id: "clinic-001" } },
        "403",
      ],
    ];
    for (const [url, tls, status] of cases) {
      const u = fakeUpgrade(url, tls);
      endpoint.handleUpgrade(u.req, u.socket, Buffer.alloc(0));
      expect(u.written()).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    }
    expect(endpoint.counters.refusals).toEqual({
      not_found: 1,
      unauthenticated: 2,
      unidentified: 2,
      revoked: 1,
    });
    expect(endpoint.counters.upgrades).toBe(0);
    await endpoint.close();
  });

  it("fails fast on bad options", () => {
    expect(() => createAgentEndpoint({ ingest, identify: () => null, pingIntervalMs: 0 })).toThrow(
      /pingIntervalMs/,
    );
    expect(() => createAgentEndpoint({ ingest, identify: () => null, maxPendingPerConnection: 1.5 })).toThrow(
      /maxPendingPerConnection/,
    );
  });
});
