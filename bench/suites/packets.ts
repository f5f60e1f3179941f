/**
 * Compliance packets: the time to generate one clinic-month packet over
 * 50,000 stored bundles, split into the content plus Markdown and HTML (one
 * read of the month's packet facts, recorded at ingest as in production, the
 * ten sections, two renderings), the same for a month stored before the facts
 * table existed (every fact derived from its stored body first), and the PDF
 * (headless Debian Chromium, launch included, since every packet launches a
 * fresh browser).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { migrate, openDatabase } from "../../control-plane/src/db/index.js";
import { buildContent } from "../../control-plane/src/packets/content.js";
import { packetFactsSink } from "../../control-plane/src/packets/facts-table.js";
import { renderHtml } from "../../control-plane/src/packets/html.js";
import { renderMarkdown } from "../../control-plane/src/packets/markdown.js";
import { renderPdf } from "../../control-plane/src/packets/pdf.js";
import { ALL_MIGRATIONS } from "../../control-plane/src/server/migrations.js";
import { bundleHash, canonicalBytes, signingKeyFromSeed } from "../../shared/src/index.js";
import { agentMonth, signMonth } from "../../test/packets/month-fixture.js";
import { consume, type Row, type Suite } from "../lib.js";

const CLINIC = "clinic-bench";
const MONTH = "2026-10";
const AGENTS = 20;
/** 20 agents x 31 days x 81 drift bundles, plus the restore tests and backup runs of one agent. */
const DRIFT_PER_DAY = 81;

/** Figure names. */
export const F = {
  text: "packet Markdown + HTML, 50,000-bundle clinic-month",
  backfill: "first packet of a month stored before packet_facts (facts derived from bodies)",
  pdf: "packet PDF (headless Chromium, launch included)",
} as const;

/**
 * Fills a fresh database with a clinic-month of signed bundles, archived and
 * checkpointed, their packet facts recorded by the control plane's onStored hook.
 */
export function fill(dbPath: string): { db: ReturnType<typeof openDatabase>; bundles: number } {
  const db = openDatabase(dbPath);
  migrate(db, ALL_MIGRATIONS);
  const insert = db.prepare(
    `INSERT INTO evidence_bundles (client_id, agent_id, seq, bundle_id, sha256, prev_hash, kind, key_id, created_at, received_at, body)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const object = db.prepare(
    `INSERT INTO worm_objects (client_id, kind, object_key, sha256, size, content_type, retain_until, body, state, next_attempt_at, enqueued_at, version_id, uploaded_at)
     VALUES (?, 'bundle', ?, ?, ?, 'application/json', '2032-11-01T00:00:00.000Z', NULL, 'uploaded', 0, ?, ?, ?)`,
  );
  const worm = db.prepare("INSERT INTO worm_bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  const facts = packetFactsSink(db, (e) => {
    throw e;
  });
  let count = 0;
  for (let a = 0; a < AGENTS; a++) {
    const agentId = `srv-${String(a).padStart(3, "0")}`;
    const key = signingKeyFromSeed(Buffer.alloc(32, a + 1));
    const bundles = signMonth(
      agentMonth({ clinicId: CLINIC, month: MONTH, days: 31, driftPerDay: DRIFT_PER_DAY }, a, agentId),
      key,
    );
    const stored = db.transaction(() =>
      bundles.map((b) => {
        const body = canonicalBytes(b).toString("utf8");
        const sha = bundleHash(b);
        const day = b.created_at.slice(0, 10);
        insert.run(
          CLINIC,
          agentId,
          b.seq,
          b.bundle_id,
          sha,
          b.prev_hash,
          b.kind,
          key.keyId,
          b.created_at,
          b.created_at,
          body,
        );
        const info = object.run(
          CLINIC,
          `evidence/${CLINIC}/${agentId}/${day}/${b.seq}.json`,
          sha,
          body.length,
          b.created_at,
          `v${b.seq}`,
          b.created_at,
        );
        worm.run(CLINIC, agentId, b.seq, b.bundle_id, sha, b.created_at, day, Number(info.lastInsertRowid));
        return {
          client_id: CLINIC,
          agent_id: agentId,
          seq: b.seq,
          bundle_id: b.bundle_id,
          kind: b.kind,
          created_at: b.created_at,
          sha256: sha,
          body,
        };
      }),
    )();
    facts(stored);
    count += bundles.length;
  }
  return { db, bundles: count };
}

/** The packets suite. */
export const packetsSuite: Suite = {
  name: "packets",
  title: "Compliance packets",
  description:
    `One clinic-month of ${AGENTS * 31 * DRIFT_PER_DAY + 8} stored bundles (${AGENTS} agents, drift checks with five results each, ` +
    "restore tests and backup runs), every one archived in the WORM tables. Wall-clock time of one generation " +
    "(median of 3 in a full run, 1 with --quick); the first packet after an upgrade once; the PDF launches " +
    "/usr/bin/chromium each time, as a packet does.",
  async run(opts) {
    const dir = mkdtempSync(join(tmpdir(), "msp-bench-packets-"));
    const { db, bundles } = fill(join(dir, "cp.db"));
    try {
      const rounds = opts.quick ? 1 : 3;
      const textMs: number[] = [];
      let html = "";
      const generate = () => {
        const t0 = performance.now();
        const content = buildContent(db, {
          clinicId: CLINIC,
          clinicName: "Bench Clinic",
          month: MONTH,
          generatedAt: new Date("2026-11-01T00:00:00.000Z"),
        });
        if (content.manifest.totals.bundles !== bundles) throw new Error("packet missed bundles");
        consume(renderMarkdown(content));
        html = renderHtml(content);
        return performance.now() - t0;
      };
      for (let i = 0; i < rounds; i++) textMs.push(generate());
      // An upgraded deployment: the month's bundles were stored before packet_facts existed.
      db.exec("DELETE FROM packet_facts");
      const backfillMs = generate();
      const pdfMs: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        consume(await renderPdf(html));
        pdfMs.push(performance.now() - t0);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const rows: Row[] = [
        {
          figure: F.text,
          value: median(textMs) / 1000,
          unit: "s",
          target: { kind: "atMost", value: 2 },
          bound: "decoding 250,000 drift results of packet facts (~33 MB JSON) and the GC of keeping them",
        },
        {
          figure: F.backfill,
          value: backfillMs / 1000,
          unit: "s",
          target: { kind: "ref", value: 7.55 },
          bound: "reading, hashing and JSON.parse of every stored body (once per month)",
        },
        {
          figure: F.pdf,
          value: median(pdfMs) / 1000,
          unit: "s",
          target: { kind: "atMost", value: 10 },
          bound: "Chromium start-up and layout",
        },
      ];
      return rows;
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
