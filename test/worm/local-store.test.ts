/**
 * The local WORM directory adapter: the shared ObjectStore cases, plus what is
 * particular to it (read-only files, the retention index, detection of a
 * change on disk, the NOT tamper-proof label).
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createLocalWormStore,
  initLocalWormDir,
  type ObjectStore,
} from "../../control-plane/src/worm/index.js";
import { type Logger, sha256Hex } from "../../shared/src/index.js";
import { objectStoreCases, type StoreUnderTest } from "./object-store-cases.js";

let root: string;
let fixture: StoreUnderTest;
const logged: string[] = [];
const log: Logger = { log: (level, msg) => logged.push(`${level}: ${msg}`) };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "msp-worm-local-"));
  await initLocalWormDir(join(root, "worm"));
  fixture = {
    store: createLocalWormStore({ dir: join(root, "worm"), log }),
    unlocked: createLocalWormStore({ dir: join(root, "plain") }),
  };
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("local WORM directory: shared ObjectStore cases", () => {
  objectStoreCases(() => fixture);
});

describe("local WORM directory", () => {
  const put = (store: ObjectStore, key: string, text: string) => {
    const body = Buffer.from(text);
    return store.put({
      key,
      body,
      sha256: sha256Hex(body),
      retainUntil: new Date(Date.now() + 86_400_000),
      contentType: "application/json",
    });
  };

  it("is labelled and logged as NOT tamper-proof", async () => {
    expect(fixture.store.tamperProof).toBe(false);
    expect(fixture.store.label).toContain("NOT tamper-proof");
    await fixture.store.checkBucket();
    expect(logged.some((l) => l.startsWith("warn:") && l.includes("NOT tamper-proof"))).toBe(true);
  });

  it("writes each version as a read-only file and indexes its retention", async () => {
    const { versionId } = await put(fixture.store, "local/ro.json", '"ro"');
    const file = join(root, "worm", "objects", "local", "ro.json", versionId);
    expect(statSync(file).mode & 0o777).toBe(0o444);
    const index = readFileSync(join(root, "worm", "retention-index.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(JSON.parse(index.at(-1) ?? "")).toMatchObject({ key: "local/ro.json", mode: "COMPLIANCE" });
    expect(readdirSync(join(root, "worm", "objects", "local", "ro.json"))).toEqual([versionId]);
  });

  it("survives a reopen: a new adapter on the directory sees every version", async () => {
    const { versionId } = await put(fixture.store, "local/reopen.json", '"r"');
    const again = createLocalWormStore({ dir: join(root, "worm") });
    expect((await again.head("local/reopen.json"))?.versionId).toBe(versionId);
    expect(String(await again.get("local/reopen.json"))).toBe('"r"');
  });

  it("detects a file changed or removed behind its back with integrity_mismatch", async () => {
    const { versionId } = await put(fixture.store, "local/tamper.json", '"original"');
    const file = join(root, "worm", "objects", "local", "tamper.json", versionId);
    chmodSync(file, 0o644);
    writeFileSync(file, '"forged"');
    await expect(fixture.store.get("local/tamper.json")).rejects.toMatchObject({
      code: "integrity_mismatch",
    });
    rmSync(file);
    await expect(fixture.store.get("local/tamper.json")).rejects.toMatchObject({
      code: "integrity_mismatch",
    });
  });
});
