/**
 * The operator dashboard in a real browser (Debian chromium driven by
 * playwright-core) against a real control plane on 127.0.0.1 with enrolled
 * agents over mutual TLS: sign in, watch an agent go online and offline live,
 * approve a pending plan and watch its execution arrive, open the evidence
 * bundle and see it verified by the server and again in the browser; an
 * auditor reads but cannot approve; a clinic-A key never sees clinic B;
 * revoking the key ends the session. Screenshots land in test/artifacts/.
 *
 * TLS: chromium trusts exactly the control plane's server key, through
 * `--ignore-certificate-errors-spki-list` with that key's SPKI hash (not
 * `ignoreHTTPSErrors`, which would accept any certificate).
 */
import { createHash, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { bundleHash, PROTOCOL_VERSION, signBundle } from "@msp/shared";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unsignedBundle } from "../support/bundles.js";
import {
  type AgentSocket,
  agentChain,
  connectAgent,
  type EnrolledAgent,
  enrollTestAgent,
  startTestControlPlane,
  type TestControlPlane,
} from "../support/control-plane.js";

const ARTIFACTS = join(import.meta.dirname, "..", "artifacts");

let t: TestControlPlane;
let browser: Browser;
let agentA: EnrolledAgent;
let operatorKey: string;
let operatorKeyId: string;
let auditorKey: string;

const hello = (a: EnrolledAgent, lastSeq: number) => ({
  type: "hello",
  protocol_version: PROTOCOL_VERSION,
  agent_id: a.agentId,
  client_id: a.clientId,
  hostname: a.agentId,
  agent_version: "test-1.2.3",
  last_seq: lastSeq,
  catalog_sha256: "0".repeat(64),
});

async function open(a: EnrolledAgent, lastSeq: number): Promise<AgentSocket> {
  const s = await connectAgent(t, { certPem: a.certPem, keyPem: a.tlsKeyPem });
  if ("refused" in s) throw new Error(`refused with ${s.refused}`);
  s.send(hello(a, lastSeq));
  await s.next("welcome");
  return s;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function signIn(context: BrowserContext, key: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${t.cp.url}/dashboard/`);
  expect(new URL(page.url()).pathname).toBe("/dashboard/login");
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL("**/dashboard/fleet");
  return page;
}

/** A request from inside the page (the browser's own TLS, cookies and same-origin rules). */
function inPage(p: Page, path: string, form?: Record<string, string>) {
  return p.evaluate(
    async ({ path, form }) => {
      const res = await fetch(path, form ? { method: "POST", body: new URLSearchParams(form) } : {});
      const bytes = await res.arrayBuffer();
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      return {
        status: res.status,
        text: new TextDecoder().decode(bytes),
        sha256: Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
      };
    },
    { path, form },
  );
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestControlPlane();
  const made = await t.api("POST", "/v1/clinics", t.adminKey, {
    client_id: "clinic-a",
    name: "Clinic A",
    service_allowlist: [],
    runbook_params: { "RB-BACKUP-001": { source_dir: "/srv/ehr", repository_dir: "/srv/backups" } },
  });
  expect(made.status).toBe(201);
  await t.api("POST", "/v1/clinics", t.adminKey, { client_id: "clinic-b", name: "Clinic B" });
  agentA = await enrollTestAgent(t, "clinic-a", "srv-a1");
  await enrollTestAgent(t, "clinic-b", "srv-b1");
  const op = await t.api<{ key: string; info: { key_id: string } }>("POST", "/v1/api-keys", t.adminKey, {
    name: "Olivia Operator",
    role: "operator",
    client_id: "clinic-a",
  });
  operatorKey = op.body.key;
  operatorKeyId = op.body.info.key_id;
  const au = await t.api<{ key: string }>("POST", "/v1/api-keys", t.adminKey, {
    name: "Avery Auditor",
    role: "auditor",
    client_id: "clinic-a",
  });
  auditorKey = au.body.key;

  const der = new X509Certificate(readFileSync(t.config.tls.cert_file)).publicKey.export({
    type: "spki",
    format: "der",
  });
  const spki = createHash("sha256").update(der).digest("base64");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--ignore-certificate-errors-spki-list=${spki}`,
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe("dashboard in chromium", () => {
  let operator: BrowserContext;
  let page: Page;
  let executionSha = "";

  it("signs in with an API key into an HttpOnly, Secure, SameSite=Strict session", async () => {
    operator = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await signIn(operator, operatorKey);
    const cookies = await operator.cookies();
    const session = cookies.find((c) => c.name === "__Host-msp_session");
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
    expect(session?.value).not.toContain(operatorKey);
    await expect(page.getByRole("heading", { name: "Fleet" })).toBeDefined();
  });

  it("shows an agent go online and offline live, and never clinic B", async () => {
    const row = page.locator('tr[data-agent-id="srv-a1"] .conn');
    expect(await row.textContent()).toBe("offline");
    expect(await page.locator('tr[data-agent-id="srv-b1"]').count()).toBe(0);
    await page.waitForSelector('#stream-state[data-state="live"]');
    const s = await open(agentA, 0);
    await page.waitForSelector('tr[data-agent-id="srv-a1"] .conn[data-state="online"]');
    await shot(page, "fleet");
    await s.close();
    await page.waitForSelector('tr[data-agent-id="srv-a1"] .conn[data-state="offline"]');
    expect(await page.locator("#live-status").textContent()).toContain("srv-a1 is offline");
  });

  it("approves a pending plan and watches its execution arrive", async () => {
    const s = await open(agentA, 0);
    const first = agentChain(agentA, 1);
    for (const b of first) s.send({ type: "bundle", bundle: b });
    s.send({
      type: "incident",
      incident: {
        incident_id: "INC-20261121-0007",
        client_id: "clinic-a",
        agent_id: "srv-a1",
        hostname: "srv-a1",
        incident_type: "backup_failure",
        severity: "critical",
        detected_at: new Date(Date.now() - 60_000).toISOString(),
        source: "drift_check",
        check_id: "backup_freshness",
        details: { age_hours: 30 },
      },
    });
    await page.goto(`${t.cp.url}/dashboard/approvals`);
    await page.waitForSelector('#stream-state[data-state="live"]');
    // The plan appears live, without a reload, once the planner has asked for approval.
    const approve = page.getByRole("button", { name: "Approve RB-BACKUP-001" });
    await approve.waitFor({ timeout: 15_000 });
    await shot(page, "approvals");
    await approve.click();
    await page.waitForURL("**/dashboard/clinics/clinic-a/incidents/INC-20261121-0007");
    expect(await page.locator(".incident-status").textContent()).toContain("dispatched");

    const frame = (await s.next("execute_runbook")) as { command: { command_id: string } };
    const exec = signBundle(
      unsignedBundle(2, bundleHash(first[0] as never), {
        client_id: "clinic-a",
        agent_id: "srv-a1",
        hostname: "srv-a1",
        incident: {
          incident_id: "INC-20261121-0007",
          event_type: "backup_failure",
          severity: "critical",
          detected_at: new Date().toISOString(),
        },
        execution: {
          command_id: frame.command.command_id,
          outcome: "success",
          started_at: new Date().toISOString(),
          finished_at: new Date().toISOString(),
          mttr_seconds: 60,
          sla_target_seconds: 14_400,
          sla_met: true,
          operator: "service:msp-agent",
          trigger: "control_plane",
          approval: null,
          reason: null,
          success_criteria: [{ expression: 'backup_status == "success"', met: true, detail: null }],
        },
      }),
      agentA.evidenceKey,
    );
    executionSha = bundleHash(exec);
    s.send({ type: "bundle", bundle: exec });
    // The incident page re-renders on the live event: resolved, with the steps and their output.
    await page.waitForSelector(".execution-outcome", { timeout: 15_000 });
    expect(await page.locator(".incident-status").textContent()).toContain("resolved");
    expect(await page.locator("#live").textContent()).toContain("backup_status=success");
    await shot(page, "incident");
    await s.close();

    // The approval went through the API's route and its audit record, with the operator as actor.
    const audit = await t.api<{ entries: { action: string; actor_key_id: string; outcome: string }[] }>(
      "GET",
      "/v1/audit?limit=50",
      t.adminKey,
    );
    expect(audit.body.entries).toContainEqual(
      expect.objectContaining({
        action: expect.stringMatching(/^POST \/v1\/clinics\/clinic-a\/approvals\/.+\/approve$/),
        actor_key_id: operatorKeyId,
        outcome: "ok",
      }),
    );
    await page.goto(`${t.cp.url}/dashboard/incidents`);
    expect(await page.locator('tr[data-incident-id="INC-20261121-0007"] .status').textContent()).toBe(
      "resolved",
    );
    await shot(page, "incidents");
  });

  it("opens the evidence bundle and sees it verified by the server and in the browser", async () => {
    const made = await t.api<{ packet_id: string; files: { name: string; sha256: string }[] }>(
      "POST",
      "/v1/clinics/clinic-a/packets",
      t.adminKey,
      { month: "2026-11" },
    );
    expect(made.status).toBe(201);
    await page.goto(`${t.cp.url}/dashboard/evidence?clinic=clinic-a`);
    const base = `/dashboard/clinics/clinic-a/packets/${made.body.packet_id}`;
    const json = made.body.files.find((f) => f.name === "packet.json");
    expect(json).toBeDefined();
    expect(await page.locator(`a[href="${base}/packet.json"]`).count()).toBe(1);
    expect(await page.locator(`a[href="${base}/signature.json"]`).count()).toBe(1);
    const packetFile = await inPage(page, `${base}/packet.json`);
    expect(packetFile.status).toBe(200);
    expect(packetFile.sha256).toBe(json?.sha256);
    const signature = await inPage(page, `${base}/signature.json`);
    expect(signature.text).toContain(json?.sha256);
    expect(
      (await inPage(page, `/dashboard/clinics/clinic-a/packets/${made.body.packet_id}/secrets.txt`)).status,
    ).toBe(400);
    await shot(page, "evidence");
    await page.locator(`a[href$="/evidence/${executionSha}"]`).click();
    await page.waitForSelector('#browser-verdict[data-verdict="valid"]');
    expect(await page.locator("#server-signature").textContent()).toBe("valid");
    expect(await page.locator("#browser-detail").textContent()).toContain("identical to");
    await shot(page, "bundle");
    const download = await inPage(page, `/dashboard/clinics/clinic-a/evidence/${executionSha}/bundle.json`);
    expect(download.status).toBe(200);
    expect(download.sha256).toBe(executionSha);
  });

  it("shows the posture heatmap with a drill-down to evidence", async () => {
    await page.goto(`${t.cp.url}/dashboard/posture?clinic=clinic-a&month=2026-11`);
    const cell = page.locator(".heatmap a.pass").first();
    await cell.click();
    await page.waitForSelector("#detail");
    expect(await page.locator("#detail a").count()).toBeGreaterThan(0);
    await shot(page, "posture");
  });

  it("fits a phone width", async () => {
    const phone = await operator.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${t.cp.url}/dashboard/fleet`);
    // The test's tsconfig has no DOM library: the page's document is reached through globalThis.
    const width = await phone.evaluate(
      () =>
        (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
          .documentElement.scrollWidth,
    );
    expect(width).toBeLessThanOrEqual(390);
    await shot(phone, "fleet-phone");
    await phone.close();
  });

  it("keeps clinic A's key out of clinic B", async () => {
    for (const path of [
      "/dashboard/clinics/clinic-b/incidents/INC-20261121-0007",
      "/dashboard/evidence?clinic=clinic-b",
      "/dashboard/posture?clinic=clinic-b",
    ]) {
      const res = await inPage(page, path);
      expect(res.status, path).toBe(404);
      expect(res.text).not.toContain("Clinic B");
    }
    await page.goto(`${t.cp.url}/dashboard/fleet`);
    expect(await page.locator("#main").textContent()).not.toContain("clinic-b");
  });

  it("refuses a form without the session's CSRF token", async () => {
    const res = await inPage(page, "/dashboard/logout", { csrf: "wrong" });
    expect(res.status).toBe(403);
    const still = await inPage(page, "/dashboard/fleet");
    expect(still.text).toContain("srv-a1");
  });

  it("lets an auditor read but not approve, in the page or through the API", async () => {
    const s = await open(agentA, 2);
    s.send({
      type: "incident",
      incident: {
        incident_id: "INC-20261121-0008",
        client_id: "clinic-a",
        agent_id: "srv-a1",
        hostname: "srv-a1",
        incident_type: "backup_failure",
        severity: "critical",
        detected_at: new Date().toISOString(),
        source: "drift_check",
        check_id: "backup_freshness",
        details: { age_hours: 31 },
      },
    });
    const plan = await waitFor("a pending plan", async () => {
      const r = await t.api<{ approvals: { plan_id: string }[] }>(
        "GET",
        "/v1/clinics/clinic-a/approvals",
        t.adminKey,
      );
      return r.body.approvals[0];
    });
    await s.close();
    const auditor = await browser.newContext();
    const ap = await signIn(auditor, auditorKey);
    await ap.goto(`${t.cp.url}/dashboard/approvals`);
    expect(await ap.locator(`[data-plan-id="${plan.plan_id}"]`).count()).toBe(1);
    expect(await ap.getByRole("button", { name: /Approve/ }).count()).toBe(0);
    await ap.goto(`${t.cp.url}/dashboard/clinics/clinic-a/incidents/INC-20261121-0008`);
    expect(await ap.getByRole("button", { name: /Approve/ }).count()).toBe(0);
    const csrf = await ap.locator('form[action="/dashboard/logout"] input[name="csrf"]').inputValue();
    const viaPage = await inPage(ap, `/dashboard/clinics/clinic-a/approvals/${plan.plan_id}/approve`, {
      csrf,
    });
    expect(viaPage.status).toBe(403);
    const viaApi = await t.api(
      "POST",
      `/v1/clinics/clinic-a/approvals/${plan.plan_id}/approve`,
      auditorKey,
      {},
    );
    expect(viaApi.status).toBe(403);
    const still = await t.api<{ approvals: unknown[] }>("GET", "/v1/clinics/clinic-a/approvals", t.adminKey);
    expect(still.body.approvals).toHaveLength(1);
    await auditor.close();
  });

  it("ends the session when its API key is revoked, and on sign-out", async () => {
    const revoked = await t.api("POST", `/v1/api-keys/${operatorKeyId}/revoke`, t.adminKey);
    expect(revoked.status).toBe(200);
    await page.goto(`${t.cp.url}/dashboard/fleet`);
    expect(new URL(page.url()).pathname).toBe("/dashboard/login");
    await operator.close();

    const admin = await browser.newContext();
    const ap = await signIn(admin, t.adminKey);
    expect(await ap.locator('tr[data-agent-id="srv-b1"]').count()).toBe(1);
    await ap.getByRole("button", { name: "Sign out" }).click();
    await ap.waitForURL("**/dashboard/login");
    await ap.goto(`${t.cp.url}/dashboard/fleet`);
    expect(new URL(ap.url()).pathname).toBe("/dashboard/login");
    await admin.close();
  });
});
