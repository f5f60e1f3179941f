/**
 * The enrollment client against a real HTTPS endpoint with real certificates:
 * a token becomes keys, a certificate for our own TLS key and a config that
 * loads; bad tokens, a wrong clinic, a foreign CA and existing files change
 * nothing; renewal replaces key and certificate over mTLS.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey, loadSigningKey, type SigningKey } from "@msp/shared";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type EnrollOptions, enroll, loadAgentConfig, needsRenewal, renew } from "../../agent/src/index.js";
import { createTestPki, type TestPki } from "../support/pki.js";
import { type EnrollServer, startEnrollServer } from "./enroll-server.js";

let pki: TestPki;
let cpKey: SigningKey;
let server: EnrollServer;
let dir: string;
const TOKEN = `msp_enr_${"A".repeat(43)}`;

beforeAll(async () => {
  pki = createTestPki();
  cpKey = generateSigningKey();
  server = await startEnrollServer(pki, cpKey, "wss://127.0.0.1:1/v1/agent");
});
afterAll(async () => {
  await server.stop();
  pki.cleanup();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "msp-enroll-"));
  server.tokens.clear();
  server.tokens.set(TOKEN, "clinic-007");
  return () => rmSync(dir, { recursive: true, force: true });
});

const options = (extra: Partial<EnrollOptions> = {}): EnrollOptions => ({
  url: server.url,
  token: TOKEN,
  caPem: pki.ca.cert,
  agentId: "srv-new",
  hostname: "srv-new",
  configOut: join(dir, "etc", "agent.yaml"),
  stateDir: join(dir, "state"),
  baselineFile: join(dir, "baseline.yaml"),
  ...extra,
});

describe("msp-agent enroll", () => {
  it("writes keys (0600), a certificate for its own TLS key and a config that loads with the pinned key", async () => {
    const result = await enroll(options({ clinicId: "clinic-007" }));
    expect(result).toMatchObject({
      agent_id: "srv-new",
      client_id: "clinic-007",
      control_plane_key_id: cpKey.keyId,
    });
    const config = loadAgentConfig(result.config_file);
    expect(config).toMatchObject({
      agent_id: "srv-new",
      client_id: "clinic-007",
      control_plane: { url: "wss://127.0.0.1:1/v1/agent", public_key: cpKey.publicKey.toString("base64") },
    });
    for (const key of [result.evidence_key_file, result.key_file])
      expect(statSync(key).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(result.cert_file));
    expect(cert.subjectAltName).toBe("URI:urn:msp:clinic:clinic-007:agent:srv-new");
    expect(
      cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(readFileSync(result.key_file))),
    ).toBe(true);
    const [request] = server.requests as { evidence_public_key: string }[];
    expect(request?.evidence_public_key).toBe(
      (await loadSigningKey(result.evidence_key_file)).publicKey.toString("base64"),
    );
    expect(needsRenewal(readFileSync(result.cert_file), new Date())).toBe(false);
  });

  it("refuses a used token, a wrong clinic and a server it cannot authenticate, writing nothing", async () => {
    await expect(enroll(options({ token: `msp_enr_${"B".repeat(43)}` }))).rejects.toMatchObject({
      code: "unauthenticated",
      message: expect.stringMatching(/401: unknown or used token/),
    });
    await expect(enroll(options({ clinicId: "clinic-008" }))).rejects.toMatchObject({
      code: "invalid_input",
      message: expect.stringMatching(/belongs to clinic clinic-007, not clinic-008/),
    });
    server.tokens.set(TOKEN, "clinic-007");
    await expect(enroll(options({ caPem: pki.foreignCa.cert }))).rejects.toMatchObject({
      code: "unavailable",
    });
    await expect(enroll(options({ token: "not-a-token" }))).rejects.toMatchObject({ code: "invalid_input" });
    await expect(enroll(options({ url: "http://127.0.0.1:1" }))).rejects.toMatchObject({
      code: "invalid_input",
    });
    expect(existsSync(join(dir, "state"))).toBe(false);
    expect(existsSync(join(dir, "etc"))).toBe(false);
  });

  it("refuses to overwrite an existing config or key without force, and replaces them with it", async () => {
    const first = await enroll(options());
    const before = readFileSync(first.evidence_key_file, "utf8");
    server.tokens.set(TOKEN, "clinic-007");
    const requests = server.requests.length;
    await expect(enroll(options())).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/--force/),
    });
    expect(server.requests.length).toBe(requests);
    expect(readFileSync(first.evidence_key_file, "utf8")).toBe(before);
    await enroll(options({ force: true }));
    expect(readFileSync(first.evidence_key_file, "utf8")).not.toBe(before);
  });

  it("renews over mTLS with a new key and certificate", async () => {
    const result = await enroll(options());
    const config = loadAgentConfig(result.config_file);
    const url = new URL(server.url);
    const controlPlane = { ...config.control_plane, url: `wss://${url.host}/v1/agent` };
    const oldKey = readFileSync(result.key_file, "utf8");
    const issued = await renew({ agentId: "srv-new", controlPlane });
    const cert = new X509Certificate(readFileSync(result.cert_file));
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(readFileSync(result.key_file, "utf8")).not.toBe(oldKey);
    expect(
      cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(readFileSync(result.key_file))),
    ).toBe(true);
    // Without a valid client certificate the endpoint refuses, and the files stay as they are.
    const foreign = pki.foreignClient({ agent_id: "srv-new", client_id: "clinic-007" });
    await expect(
      renew({
        agentId: "srv-new",
        controlPlane: { ...controlPlane, cert_file: foreign.certFile, key_file: foreign.keyFile },
      }),
    ).rejects.toMatchObject({ code: "unauthenticated" });
    expect(new X509Certificate(readFileSync(result.cert_file)).serialNumber).toBe(cert.serialNumber);
  });
});
