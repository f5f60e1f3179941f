/**
 * The case suite every ObjectStore adapter must pass, run against the local
 * directory (local-store.test.ts) and against S3 on radosgw (s3.test.ts), so
 * the demo adapter cannot drift from the behaviour the uploader relies on.
 */
import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import type { ObjectStore } from "../../control-plane/src/worm/index.js";
import { isMspError } from "../../shared/src/index.js";

/** What a case needs: a store over locked storage, and one over storage without a lock. */
export interface StoreUnderTest {
  store: ObjectStore;
  /** Same adapter, storage without Object Lock (or an uninitialised directory). */
  unlocked: ObjectStore;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
// Whole seconds: S3 stores retain-until dates at second precision on some implementations.
const inYears = (n: number) => new Date(Math.floor(Date.now() / 1000) * 1000 + n * 365 * 86_400_000);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isMspError(err), `expected an MspError ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
}

/** Registers the shared cases; `get` is called inside each test, after the caller's beforeAll. */
export function objectStoreCases(get: () => StoreUnderTest): void {
  it("accepts locked storage and refuses storage without a lock with config_invalid", async () => {
    await get().store.checkBucket();
    await rejectsWith(get().unlocked.checkBucket(), "config_invalid");
  });

  it("puts a version and reads it back: head, get, get by version, COMPLIANCE retention", async () => {
    const { store } = get();
    const body = Buffer.from('{"case":"put"}');
    const retainUntil = inYears(6);
    const { versionId } = await store.put({
      key: "cases/put/one.json",
      body,
      sha256: sha(body),
      retainUntil,
      contentType: "application/json",
    });
    expect(versionId).not.toBe("");
    expect(await store.head("cases/put/one.json")).toEqual({
      key: "cases/put/one.json",
      versionId,
      sha256: sha(body),
      size: body.length,
    });
    expect(await store.get("cases/put/one.json")).toEqual(body);
    expect(await store.get("cases/put/one.json", versionId)).toEqual(body);
    const retention = await store.retention("cases/put/one.json", versionId);
    expect(retention?.mode).toBe("COMPLIANCE");
    expect(retention?.retainUntil.toISOString()).toBe(retainUntil.toISOString());
  });

  it("keeps every version: a second put makes a new newest version and the first stays readable", async () => {
    const { store } = get();
    const put = (text: string) => {
      const body = Buffer.from(text);
      return store.put({
        key: "cases/versions/x.json",
        body,
        sha256: sha(body),
        retainUntil: inYears(1),
        contentType: "application/json",
      });
    };
    const v1 = await put('"first"');
    const v2 = await put('"second"');
    expect(v2.versionId).not.toBe(v1.versionId);
    expect((await store.head("cases/versions/x.json"))?.versionId).toBe(v2.versionId);
    expect(String(await store.get("cases/versions/x.json", v1.versionId))).toBe('"first"');
    expect(String(await store.get("cases/versions/x.json"))).toBe('"second"');
  });

  it("gives concurrent puts to one key distinct versions, all readable", async () => {
    const { store } = get();
    const bodies = [0, 1, 2, 3, 4].map((i) => Buffer.from(`"concurrent ${i}"`));
    const versions = await Promise.all(
      bodies.map((body) =>
        store.put({
          key: "cases/concurrent.json",
          body,
          sha256: sha(body),
          retainUntil: inYears(1),
          contentType: "application/json",
        }),
      ),
    );
    expect(new Set(versions.map((v) => v.versionId)).size).toBe(5);
    for (const [i, v] of versions.entries()) {
      expect(await store.get("cases/concurrent.json", v.versionId)).toEqual(bodies[i]);
    }
  });

  it("answers null for a key that does not exist", async () => {
    const { store } = get();
    expect(await store.head("cases/missing.json")).toBeNull();
    expect(await store.get("cases/missing.json")).toBeNull();
    expect(await store.retention("cases/missing.json")).toBeNull();
  });

  it("refuses bad requests with typed errors and writes nothing", async () => {
    const { store } = get();
    const body = Buffer.from("x");
    const good = {
      key: "cases/bad/x",
      body,
      sha256: sha(body),
      retainUntil: inYears(1),
      contentType: "text/plain",
    };
    for (const key of ["", "../escape", "/abs", "a//b", "a/../b", "a/./b", "sp ace", "x".repeat(600)]) {
      await rejectsWith(store.put({ ...good, key }), "invalid_input");
      await rejectsWith(store.head(key), "invalid_input");
    }
    await rejectsWith(store.put({ ...good, sha256: "A".repeat(64) }), "invalid_input");
    await rejectsWith(store.put({ ...good, sha256: sha(Buffer.from("y")) }), "integrity_mismatch");
    await rejectsWith(store.put({ ...good, retainUntil: new Date(Date.now() - 1000) }), "invalid_input");
    await rejectsWith(store.put({ ...good, retainUntil: new Date("nonsense") }), "invalid_input");
    await rejectsWith(store.put({ ...good, contentType: "" }), "invalid_input");
    await rejectsWith(store.get("cases/bad/x", "../v"), "invalid_input");
    expect(await store.head("cases/bad/x")).toBeNull();
  });
}
