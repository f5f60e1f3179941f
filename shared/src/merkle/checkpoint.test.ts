import { describe, expect, it } from "vitest";
import { canonicalBytes } from "../canonical/index.js";
import { generateSigningKey } from "../crypto/index.js";
import { sha256Hex } from "../hash/index.js";
import {
  CHECKPOINT_FORMAT,
  checkpointRoot,
  signCheckpoint,
  type UnsignedCheckpoint,
  verifyCheckpoint,
} from "./checkpoint.js";
import { merkleRoot } from "./index.js";

const key = generateSigningKey();
const pub = key.publicKey.toString("base64");
const hashes = ["a", "b", "c"].map((s) => sha256Hex(s));

const unsigned: UnsignedCheckpoint = {
  format: CHECKPOINT_FORMAT,
  client_id: "clinic-a",
  day: "2026-03-10",
  bundle_count: 3,
  root: checkpointRoot(hashes),
  leaf_order: "agent_id,seq",
  first_bundle_id: "EB-20260310-0001",
  last_bundle_id: "EB-20260310-0003",
  agents: [{ agent_id: "agent-1", count: 3, first_seq: 1, last_seq: 3 }],
  created_at: "2026-03-11T00:00:05.000Z",
};

describe("daily checkpoint", () => {
  it("roots the bundle hashes as 32-byte leaves, and an empty day at sha256('')", () => {
    expect(checkpointRoot(hashes)).toBe(merkleRoot(hashes.map((h) => Buffer.from(h, "hex"))).toString("hex"));
    expect(checkpointRoot([])).toBe(sha256Hex(""));
    expect(() => checkpointRoot(["zz"])).toThrow(expect.objectContaining({ code: "invalid_input" }));
    expect(() => checkpointRoot([hashes[0]?.toUpperCase() as string])).toThrow(/bundle hash 0/);
  });

  it("signs and verifies, with and without the day's bundle hashes", () => {
    const cp = signCheckpoint(unsigned, key);
    expect(cp.signature.key_id).toBe(key.keyId);
    expect(verifyCheckpoint(cp, pub)).toEqual({ ok: true, checkpoint: cp });
    expect(verifyCheckpoint(JSON.parse(canonicalBytes(cp).toString()), pub, hashes).ok).toBe(true);
  });

  it("names what is wrong: schema, key, signature, count, root", () => {
    const cp = signCheckpoint(unsigned, key);
    expect(verifyCheckpoint({ ...cp, extra: 1 }, pub)).toMatchObject({ ok: false, problem: "schema" });
    expect(verifyCheckpoint("nonsense", pub)).toMatchObject({ ok: false, problem: "schema" });
    const other = generateSigningKey().publicKey.toString("base64");
    expect(verifyCheckpoint(cp, other)).toMatchObject({ ok: false, problem: "key_mismatch" });
    expect(verifyCheckpoint(cp, "not-a-key")).toMatchObject({ ok: false, problem: "key_mismatch" });
    expect(verifyCheckpoint({ ...cp, bundle_count: 4 }, pub)).toMatchObject({
      ok: false,
      problem: "signature_invalid",
    });
    expect(verifyCheckpoint(cp, pub, hashes.slice(0, 2))).toMatchObject({
      ok: false,
      problem: "count_mismatch",
    });
    expect(verifyCheckpoint(cp, pub, [...hashes].reverse())).toMatchObject({
      ok: false,
      problem: "root_mismatch",
    });
    expect(verifyCheckpoint(cp, pub, ["x", "y", "z"])).toMatchObject({ ok: false, problem: "root_mismatch" });
  });

  it("refuses to sign a checkpoint that does not match the schema", () => {
    expect(() => signCheckpoint({ ...unsigned, day: "10/03/2026" }, key)).toThrow(
      expect.objectContaining({ code: "invalid_input" }),
    );
    expect(() => signCheckpoint({ ...unsigned, root: "XYZ" }, key)).toThrow(/root/);
  });
});
