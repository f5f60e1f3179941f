/**
 * Compliance packets: the time to generate one clinic-month packet over
 * 50,000 stored bundles, split into the content plus Markdown and HTML (one
 * SQLite read of the month, every body re-hashed and parsed, the ten
 * sections, two renderings) and the PDF (headless Debian Chromium, launch
 * included, since every packet launches a fresh browser).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { migrate, openDatabase } from "../../control-plane/src/db/index.js";
import { buildContent } from "../../control-plane/src/packets/content.js";
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
  pdf: "packet PDF (headless Chromium, launch included)",
} as const;

/** Fills a fresh database with a clinic-month of signed bundles, archived and checkpointed. */
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
  let count = 0;
  for (let a = 0; a < AGENTS; a++) {
    const agentId = `srv-${String(a).padStart(3, "0")}`;
    const key = signingKeyFromSeed(Buffer.alloc(32, a + 1));
    const bundles = signMonth(
      agentMonth({ clinicId: CLINIC, month: MONTH, days: 31, driftPerDay: DRIFT_PER_DAY }, a, agentId),
      key,
    );
    db.transaction(() => {
      for (const b of bundles) {
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
      }
    })();
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
    "(median of 3 in a full run, 1 with --quick); the PDF launches /usr/bin/chromium each time, as a packet does.",
  async run(opts) {
    const dir = mkdtempSync(join(tmpdir(), "msp-bench-packets-"));
    const { db, bundles } = fill(join(dir, "cp.db"));
    try {
      const rounds = opts.quick ? 1 : 3;
      const textMs: number[] = [];
      let html = "";
      for (let i = 0; i < rounds; i++) {
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
        textMs.push(performance.now() - t0);
      }
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
          bound: "JSON.parse and sha256 of every stored body",
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
