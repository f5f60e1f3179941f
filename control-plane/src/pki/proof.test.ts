import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  canonicalBytes,
  type EnrollmentRequest,
  generateSigningKey,
  generateTlsKeyPair,
  isMspError,
  type RenewalRequest,
  signEnrollmentProof,
  signRenewalProof,
  TlsPublicKeyPem,
} from "@msp/shared";
import { describe, expect, it } from "vitest";
import { enrollmentProofBodyOf, verifyEnrollmentProof, verifyRenewalProof } from "./verify-proof.js";

const evidenceKey = generateSigningKey();
const tls = generateTlsKeyPair();
const otherTls = generateTlsKeyPair();
const TOKEN = `msp_enr_${"A".repeat(43)}`;

function goodRequest(): EnrollmentRequest {
  const body = {
    purpose: "msp-enroll-v1" as const,
    token: TOKEN,
    agent_id: "agent-1",
    evidence_public_key: evidenceKey.publicKey.toString("base64"),
    tls_public_key: tls.publicKeyPem,
  };
  const proofs = signEnrollmentProof(body, evidenceKey, tls.privateKeyPem);
  return {
    token: body.token,
    agent_id: body.agent_id,
    hostname: "clinic-a-fs01",
    agent_version: "0.1.0",
    evidence_public_key: body.evidence_public_key,
    tls_public_key: body.tls_public_key,
    ...proofs,
  };
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isMspError(e)) return e.code;
    throw e;
  }
  return undefined;
}

/** Flips one bit in the middle of a base64 value, keeping it well-formed base64 of the same length. */
function flip(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  const i = Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] ?? 0) ^ 0x01;
  return bytes.toString("base64");
}

describe("TLS key pairs", () => {
  it("are P-256 SPKI / PKCS#8 PEM that the enrollment schema accepts", () => {
    expect(TlsPublicKeyPem.safeParse(tls.publicKeyPem).success).toBe(true);
    expect(createPublicKey(tls.publicKeyPem).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(createPrivateKey(tls.privateKeyPem).asymmetricKeyType).toBe("ec");
    expect(tls.privateKeyPem).toContain("-----BEGIN PRIVATE KEY-----");
    expect(generateTlsKeyPair().publicKeyPem).not.toBe(tls.publicKeyPem);
  });
});

describe("enrollment proof", () => {
  it("verifies a good request and returns it parsed", () => {
    const request = goodRequest();
    expect(verifyEnrollmentProof(request)).toEqual(request);
  });

  it("produces a standard DER ECDSA signature that openssl verifies", () => {
    const request = goodRequest();
    const dir = mkdtempSync(join(tmpdir(), "msp-pki-proof-"));
    try {
      writeFileSync(join(dir, "body"), canonicalBytes(enrollmentProofBodyOf(request)));
      writeFileSync(join(dir, "sig"), Buffer.from(request.tls_proof, "base64"));
      writeFileSync(join(dir, "pub.pem"), tls.publicKeyPem);
      const out = execFileSync(
        "openssl",
        ["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "body"],
        { cwd: dir, encoding: "utf8" },
      );
      expect(out.trim()).toBe("Verified OK");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails with signature_invalid for each tampered signed field", () => {
    const other = generateSigningKey();
    const tampered: Record<string, Partial<EnrollmentRequest>> = {
      token: { token: `msp_enr_${"B".repeat(43)}` },
      agent_id: { agent_id: "agent-2" },
      evidence_public_key: { evidence_public_key: other.publicKey.toString("base64") },
      tls_public_key: { tls_public_key: otherTls.publicKeyPem },
      evidence_proof: { evidence_proof: flip(goodRequest().evidence_proof) },
      tls_proof: { tls_proof: flip(goodRequest().tls_proof) },
    };
    for (const [field, change] of Object.entries(tampered)) {
      const request = { ...goodRequest(), ...change };
      let error: unknown;
      try {
        verifyEnrollmentProof(request);
      } catch (e) {
        error = e;
      }
      expect(isMspError(error, "signature_invalid"), field).toBe(true);
    }
  });

  it("names which proof failed", () => {
    const good = goodRequest();
    const cases: [Partial<EnrollmentRequest>, string[]][] = [
      [{ evidence_proof: flip(good.evidence_proof) }, ["evidence_proof"]],
      [{ tls_proof: flip(good.tls_proof) }, ["tls_proof"]],
      [{ agent_id: "agent-9" }, ["evidence_proof", "tls_proof"]],
    ];
    for (const [change, failed] of cases) {
      try {
        verifyEnrollmentProof({ ...good, ...change });
        throw new Error("expected a failure");
      } catch (e) {
        expect(isMspError(e, "signature_invalid") && e.details).toEqual({ failed });
      }
    }
  });

  it("refuses proofs made by keys other than the ones named", () => {
    const good = goodRequest();
    const body = enrollmentProofBodyOf(good);
    const otherEvidence = generateSigningKey();
    const forged = signEnrollmentProof(
      {
        ...body,
        evidence_public_key: otherEvidence.publicKey.toString("base64"),
        tls_public_key: otherTls.publicKeyPem,
      },
      otherEvidence,
      otherTls.privateKeyPem,
    );
    expect(codeOf(() => verifyEnrollmentProof({ ...good, ...forged }))).toBe("signature_invalid");
    // A renewal proof by the right TLS key does not stand in for an enrollment proof.
    const renewal = signRenewalProof(
      { purpose: "msp-renew-v1", agent_id: good.agent_id, tls_public_key: tls.publicKeyPem },
      tls.privateKeyPem,
    );
    expect(codeOf(() => verifyEnrollmentProof({ ...good, tls_proof: renewal }))).toBe("signature_invalid");
    // Random bytes that are not DER are a failed proof, not a crash.
    const junk = randomBytes(70).toString("base64");
    expect(codeOf(() => verifyEnrollmentProof({ ...good, tls_proof: junk }))).toBe("signature_invalid");
  });

  it("does not cover the unsigned descriptive fields", () => {
    const request = { ...goodRequest(), hostname: "renamed-host", agent_version: "9.9.9" };
    expect(verifyEnrollmentProof(request).hostname).toBe("renamed-host");
  });

  it("refuses malformed requests and non-P-256 keys with invalid_input", () => {
    const good = goodRequest();
    const { tls_proof: _omit, ...missing } = good;
    const p384 = String(
      generateKeyPairSync("ec", { namedCurve: "secp384r1" }).publicKey.export({
        format: "pem",
        type: "spki",
      }),
    );
    expect(codeOf(() => verifyEnrollmentProof(missing as EnrollmentRequest))).toBe("invalid_input");
    expect(codeOf(() => verifyEnrollmentProof({ ...good, extra: 1 } as EnrollmentRequest))).toBe(
      "invalid_input",
    );
    expect(codeOf(() => verifyEnrollmentProof({ ...good, tls_public_key: p384 }))).toBe("invalid_input");
    expect(codeOf(() => verifyEnrollmentProof({ ...good, token: "msp_enr_short" }))).toBe("invalid_input");
    expect(codeOf(() => verifyEnrollmentProof(null as unknown as EnrollmentRequest))).toBe("invalid_input");
  });

  it("will not sign with keys that do not match the body", () => {
    const body = enrollmentProofBodyOf(goodRequest());
    expect(codeOf(() => signEnrollmentProof(body, generateSigningKey(), tls.privateKeyPem))).toBe(
      "invalid_input",
    );
    expect(codeOf(() => signEnrollmentProof(body, evidenceKey, otherTls.privateKeyPem))).toBe(
      "invalid_input",
    );
    expect(codeOf(() => signEnrollmentProof(body, evidenceKey, "not a key"))).toBe("invalid_input");
    expect(
      codeOf(() => signEnrollmentProof({ ...body, agent_id: "A" }, evidenceKey, tls.privateKeyPem)),
    ).toBe("invalid_input");
  });
});

describe("renewal proof", () => {
  const renewal = (agentId = "agent-1", key = otherTls): RenewalRequest => ({
    tls_public_key: key.publicKeyPem,
    tls_proof: signRenewalProof(
      { purpose: "msp-renew-v1", agent_id: agentId, tls_public_key: key.publicKeyPem },
      key.privateKeyPem,
    ),
  });

  it("verifies for the agent named by the certificate", () => {
    const request = renewal("agent-1");
    expect(verifyRenewalProof("agent-1", request)).toEqual(request);
  });

  it("fails for another agent, another key or a tampered signature", () => {
    expect(codeOf(() => verifyRenewalProof("agent-2", renewal("agent-1")))).toBe("signature_invalid");
    expect(
      codeOf(() => verifyRenewalProof("agent-1", { ...renewal(), tls_public_key: tls.publicKeyPem })),
    ).toBe("signature_invalid");
    const r = renewal();
    expect(codeOf(() => verifyRenewalProof("agent-1", { ...r, tls_proof: flip(r.tls_proof) }))).toBe(
      "signature_invalid",
    );
  });

  it("refuses malformed input with invalid_input", () => {
    expect(codeOf(() => verifyRenewalProof("Agent 1", renewal()))).toBe("invalid_input");
    expect(
      codeOf(() => verifyRenewalProof("agent-1", { tls_public_key: tls.publicKeyPem } as RenewalRequest)),
    ).toBe("invalid_input");
    expect(
      codeOf(() =>
        signRenewalProof(
          { purpose: "msp-renew-v1", agent_id: "agent-1", tls_public_key: tls.publicKeyPem },
          otherTls.privateKeyPem,
        ),
      ),
    ).toBe("invalid_input");
  });
});
