import {
  bundleHash,
  type EvidenceBundle,
  FakeClock,
  GENESIS_HASH,
  generateSigningKey,
  signBundle,
  type UnsignedBundle,
} from "@msp/shared";
import { afterEach, describe, expect, it } from "vitest";
import { unsignedBundle } from "../../../test/support/bundles.js";
import { type Db, migrate, openDatabase } from "../db/index.js";
import { createEvidenceStore, createIngest, EVIDENCE_MIGRATIONS, type Ingest } from "./index.js";

const primary = { client_id: "clinic-001", agent_id: "srv-primary" };
const other = { client_id: "clinic-002", agent_id: "srv-other" };
const keyOf = { [primary.agent_id]: generateSigningKey(), [other.agent_id]: generateSigningKey() };
const keys = { evidenceKeyOf: (id: string) => keyOf[id]?.publicKey.toString("base64") };
const open: { ingest: Ingest; db: Db }[] = [];

afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.ingest.close();
    o.db.close();
  }
});

function drift(status: "pass" | "fail"): Partial<UnsignedBundle> {
  return {
    kind: "drift_check",
    incident: null,
    runbook: null,
    execution: null,
    actions_taken: [],
    drift: {
      baseline_id: "baseline-1",
      baseline_version: "1",
      results: [
        {
          check_id: "backup_age",
          status,
          citation: ["164.308(a)(7)(ii)(A)"],
          observed: "x",
          expected: "y",
          reason: null,
          exception: null,
          event_type: null,
        },
      ],
    },
  };
}

/** Ingests a chain for `who` whose bundles take the given overrides, one minute apart from 08:01. */
async function chainOf(ingest: Ingest, who: typeof primary, parts: Partial<UnsignedBundle>[]) {
  const out: EvidenceBundle[] = [];
  let prev = GENESIS_HASH;
  for (const [i, p] of parts.entries()) {
    const b = signBundle(
      unsignedBundle(i + 1, prev, { ...who, hostname: who.agent_id, ...p }),
      keyOf[who.agent_id] as never,
    );
    prev = bundleHash(b);
    out.push(b);
    expect((await ingest.submit(who, b)).status).toBe("stored");
  }
  return out;
}

async function setup() {
  const db = openDatabase(":memory:");
  migrate(db, EVIDENCE_MIGRATIONS);
  const ingest = await createIngest({
    db,
    keys,
    signingKey: generateSigningKey(),
    clock: new FakeClock(),
    workers: 0,
  });
  open.push({ ingest, db });
  return { db, ingest, store: createEvidenceStore({ db, keys }) };
}

describe("evidence store", () => {
  it("searches a clinic newest first with cursor pages and filters, never showing another clinic", async () => {
    const { ingest, store } = await setup();
    await chainOf(ingest, primary, [{}, drift("fail"), {}, drift("pass"), {}]);
    await chainOf(ingest, other, [{}, {}]);
    const p1 = store.search({ client_id: "clinic-001", limit: 2 });
    expect(p1.items.map((b) => b.seq)).toEqual([5, 4]);
    const p2 = store.search({ client_id: "clinic-001", limit: 2, cursor: p1.next_cursor ?? "" });
    const p3 = store.search({ client_id: "clinic-001", limit: 2, cursor: p2.next_cursor ?? "" });
    expect([...p2.items, ...p3.items].map((b) => b.seq)).toEqual([3, 2, 1]);
    expect(p3.next_cursor).toBeNull();
    expect(store.search({ client_id: "clinic-001", kind: "drift_check" }).items.map((b) => b.seq)).toEqual([
      4, 2,
    ]);
    const t2 = "2026-11-01T08:02:00.000Z";
    const t4 = "2026-11-01T08:04:00.000Z";
    expect(store.search({ client_id: "clinic-001", from: t2, to: t4 }).items.map((b) => b.seq)).toEqual([
      3, 2,
    ]);
    expect(store.search({ client_id: "clinic-002" }).items.every((b) => b.client_id === "clinic-002")).toBe(
      true,
    );
    expect(store.counts({ client_id: "clinic-001", from: t2 })).toEqual({
      total: 4,
      by_kind: { drift_check: 2, runbook_execution: 2 },
    });
  });

  it("gets one bundle by id or hash with its verification status, scoped to the clinic", async () => {
    const { ingest, store, db } = await setup();
    const chain = await chainOf(ingest, primary, [{}, {}]);
    await chainOf(ingest, other, [{}]);
    const b2 = chain[1] as EvidenceBundle;
    const got = store.get(b2.bundle_id, { client_id: "clinic-001" });
    expect(got?.bundle).toEqual(b2);
    expect(got?.verification).toEqual({
      body_intact: true,
      signature: "valid",
      linked_to_previous: true,
      acknowledged: true,
      anomalies: [],
    });
    expect(store.get(bundleHash(b2), { client_id: "clinic-001" })?.seq).toBe(2);
    expect(store.get(bundleHash(b2), { client_id: "clinic-002" })).toBeNull();
    // Both clinics' agents produced EB-20261101-0001: each clinic sees only its own.
    expect(store.get((chain[0] as EvidenceBundle).bundle_id, { client_id: "clinic-002" })?.agent_id).toBe(
      "srv-other",
    );
    db.prepare(
      "UPDATE evidence_bundles SET body = replace(body, 'srv-primary', 'srv-evil') WHERE seq = 2 AND agent_id = 'srv-primary'",
    ).run();
    expect(store.get(b2.bundle_id, { client_id: "clinic-001" })?.verification).toMatchObject({
      body_intact: false,
      signature: "invalid",
    });
    db.prepare("UPDATE evidence_bundles SET body = '{' WHERE seq = 2 AND agent_id = 'srv-primary'").run();
    expect(() => store.get(b2.bundle_id, { client_id: "clinic-001" })).toThrow(/no longer parses/);
    expect(() => store.get("nonsense", { client_id: "clinic-001" })).toThrow(/invalid evidence lookup/);
  });

  it("keeps the latest drift result per agent and check", async () => {
    const { ingest, store } = await setup();
    await chainOf(ingest, primary, [drift("fail"), {}, drift("pass")]);
    expect(store.driftLatest({ client_id: "clinic-001" })).toEqual([
      {
        client_id: "clinic-001",
        agent_id: "srv-primary",
        check_id: "backup_age",
        status: "pass",
        seq: 3,
        bundle_id: "EB-20261101-0003",
        created_at: "2026-11-01T08:03:00.000Z",
      },
    ]);
    expect(store.chains("clinic-001")).toMatchObject([{ agent_id: "srv-primary", acked_seq: 3, max_seq: 3 }]);
  });

  it("refuses bad queries with invalid_input", async () => {
    const { store } = await setup();
    expect(() => store.search({ client_id: "Clinic 1" })).toThrow(/invalid evidence search/);
    expect(() => store.search({ client_id: "clinic-001", limit: 0 })).toThrow(/invalid evidence search/);
    expect(() => store.search({ client_id: "clinic-001", cursor: "garbage" })).toThrow(/invalid cursor/);
    expect(() => store.anomalies({ client_id: "clinic-001", kind: "weird" as never })).toThrow(
      /invalid anomaly query/,
    );
    expect(() => store.counts({ client_id: "clinic-001", from: "yesterday" })).toThrow(
      /invalid evidence count/,
    );
  });
});
