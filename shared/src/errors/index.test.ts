import { describe, expect, it } from "vitest";
import { ERROR_CODES, isMspError, MspError, toMspError } from "./index.js";

describe("MspError", () => {
  it("carries code, status, retryable and keeps the cause out of its JSON", () => {
    const e = new MspError("rate_limited", "per-clinic limit reached", {
      cause: new Error("db detail"),
      retryAfterSeconds: 30,
      details: { limit: "clinic" },
    });
    expect(e.status).toBe(429);
    expect(e.retryable).toBe(true);
    expect(e.retryAfterSeconds).toBe(30);
    expect(JSON.stringify(e)).toBe(
      '{"code":"rate_limited","message":"per-clinic limit reached","retryable":true,"details":{"limit":"clinic"}}',
    );
    expect(JSON.stringify(e)).not.toContain("db detail");
  });

  it("wraps unknown throws as internal without leaking their text", () => {
    const e = toMspError(new Error("password=hunter2"));
    expect(e.code).toBe("internal");
    expect(e.message).toBe("internal error");
    expect(isMspError(e, "internal")).toBe(true);
    expect(toMspError(e)).toBe(e);
  });

  it("has an HTTP status for every code", () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
    }
  });
});
