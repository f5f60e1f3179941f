/**
 * Compliance packets end to end: two enrolled agents send a month of signed
 * evidence (drift results with failures and an exception, restore tests, one
 * failing, backup remediations) over the real mTLS WebSocket; the API
 * generates the packet; its figures are checked against an independent
 * computation from the bundles the test sent; the PDF is checked with
 * poppler (pdftotext) and page 1 is written as a PNG for human review.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bundleHash,
  canonicalBytes,
  type EvidenceBundle,
  FakeClock,
  HIPAA_CONTROLS,
  PROTOCOL_VERSION,
  sha256Hex,
  verifyBytes,
} from "@msp/shared";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createPacketService,
  type PacketContent,
  type PacketRecord,
} from "../../control-plane/src/packets/index.js";
import { SECTION_TITLES } from "../../control-plane/src/packets/markdown.js";
import { computePosture } from "../../control-plane/src/packets/posture.js";
import {
  connectAgent,
  type EnrolledAgent,
  enrollTestAgent,
  startTestControlPlane,
  type TestControlPlane,
} from "../support/control-plane.js";
import { agentMonth, BACKUP_RUNS, offsetOf, signMonth } from "./month-fixture.js";

const CLINIC = "clinic-pk";
const MONTH = "2026-10";
const DAYS = 31;
const ARTIFACTS = join(import.meta.dirname, "..", "artifacts");

let t: TestControlPlane;
const agents: EnrolledAgent[] = [];
const sent: EvidenceBundle[] = [];
let auditorKey = "";
let packet: PacketRecord;
let content: PacketContent;

async function send(agent: EnrolledAgent, bundles: EvidenceBundle[]) {
  const s = await connectAgent(t, { certPem: agent.certPem, keyPem: agent.tlsKeyPem });
  if ("refused" in s) throw new Error(`refused with ${s.refused}`);
  s.send({
    type: "hello",
    protocol_version: PROTOCOL_VERSION,
    agent_id: agent.agentId,
    client_id: agent.clientId,
    hostname: agent.agentId,
    agent_version: "test",
    last_seq: 0,
    catalog_sha256: "0".repeat(64),
  });
  await s.next("welcome");
  for (const b of bundles) s.send({ type: "bundle", bundle: b });
  const last = bundles.at(-1)?.seq ?? 0;
  for (;;) {
    const ack = (await s.next("ack", 20_000)) as { receipt: { up_to_seq: number } };
    if (ack.receipt.up_to_seq >= last) break;
  }
  await s.close();
}

async function download(path: string, key: string) {
  const res = await t.cp.app.request(path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

beforeAll(async () => {
  t = await startTestControlPlane();
  const made = await t.api("POST", "/v1/clinics", t.adminKey, { client_id: CLINIC, name: "Packet Clinic" });
  expect(made.status).toBe(201);
  await t.api("POST", "/v1/clinics", t.adminKey, { client_id: "clinic-other", name: "Other" });
  const auditor = await t.api<{ key: string }>("POST", "/v1/api-keys", t.adminKey, {
    name: "auditor",
    role: "auditor",
    client_id: CLINIC,
  });
  expect(auditor.status).toBe(201);
  auditorKey = auditor.body.key;
  for (const [i, id] of ["srv-pk1", "srv-pk2"].entries()) {
    const agent = await enrollTestAgent(t, CLINIC, id);
    agents.push(agent);
    const month = agentMonth({ clinicId: CLINIC, month: MONTH, days: DAYS }, i, id);
    // One bundle on each side of the month, which the packet must ignore.
    const before = { ...(month[0] as (typeof month)[number]), created_at: "2026-09-30T23:59:59.000Z" };
    const after = { ...(month[0] as (typeof month)[number]), created_at: "2026-11-01T00:00:00.000Z" };
    const all = [before, ...month, after].map((u, n) => ({ ...u, seq: n + 1 }));
    const bundles = signMonth(all, agent.evidenceKey);
    await send(agent, bundles);
    sent.push(...bundles.slice(1, -1));
  }
  // Let the uploader archive every bundle first, so the manifest's WORM versions are final.
  const pending = t.cp.db.prepare("SELECT count(*) AS n FROM worm_objects WHERE state != 'uploaded'");
  for (let i = 0; (pending.get() as { n: number }).n > 0; i++) {
    if (i > 600) throw new Error("WORM uploads did not finish");
    await new Promise((r) => setTimeout(r, 100));
  }
  const res = await t.api<PacketRecord>("POST", `/v1/clinics/${CLINIC}/packets`, t.adminKey, {
    month: MONTH,
  });
  expect(res.status).toBe(201);
  packet = res.body;
  const json = await download(`/v1/clinics/${CLINIC}/packets/${packet.packet_id}/packet.json`, auditorKey);
  expect(json.status).toBe(200);
  content = JSON.parse(json.body.toString("utf8")) as PacketContent;
}, 180_000);

afterAll(async () => {
  await t?.stop();
});

/** Every drift result the test sent. */
const results = () =>
  sent.flatMap((b) => (b.drift?.results ?? []).map((r) => ({ agent: b.agent_id, time: b.created_at, r })));

describe("packet figures from a month of real evidence", () => {
  it("computes the KPIs the same way an independent count does", () => {
    const all = results();
    const pass = all.filter((x) => x.r.status === "pass").length;
    const fail = all.filter((x) => x.r.status === "fail").length;
    const backups = all.filter((x) => x.r.event_type === "backup_failure");
    const bPass = backups.filter((x) => x.r.status === "pass").length;
    const bFail = backups.filter((x) => x.r.status === "fail").length;
    const fixed = BACKUP_RUNS.filter((r) => r.outcome === "success");
    expect(content.kpis).toMatchObject({
      compliance_percent: Math.round((pass / (pass + fail)) * 10_000) / 100,
      drift_results: { pass, fail, undecided: all.length - pass - fail },
      backup_success_percent: Math.round((bPass / (bPass + bFail)) * 10_000) / 100,
      mttr_seconds: Math.round((fixed.reduce((s, r) => s + r.mttr, 0) / fixed.length) * 10) / 10,
      incidents_total: BACKUP_RUNS.length,
      incidents_auto_fixed: fixed.filter((r) => r.trigger !== "operator_cli").length,
      sla_met: BACKUP_RUNS.filter((r) => r.sla).length,
      sla_missed: BACKUP_RUNS.filter((r) => !r.sla).length,
    });
    expect(content.manifest.totals.bundles).toBe(sent.length);
  });

  it("lists every catalog control; failing at month end, passing, and not covered", () => {
    const status = Object.fromEntries(content.posture.controls.map((c) => [c.citation, c.status]));
    expect(content.posture.controls.map((c) => c.citation)).toEqual(HIPAA_CONTROLS.map((c) => c.citation));
    // srv-pk2's last encryption result failed.
    expect(status["164.312(a)(2)(iv)"]).toBe("fail");
    // SSH failed once mid-month (under an exception) and passed after: pass, with the failure counted.
    expect(status["164.312(d)"]).toBe("pass");
    const ssh = content.posture.controls.find((c) => c.citation === "164.312(d)");
    expect(ssh?.checks).toEqual([{ check_id: "sshd-hardening", pass: 2 * DAYS - 1, fail: 1 }]);
    // Backup: freshness passes at month end but the last restore test (day 28) passed and the
    // last backup run (day 26) failed, so the runbook evidence fails the control.
    expect(status["164.308(a)(7)(ii)(A)"]).toBe("fail");
    expect(status["164.312(b)"]).toBe("pass");
    // Only skipped results cite 164.312(e)(1): no evidence either way.
    expect(status["164.312(e)(1)"]).toBe("not_covered");
    expect(status["164.316(b)(1)"]).toBe("not_covered");
    const direct = computePosture(t.cp.db, { clinicId: CLINIC, month: MONTH });
    expect(direct).toEqual(content.posture);
    const enc = direct.controls.find((c) => c.citation === "164.312(a)(2)(iv)");
    const lastOfPk2 = sent.filter((b) => b.agent_id === "srv-pk2" && b.kind === "drift_check").at(-1);
    expect(enc?.evidence.map((e) => e.sha256)).toContain(lastOfPk2 && bundleHash(lastOfPk2));
  });

  it("reports per-host time offsets, backups per week, restore tests and exceptions", () => {
    for (const [i, h] of content.time_sync.entries()) {
      const offsets = Array.from({ length: DAYS }, (_, d) => offsetOf(i, d + 1));
      expect(h).toMatchObject({
        agent_id: agents[i]?.agentId,
        offsets_reported: DAYS,
        max_abs_offset_ms: Math.max(...offsets.map(Math.abs)),
        last_offset_ms: offsets.at(-1),
      });
    }
    expect(content.backups.weeks.map((w) => w.freshness.fail)).toEqual([2, 0, 0, 0, 0]);
    expect(content.backups.restore_tests.map((r) => [r.outcome, r.mismatches])).toEqual([
      ["success", "0"],
      ["success", "0"],
      ["failure", "3"],
      ["success", "0"],
    ]);
    expect(content.backups.runs.map((r) => r.archive_sha256?.slice(0, 2))).toEqual(["06", "16", "24", "26"]);
    expect(content.exceptions).toEqual([
      expect.objectContaining({
        id: "EXC-ssh-legacy",
        check_id: "sshd-hardening",
        results_covered: 1,
        agents: ["srv-pk1"],
      }),
    ]);
  });

  it("lists every bundle of the month, intact, with its WORM record", () => {
    expect(content.manifest.entries.map((e) => e.sha256).sort()).toEqual(sent.map(bundleHash).sort());
    expect(content.manifest.totals).toMatchObject({ body_intact: sent.length, uploaded: sent.length });
    // The facts were recorded at ingest, one row per bundle (the two outside the month included).
    expect(
      t.cp.db
        .prepare("SELECT count(*) AS n FROM packet_facts WHERE client_id = ? AND body_intact = 1")
        .get(CLINIC),
    ).toEqual({ n: sent.length + 4 });
    for (const e of content.manifest.entries) {
      const row = t.cp.db
        .prepare(
          "SELECT o.version_id FROM worm_bundles b JOIN worm_objects o ON o.id = b.object_id WHERE b.agent_id = ? AND b.seq = ?",
        )
        .get(e.agent_id, e.seq) as { version_id: string | null };
      expect(e.worm_version_id).toBe(row.version_id);
    }
  });
});

describe("the signed, stored packet", () => {
  it("signs the sha256 of every output with the control-plane key", async () => {
    const sig = await download(
      `/v1/clinics/${CLINIC}/packets/${packet.packet_id}/signature.json`,
      auditorKey,
    );
    const doc = JSON.parse(sig.body.toString("utf8")) as {
      files: { name: string; sha256: string }[];
      signature: { value: string };
    };
    const { signature, ...unsigned } = doc;
    expect(
      verifyBytes(
        t.cp.signingKey.publicKey.toString("base64"),
        canonicalBytes(unsigned),
        Buffer.from(signature.value, "base64"),
      ),
    ).toBe(true);
    expect(doc.files.map((f) => f.name)).toEqual(["packet.json", "packet.md", "packet.html", "packet.pdf"]);
    for (const f of doc.files) {
      const got = await download(`/v1/clinics/${CLINIC}/packets/${packet.packet_id}/${f.name}`, auditorKey);
      expect(sha256Hex(got.body)).toBe(f.sha256);
    }
    expect(packet.pdf_error).toBeNull();
  });

  it("renders Markdown and self-contained HTML with every section and the heatmap as SVG", async () => {
    const md = (
      await download(`/v1/clinics/${CLINIC}/packets/${packet.packet_id}/packet.md`, auditorKey)
    ).body.toString();
    const html = (
      await download(`/v1/clinics/${CLINIC}/packets/${packet.packet_id}/packet.html`, auditorKey)
    ).body.toString();
    for (const title of SECTION_TITLES) {
      expect(md).toContain(`## ${title}`);
      expect(html).toContain(`<h2>${title}</h2>`);
    }
    expect(html).toMatch(/<svg [^>]*aria-label="Control posture heatmap"/);
    expect(html).not.toMatch(/<(script|link|img)\b|src=|href=/);
    expect(md).toContain("Not covered: no agent reported patch status");
    expect(md).toMatch(/\| 164\.316\(b\)\(1\) \| Documentation \| NOT COVERED \|/);
  });

  it("produces a PDF whose text holds every heading and the manifest hashes, and a PNG of page 1", async () => {
    const pdf = await download(`/v1/clinics/${CLINIC}/packets/${packet.packet_id}/packet.pdf`, auditorKey);
    expect(pdf.headers.get("content-type")).toBe("application/pdf");
    const file = join(tmpdir(), `${packet.packet_id}.pdf`);
    writeFileSync(file, pdf.body);
    const text = execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" });
    for (const title of SECTION_TITLES) expect(text).toContain(title);
    for (const b of sent) expect(text).toContain(bundleHash(b));
    mkdirSync(ARTIFACTS, { recursive: true });
    execFileSync("pdftoppm", [
      "-png",
      "-r",
      "80",
      "-f",
      "1",
      "-l",
      "1",
      "-singlefile",
      file,
      join(ARTIFACTS, "packet-page1"),
    ]);
  });

  it("is listed for auditors, archived to WORM, and refused to auditors and other clinics' keys", async () => {
    const list = await t.api<{ packets: PacketRecord[] }>("GET", `/v1/clinics/${CLINIC}/packets`, auditorKey);
    expect(list.body.packets.map((p) => p.packet_id)).toEqual([packet.packet_id]);
    expect(list.body.packets[0]?.worm.map((w) => w.key)).toEqual(
      ["packet.json", "packet.md", "packet.html", "packet.pdf", "signature.json"].map(
        (n) => `packets/${CLINIC}/${MONTH}/${packet.packet_id}/${n}`,
      ),
    );
    // Every file reaches WORM storage (queued as kind `packet`, uploaded by the running uploader).
    for (let i = 0; ; i++) {
      const now = await t.api<{ packets: PacketRecord[] }>(
        "GET",
        `/v1/clinics/${CLINIC}/packets`,
        auditorKey,
      );
      const states = now.body.packets[0]?.worm.map((w) => w.state) ?? [];
      if (states.every((st) => st === "uploaded")) break;
      expect(states).not.toContain("failed");
      if (i > 100) throw new Error(`packet uploads did not finish: ${states.join(", ")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const byAuditor = await t.api("POST", `/v1/clinics/${CLINIC}/packets`, auditorKey, { month: MONTH });
    expect(byAuditor.status).toBe(403);
    const other = await t.api("GET", "/v1/clinics/clinic-other/packets", auditorKey);
    expect(other.status).toBe(404);
    const bad = await t.api("POST", `/v1/clinics/${CLINIC}/packets`, t.adminKey, { month: "2026-13" });
    expect(bad.status).toBe(400);
    // A month that has not started has nothing to report: refused, nothing made.
    const future = await t.api<{ error: { code: string; message: string } }>(
      "POST",
      `/v1/clinics/${CLINIC}/packets`,
      t.adminKey,
      { month: "2523-11" },
    );
    expect(future.status).toBe(400);
    expect(future.body.error).toMatchObject({
      code: "invalid_input",
      message: "month 2523-11 has not started yet",
    });
    expect(
      (await t.api<{ packets: unknown[] }>("GET", `/v1/clinics/${CLINIC}/packets`, t.adminKey)).body.packets,
    ).toHaveLength(1);
    const traversal = await download(
      `/v1/clinics/${CLINIC}/packets/${packet.packet_id}/..%2Fcontrol-plane.db`,
      auditorKey,
    );
    expect(traversal.status).toBe(400);
  });

  it("keeps Markdown and HTML and names the missing executable when Chromium is absent", async () => {
    const service = createPacketService({
      db: t.cp.db,
      dataDir: join(t.dir, "packets-nochrome"),
      signingKey: t.cp.signingKey,
      clock: new FakeClock("2026-11-05T00:00:00.000Z"),
      clinicName: () => "Packet Clinic",
      retentionYears: 6,
      pdf: { executablePath: "/nonexistent/chromium" },
    });
    const made = await service.generate({ clinicId: CLINIC, month: MONTH, generatedBy: "test" });
    expect(made.pdf_error).toMatch(/Chromium executable \/nonexistent\/chromium not found/);
    expect(made.files.map((f) => f.name)).toEqual(["packet.json", "packet.md", "packet.html"]);
    // Same evidence, same content: only generated_at differs.
    const again = JSON.parse(
      (await service.readFile(CLINIC, made.packet_id, "packet.json")).body.toString(),
    ) as PacketContent;
    expect({ ...again, generated_at: "" }).toEqual({
      ...content,
      generated_at: "",
      manifest: again.manifest,
    });
  });
});
