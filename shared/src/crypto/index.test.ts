import { chmod, mkdtemp, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isMspError } from "../errors/index.js";
import {
  fingerprintOf,
  generateSigningKey,
  KeyCache,
  keyIdOf,
  loadSigningKey,
  saveSigningKey,
  seedOf,
  signBytes,
  signingKeyFromSeed,
  verifyBytes,
} from "./index.js";
import { naclPublicKey, naclSign, naclVerify } from "./nacl.js";

const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");

describe("ed25519 with node:crypto and tweetnacl", () => {
  it("matches RFC 8032 test vector 1 (empty message) in both implementations", () => {
    const key = signingKeyFromSeed(seed);
    expect(key.publicKey.toString("hex")).toBe(
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    );
    const expected =
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
    expect(signBytes(key, new Uint8Array()).toString("hex")).toBe(expected);
    expect(Buffer.from(naclSign(seed, new Uint8Array())).toString("hex")).toBe(expected);
  });

  it("produces byte-identical signatures from the same 32-byte seed", () => {
    for (let i = 0; i < 20; i++) {
      const key = generateSigningKey();
      const s = seedOf(key);
      const msg = Buffer.from(`bundle ${i} ${"x".repeat(i * 97)}`);
      expect(Buffer.from(naclPublicKey(s))).toEqual(key.publicKey);
      expect(Buffer.from(naclSign(s, msg))).toEqual(signBytes(key, msg));
    }
  });

  it("verifies across implementations and rejects a tampered byte or a wrong key", () => {
    const key = generateSigningKey();
    const other = generateSigningKey();
    const msg = Buffer.from('{"seq":1,"kind":"drift_check"}');
    const sig = signBytes(key, msg);
    const pub = key.publicKey.toString("base64");
    expect(verifyBytes(pub, msg, sig)).toBe(true);
    expect(naclVerify(key.publicKey, msg, sig)).toBe(true);

    const tampered = Buffer.from(msg);
    tampered[5] = (tampered[5] ?? 0) ^ 0x01;
    expect(verifyBytes(pub, tampered, sig)).toBe(false);
    expect(naclVerify(key.publicKey, tampered, sig)).toBe(false);

    const badSig = Buffer.from(sig);
    badSig[0] = (badSig[0] ?? 0) ^ 0x80;
    expect(verifyBytes(pub, msg, badSig)).toBe(false);

    expect(verifyBytes(other.publicKey.toString("base64"), msg, sig)).toBe(false);
    expect(naclVerify(other.publicKey, msg, sig)).toBe(false);
    expect(verifyBytes(pub, msg, sig.subarray(0, 63))).toBe(false);
  });

  it("caches KeyObjects and refuses malformed public keys", () => {
    const cache = new KeyCache(2);
    const key = generateSigningKey();
    const pub = key.publicKey.toString("base64");
    expect(cache.get(pub)).toBe(cache.get(pub));
    expect(() => cache.get("AAAA")).toThrow(/32 bytes/);
  });

  it("derives stable key ids and OpenSSH-style fingerprints", () => {
    const key = signingKeyFromSeed(seed);
    expect(keyIdOf(key.publicKey)).toMatch(/^[0-9a-f]{32}$/);
    expect(fingerprintOf(key.publicKey)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(key.keyId).toBe(keyIdOf(key.publicKey));
  });
});

describe("key files", () => {
  it("saves with mode 0600, reloads the same key, and refuses to overwrite", async () => {
    const dir = await mkdtemp(join(tmpdir(), "msp-key-"));
    const path = join(dir, "keys", "evidence.key");
    const key = generateSigningKey();
    await saveSigningKey(path, key);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const loaded = await loadSigningKey(path);
    expect(loaded.publicKey).toEqual(key.publicKey);
    await expect(saveSigningKey(path, generateSigningKey())).rejects.toSatisfy((e) =>
      isMspError(e, "conflict"),
    );
  });

  it("refuses a key file readable by others, a missing file and a non-ed25519 key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "msp-key-"));
    const path = join(dir, "k.pem");
    await saveSigningKey(path, generateSigningKey());
    await chmod(path, 0o644);
    await expect(loadSigningKey(path)).rejects.toThrow(/mode 644.*chmod 600/);
    await expect(loadSigningKey(join(dir, "absent.pem"))).rejects.toSatisfy((e) =>
      isMspError(e, "config_missing"),
    );
    const junk = join(dir, "junk.pem");
    await writeFile(junk, "not a key", { mode: 0o600 });
    await expect(loadSigningKey(junk)).rejects.toSatisfy((e) => isMspError(e, "config_invalid"));
  });
});
