import * as shared from "@msp/shared";
import { bundleHash, bundleSigningBytes, canonicalBytes, canonicalize, GENESIS_HASH } from "@msp/shared";
import { describe, expect, it } from "vitest";
import { signedChain, unsignedBundle } from "../../../test/support/bundles.js";
import { createVerifier, signingAndCanonical } from "./verify.js";

const key = shared.signingKeyFromSeed(Buffer.alloc(32, 5));

describe("signingAndCanonical", () => {
  it("gives exactly the bytes of bundleSigningBytes and canonicalBytes", () => {
    const odd = shared.signBundle(
      unsignedBundle(1, GENESIS_HASH, {
        // Non-ASCII, escapes and astral characters, where UTF-16 order and escaping matter.
        hostname: "srv-primary",
        runbook: {
          runbook_id: "RB-BACKUP-001",
          runbook_version: "1.0.0",
          runbook_sha256: "c".repeat(64),
          steps_total: 1,
          steps_executed: 1,
        },
      }),
      key,
    );
    const withText = {
      ...odd,
      actions_taken: odd.actions_taken.map((a) => ({
        ...a,
        stdout: { ...a.stdout, excerpt: 'é "q" \\ \n \u2028 😀 \u0001' },
      })),
    };
    for (const b of [...signedChain(key, 3), odd, withText]) {
      const { signing, canonical } = signingAndCanonical(canonicalize, b);
      expect(signing.equals(bundleSigningBytes(b))).toBe(true);
      expect(Buffer.from(canonical, "utf8").equals(canonicalBytes(b))).toBe(true);
    }
  });

  it("keeps the verifier's hash and stored body equal to the shared ones", () => {
    const verify = createVerifier(shared);
    const [b] = signedChain(key, 1);
    if (b === undefined) throw new Error("no bundle");
    const r = verify({
      agent_id: b.agent_id,
      client_id: b.client_id,
      key: key.publicKey.toString("base64"),
      bundle: b,
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.hash).toBe(bundleHash(b));
    expect(r.canonical).toBe(canonicalize(b));
    const tampered = { ...b, hostname: "other-host" };
    const bad = verify({
      agent_id: b.agent_id,
      client_id: b.client_id,
      key: key.publicKey.toString("base64"),
      bundle: tampered,
    });
    expect(bad.ok).toBe(false);
  });
});
