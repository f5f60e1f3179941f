/**
 * A local directory that behaves like a WORM bucket, for the demo and for
 * laptops without S3. It is NOT tamper-proof: anyone with write access to the
 * directory (or root) can delete or rewrite it. Its label says so, every
 * startup logs a warning, and `tamperProof` is false.
 *
 * What it does give: each version is its own file, written once and made
 * read-only (0444); a retention index (`retention-index.jsonl`, append-only,
 * fsynced) records every version's sha256, size and retain-until date; and
 * reads re-hash the file against the index, so a silent change is detected.
 * One process owns a directory at a time.
 *
 * Layout: `LOCAL-WORM-NOT-TAMPER-PROOF.json` (the marker written by
 * {@link initLocalWormDir}; without it `checkBucket` refuses the directory, as
 * the S3 adapter refuses a bucket without Object Lock), `objects/<key>/<version>`,
 * and the index.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type Clock, type Logger, MspError, silentLogger, systemClock } from "@msp/shared";
import {
  checkObjectKey,
  checkPutRequest,
  checkVersionId,
  type ObjectRetention,
  type ObjectStore,
  type PutObjectRequest,
} from "./store.js";

/** The marker file's name; its presence is this adapter's "Object Lock enabled". */
export const LOCAL_WORM_MARKER = "LOCAL-WORM-NOT-TAMPER-PROOF.json";
const INDEX_FILE = "retention-index.jsonl";

/** Options of {@link createLocalWormStore}. */
export interface LocalWormOptions {
  /** The directory, made by {@link initLocalWormDir}. */
  dir: string;
  clock?: Clock;
  log?: Logger;
}

/** One line of the retention index: one object version. */
interface IndexEntry {
  key: string;
  version_id: string;
  sha256: string;
  size: number;
  mode: "COMPLIANCE";
  retain_until: string;
  content_type: string;
  stored_at: string;
}

/**
 * Creates (or re-marks) a local WORM directory. Idempotent; kept apart from
 * {@link createLocalWormStore} so that a mistyped path is refused at startup
 * instead of silently becoming a new, empty evidence store.
 */
export async function initLocalWormDir(dir: string): Promise<void> {
  await mkdir(join(dir, "objects"), { recursive: true, mode: 0o700 });
  const marker = {
    format: 1,
    tamper_proof: false,
    note: "Demo WORM directory. NOT tamper-proof: use S3 Object Lock (COMPLIANCE) for real evidence.",
  };
  await writeDurably(join(dir, LOCAL_WORM_MARKER), `${JSON.stringify(marker, null, 2)}\n`, "w");
}

/** The local directory adapter; see the module comment. */
export function createLocalWormStore(opts: LocalWormOptions): ObjectStore {
  const dir = opts.dir;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? silentLogger;
  const label = `local-dir:${dir} (NOT tamper-proof)`;
  let index: Map<string, IndexEntry[]> | undefined;
  // Puts run one at a time: a version id is the key's version count + 1, so two at once would collide.
  let putTail: Promise<unknown> = Promise.resolve();

  async function loadIndex(): Promise<Map<string, IndexEntry[]>> {
    if (index !== undefined) return index;
    const loaded = new Map<string, IndexEntry[]>();
    let text = "";
    try {
      text = await readFile(join(dir, INDEX_FILE), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new MspError("unavailable", `cannot read ${INDEX_FILE} in ${dir}`, { cause: e });
      }
    }
    for (const [n, line] of text.split("\n").entries()) {
      if (line === "") continue;
      let entry: IndexEntry;
      try {
        entry = JSON.parse(line) as IndexEntry;
      } catch (e) {
        throw new MspError("integrity_mismatch", `${INDEX_FILE} line ${n + 1} in ${dir} is not JSON`, {
          cause: e,
        });
      }
      const versions = loaded.get(entry.key) ?? [];
      versions.push(entry);
      loaded.set(entry.key, versions);
    }
    index = loaded;
    return loaded;
  }

  async function entryOf(key: string, versionId?: string): Promise<IndexEntry | null> {
    checkObjectKey(key);
    checkVersionId(versionId);
    const versions = (await loadIndex()).get(key) ?? [];
    if (versionId === undefined) return versions[versions.length - 1] ?? null;
    return versions.find((v) => v.version_id === versionId) ?? null;
  }

  async function putNow(req: PutObjectRequest): Promise<{ versionId: string }> {
    const now = clock.now();
    checkPutRequest(req, now);
    const versions = (await loadIndex()).get(req.key) ?? [];
    const versionId = `v${String(versions.length + 1).padStart(6, "0")}`;
    const file = join(dir, "objects", req.key, versionId);
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp`;
      // A crash may have left a read-only temp file behind; it was never indexed, so it goes.
      await rm(tmp, { force: true });
      await writeDurably(tmp, req.body, "w");
      await chmod(tmp, 0o444);
      await rename(tmp, file);
    } catch (e) {
      throw new MspError("unavailable", `cannot write ${req.key} under ${dir}`, { cause: e });
    }
    const entry: IndexEntry = {
      key: req.key,
      version_id: versionId,
      sha256: req.sha256,
      size: req.body.length,
      mode: "COMPLIANCE",
      retain_until: req.retainUntil.toISOString(),
      content_type: req.contentType,
      stored_at: now.toISOString(),
    };
    // The index line is what makes the version exist: a crash before it leaves an orphan file
    // that the next put of the key overwrites, never a half-recorded object.
    try {
      await writeDurably(join(dir, INDEX_FILE), `${JSON.stringify(entry)}\n`, "a");
    } catch (e) {
      throw new MspError("unavailable", `cannot append to ${INDEX_FILE} in ${dir}`, { cause: e });
    }
    versions.push(entry);
    (await loadIndex()).set(req.key, versions);
    return { versionId };
  }

  return {
    label,
    tamperProof: false,

    async checkBucket() {
      let marker: unknown;
      try {
        marker = JSON.parse(await readFile(join(dir, LOCAL_WORM_MARKER), "utf8"));
        if (!(await stat(join(dir, "objects"))).isDirectory()) throw new Error("objects is not a directory");
      } catch (e) {
        throw new MspError(
          "config_invalid",
          `${dir} is not an initialised local WORM directory (no ${LOCAL_WORM_MARKER}); refusing to write evidence there`,
          { cause: e, details: { dir } },
        );
      }
      if ((marker as { format?: unknown }).format !== 1) {
        throw new MspError("config_invalid", `${dir}/${LOCAL_WORM_MARKER} has an unknown format`);
      }
      await loadIndex();
      log.log("warn", "WORM storage is a local directory: NOT tamper-proof, for demos only", { dir });
    },

    put(req: PutObjectRequest) {
      const next = putTail.then(() => putNow(req));
      putTail = next.catch(() => {});
      return next;
    },

    async head(key) {
      const entry = await entryOf(key);
      if (entry === null) return null;
      return { key, versionId: entry.version_id, sha256: entry.sha256, size: entry.size };
    },

    async get(key, versionId) {
      const entry = await entryOf(key, versionId);
      if (entry === null) return null;
      let body: Buffer;
      try {
        body = await readFile(join(dir, "objects", key, entry.version_id));
      } catch (e) {
        throw new MspError(
          "integrity_mismatch",
          `${key} version ${entry.version_id} is indexed but missing`,
          {
            cause: e,
            details: { key, versionId: entry.version_id },
          },
        );
      }
      if (createHash("sha256").update(body).digest("hex") !== entry.sha256) {
        throw new MspError("integrity_mismatch", `${key} version ${entry.version_id} changed on disk`, {
          details: { key, versionId: entry.version_id },
        });
      }
      return body;
    },

    async retention(key, versionId): Promise<ObjectRetention | null> {
      const entry = await entryOf(key, versionId);
      if (entry === null) return null;
      return { mode: entry.mode, retainUntil: new Date(entry.retain_until) };
    },
  };
}

// Writes and fsyncs, so a version reported as stored survives a power cut.
async function writeDurably(path: string, data: string | Buffer, flag: "w" | "a"): Promise<void> {
  const fh = await open(path, flag, 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
