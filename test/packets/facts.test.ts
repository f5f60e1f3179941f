/**
 * Packet facts (packet_facts): bundles stored before the table existed are
 * derived from their stored bodies on the first packet of their month, with
 * the same figures as facts recorded at ingest; a stored body that changed
 * since ingest shows as not intact; facts of an older extraction version are
 * derived again; a body that no longer parses refuses the packet.
 */
import { bundleHash, canonicalBytes, type EvidenceBundle, isMspError, signingKeyFromSeed } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { type Db, migrate, openDatabase } from "../../control-plane/src/db/index.js";
import { buildContent, packetFactsSink, type StoredEvidence } from "../../control-plane/src/packets/index.js";
import { ALL_MIGRATIONS } from "../../control-plane/src/server/migrations.js";
import { agentMonth, signMonth } from "./month-fixture.js";

const CLINIC = "clinic-facts";
const MONTH = "2026-10";

/** Two agents' month of signed bundles, as ingest would report them. */
function month(): StoredEvidence[] {
  return ["srv-f1", "srv-f2"].flatMap((agentId, a) =>
    signMonth(
      agentMonth({ clinicId: CLINIC, month: MONTH, days: 31 }, a, agentId),
      signingKeyFromSeed(Buffer.alloc(32, a + 7)),
    ).map((b: EvidenceBundle) => ({
      client_id: CLINIC,
      agent_id: agentId,
      seq: b.seq,
      bundle_id: b.bundle_id,
      kind: b.kind,
      created_at: b.created_at,
      sha256: bundleHash(b),
      body: canonicalBytes(b).toString("utf8"),
    })),
  );
}

/** Stores bundles the way the evidence store does, without running any onStored hook. */
function store(db: Db, rows: StoredEvidence[]): void {
  const insert = db.prepare(
    `INSERT INTO evidence_bundles (client_id, agent_id, seq, bundle_id, sha256, prev_hash, kind, key_id, created_at, received_at, body)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'k', ?, ?, ?)`,
  );
  db.transaction(() => {
    for (const r of rows) {
      insert.run(
        r.client_id,
        r.agent_id,
        r.seq,
        r.bundle_id,
        r.sha256,
        "0".repeat(64),
        r.kind,
        r.created_at,
        r.created_at,
        r.body,
      );
    }
  })();
}

const content = (db: Db) =>
  buildContent(db, {
    clinicId: CLINIC,
    clinicName: "Facts Clinic",
    month: MONTH,
    generatedAt: new Date("2026-11-02T00:00:00.000Z"),
  });

const factsRows = (db: Db) =>
  db
    .prepare(
      "SELECT agent_id, seq, sha256, body_intact, version, facts FROM packet_facts ORDER BY agent_id, seq",
    )
    .all();

describe("packet facts", () => {
  it("counts bundles stored before the facts table existed, with the figures facts from ingest give", () => {
    const rows = month();
    // An existing deployment: evidence stored, then the upgrade adds packet_facts.
    const old = openDatabase(":memory:");
    migrate(
      old,
      ALL_MIGRATIONS.filter((m) => m.id !== "packets-003"),
    );
    store(old, rows);
    expect(migrate(old, ALL_MIGRATIONS)).toEqual(["packets-003"]);
    expect(factsRows(old)).toEqual([]);
    const upgraded = content(old);
    expect(upgraded.manifest.totals).toMatchObject({ bundles: rows.length, body_intact: rows.length });
    expect(factsRows(old)).toHaveLength(rows.length);

    // A new deployment: the same bundles, facts recorded by the onStored hook.
    const fresh = openDatabase(":memory:");
    migrate(fresh, ALL_MIGRATIONS);
    store(fresh, rows);
    const errors: unknown[] = [];
    packetFactsSink(fresh, (e) => errors.push(e))(rows);
    expect(errors).toEqual([]);
    expect(factsRows(fresh)).toEqual(factsRows(old));
    expect(content(fresh)).toEqual(upgraded);
    expect(upgraded.kpis.drift_results.pass).toBeGreaterThan(0);
    old.close();
    fresh.close();
  });

  it("marks a bundle whose stored body changed before its facts were taken, and re-derives an older version", () => {
    const rows = month();
    const db = openDatabase(":memory:");
    migrate(db, ALL_MIGRATIONS);
    const [first, ...rest] = rows as [StoredEvidence, ...StoredEvidence[]];
    const altered = first.body.replace('"pass"', '"fail"');
    expect(altered).not.toBe(first.body);
    store(db, [{ ...first, body: altered }, ...rest]);
    packetFactsSink(db, () => {})(rest);
    const c = content(db);
    expect(c.manifest.totals).toMatchObject({ bundles: rows.length, body_intact: rows.length - 1 });
    expect(c.manifest.entries.find((e) => e.sha256 === first.sha256)?.body_intact).toBe(false);

    db.prepare("UPDATE packet_facts SET version = 0, facts = '{}' WHERE agent_id = ? AND seq = ?").run(
      rest[0]?.agent_id,
      rest[0]?.seq,
    );
    expect(content(db)).toEqual(c);
    expect(db.prepare("SELECT count(*) AS n FROM packet_facts WHERE version = 0").get()).toEqual({ n: 0 });
    db.close();
  });

  it("refuses a packet whose month holds a stored body that no longer parses, and the hook reports it", () => {
    const rows = month();
    const db = openDatabase(":memory:");
    migrate(db, ALL_MIGRATIONS);
    const [first, ...rest] = rows as [StoredEvidence, ...StoredEvidence[]];
    const broken = { ...first, body: "{not json" };
    store(db, [broken, ...rest]);
    const errors: string[] = [];
    packetFactsSink(db, (e, row) => errors.push(`${row?.seq}:${e.code}`))([broken, ...rest]);
    expect(errors).toEqual([`${first.seq}:integrity_mismatch`]);
    let caught: unknown;
    try {
      content(db);
    } catch (e) {
      caught = e;
    }
    expect(isMspError(caught) && caught.code).toBe("integrity_mismatch");
    db.close();
  });
});
