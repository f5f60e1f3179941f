import { FakeClock } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { AUTH_MIGRATIONS, createApiKeys } from "../auth/index.js";
import { migrate, openDatabase } from "../db/index.js";
import { createSessions, csrfTokenOf, DASHBOARD_MIGRATIONS } from "./sessions.js";

function setup() {
  const db = openDatabase(":memory:");
  migrate(db, [...AUTH_MIGRATIONS, ...DASHBOARD_MIGRATIONS]);
  const clock = new FakeClock("2026-11-21T10:00:00Z");
  const apiKeys = createApiKeys(db, clock);
  const sessions = createSessions({ db, clock, apiKeys, times: { idleSeconds: 600, absoluteSeconds: 3600 } });
  const op = apiKeys.create({ name: "op", role: "operator", client_id: "clinic-a", created_by: null });
  return { db, clock, apiKeys, sessions, op };
}

describe("dashboard sessions", () => {
  it("exchanges a key for a session whose id is stored only as a hash", () => {
    const { db, sessions, op } = setup();
    const { id, session } = sessions.signIn(op.key);
    expect(session.principal).toMatchObject({
      key_id: op.info.key_id,
      role: "operator",
      client_id: "clinic-a",
    });
    expect(session.csrf).toBe(csrfTokenOf(id));
    const rows = db.prepare("SELECT * FROM dashboard_sessions").all() as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(id);
    expect(sessions.lookup(id)?.principal.key_id).toBe(op.info.key_id);
  });

  it("refuses a bad key and opens nothing", () => {
    const { db, sessions } = setup();
    expect(() => sessions.signIn(`msp_key_${"0".repeat(16)}_${"a".repeat(43)}`)).toThrow(
      /unknown or revoked/,
    );
    expect(() => sessions.signIn("not a key")).toThrow(/unknown or revoked/);
    expect(db.prepare("SELECT count(*) AS n FROM dashboard_sessions").get()).toEqual({ n: 0 });
  });

  it("ends after the idle time, and use extends it", async () => {
    const { clock, sessions, op } = setup();
    const { id } = sessions.signIn(op.key);
    await clock.advance(500_000);
    expect(sessions.lookup(id)).not.toBeNull();
    await clock.advance(500_000);
    expect(sessions.lookup(id, { touch: false })).not.toBeNull();
    await clock.advance(200_000);
    expect(sessions.lookup(id)).toBeNull();
  });

  it("ends at the absolute time however busy", async () => {
    const { clock, sessions, op } = setup();
    const { id } = sessions.signIn(op.key);
    for (let i = 0; i < 7; i++) {
      await clock.advance(500_000);
      expect(sessions.lookup(id)).not.toBeNull();
    }
    await clock.advance(200_000);
    expect(sessions.lookup(id)).toBeNull();
  });

  it("ends when the key is revoked, and on sign-out", () => {
    const { apiKeys, sessions, op } = setup();
    const a = sessions.signIn(op.key);
    const b = sessions.signIn(op.key);
    expect(a.session.csrf).not.toBe(b.session.csrf);
    sessions.signOut(a.id);
    expect(sessions.lookup(a.id)).toBeNull();
    expect(sessions.lookup(b.id)).not.toBeNull();
    apiKeys.revoke(op.info.key_id);
    expect(sessions.lookup(b.id)).toBeNull();
  });

  it("ignores malformed and unknown ids, and sweeps expired sessions", async () => {
    const { clock, sessions, op } = setup();
    expect(sessions.lookup("")).toBeNull();
    expect(sessions.lookup("x".repeat(43))).toBeNull();
    sessions.signIn(op.key);
    expect(sessions.sweep()).toBe(0);
    await clock.advance(601_000);
    expect(sessions.sweep()).toBe(1);
  });

  it("refuses lifetimes that make no sense", () => {
    const { db, clock, apiKeys } = setup();
    expect(() =>
      createSessions({ db, clock, apiKeys, times: { idleSeconds: 0, absoluteSeconds: 10 } }),
    ).toThrow(/idle time/);
  });
});
