import { execFileSync } from "node:child_process";
import { FakeClock } from "@msp/shared";
import { afterAll, describe, expect, it } from "vitest";
import { checkCertExpiry, parseEnddate } from "./cert.js";
import type { CheckOf } from "./context.js";
import { createExec } from "./exec.js";
import { contextFor, put, removeTempRoots, replayExec, tempRoot } from "./testkit.js";

afterAll(removeTempRoots);

const check: CheckOf<"cert_expiry"> = {
  type: "cert_expiry",
  id: "tls-certs",
  citation: ["164.312(e)(1)", "164.312(e)(2)(ii)"],
  severity: "high",
  event_type: "cert_expiry",
  files: ["/etc/ssl/clinic/portal.crt", "/etc/ssl/clinic/hl7.crt"],
  min_days: 30,
};
const exec = createExec();

/** Makes a real self-signed certificate valid for `days` from now with openssl. */
async function makeCert(root: string, hostPath: string, days: number): Promise<void> {
  const out = await put(root, hostPath, "");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${out}.key`,
      "-out",
      out,
      "-days",
      String(days),
      "-subj",
      "/CN=clinic.test",
    ],
    { stdio: "ignore" },
  );
}

describe("certificate expiry check (real openssl)", () => {
  it("passes certificates with enough days left and fails one about to expire", async () => {
    const root = await tempRoot();
    await makeCert(root, "/etc/ssl/clinic/portal.crt", 397);
    await makeCert(root, "/etc/ssl/clinic/hl7.crt", 12);
    const clock = new FakeClock(Date.now());
    const out = await checkCertExpiry(check, contextFor(root, exec, clock));
    expect(out.status).toBe("fail");
    expect(out.observed).toMatch(/portal\.crt: 39[67] days left .*hl7\.crt: 1[12] days left/);
    expect(out.reason).toMatch(/^\/etc\/ssl\/clinic\/hl7\.crt expires in 1[12] days$/);
    const later = await checkCertExpiry(
      { ...check, files: ["/etc/ssl/clinic/portal.crt"] },
      contextFor(root, exec, clock),
    );
    expect(later.status).toBe("pass");
  });

  it("reports expired and missing certificates, using the injected clock", async () => {
    const root = await tempRoot();
    await makeCert(root, "/etc/ssl/clinic/portal.crt", 10);
    const clock = new FakeClock(Date.now() + 40 * 86_400_000);
    const out = await checkCertExpiry(check, contextFor(root, exec, clock));
    expect(out.status).toBe("fail");
    expect(out.reason).toMatch(
      /portal\.crt expired 3[01] days ago; \/etc\/ssl\/clinic\/hl7\.crt does not exist$/,
    );
  });

  it("is an error for a file that is not a certificate, and skipped without openssl", async () => {
    const root = await tempRoot();
    await put(root, "/etc/ssl/clinic/portal.crt", "not a certificate\n");
    const clock = new FakeClock();
    const one = { ...check, files: ["/etc/ssl/clinic/portal.crt"] };
    expect((await checkCertExpiry(one, contextFor(root, exec, clock))).status).toBe("error");
    expect(
      (await checkCertExpiry(one, contextFor(root, replayExec({ openssl: "missing" }), clock))).status,
    ).toBe("skipped");
  });

  it("parses OpenSSL's padded day format", () => {
    expect(parseEnddate("notAfter=Nov  1 12:00:00 2026 GMT\n")?.toISOString()).toBe(
      "2026-11-01T12:00:00.000Z",
    );
  });
});
