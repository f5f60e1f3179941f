/**
 * Opens SQLite databases for the agent, both under plain Node and inside the
 * single executable (Node SEA).
 *
 * Inside the executable there is no node_modules: the better-sqlite3 addon is
 * embedded as a SEA asset. It is written once to a content-addressed file
 * (mode 0500 in a 0700 directory) and loaded with `process.dlopen`, then passed
 * to better-sqlite3 as `nativeBinding`.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as sea from "node:sea";
import Database from "better-sqlite3";

/** Name of the embedded addon asset in the SEA blob (see build/sea.ts). */
export const SQLITE_ASSET = "better_sqlite3.node";

let binding: object | undefined;

/**
 * Where better-sqlite3 gets its addon: the embedded copy inside the executable,
 * the copy beside `bundle.cjs` when the esbuild bundle runs under plain node
 * (the build defines MSP_AGENT_BUNDLED and copies the file), or undefined
 * when running from source, where node_modules provides it.
 */
function nativeBinding(nativeDir: string | undefined): object | string | undefined {
  if (!sea.isSea()) {
    const bundled = process.env.MSP_AGENT_BUNDLED === "1" && typeof __dirname === "string";
    return bundled ? join(__dirname, SQLITE_ASSET) : undefined;
  }
  if (binding !== undefined) return binding;
  // The build defines the addon's digest, so a start that finds the file already
  // written never reads (and copies) the 2 MB asset out of the executable.
  let bytes: Uint8Array | undefined;
  const embedded = () => {
    bytes ??= new Uint8Array(sea.getAsset(SQLITE_ASSET));
    return bytes;
  };
  const digest =
    process.env.MSP_AGENT_SQLITE_DIGEST ?? createHash("sha256").update(embedded()).digest("hex").slice(0, 16);
  const dir = nativeDir ?? join(tmpdir(), `msp-agent-native-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `better_sqlite3-${digest}.node`);
  if (!existsSync(path)) {
    // Write then rename, so a concurrent start never loads a half-written file.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, embedded(), { mode: 0o500 });
    renameSync(tmp, path);
  }
  const mod = { exports: {} as object };
  process.dlopen(mod, path);
  binding = mod.exports;
  return binding;
}

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Where the executable unpacks its SQLite addon (default: a per-user directory under the OS temp dir). */
  nativeDir?: string;
  readonly?: boolean;
}

/**
 * Opens (creating if needed) a database in WAL mode with `synchronous = FULL`,
 * so every committed transaction is fsync'd before the call returns.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database.Database {
  const native = nativeBinding(options.nativeDir);
  const db = new Database(path, {
    readonly: options.readonly ?? false,
    // better-sqlite3 accepts a path or the loaded addon object as nativeBinding; its typings only mention a path.
    ...(native === undefined ? {} : { nativeBinding: native as string }),
  });
  if (!options.readonly) {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
  }
  db.pragma("busy_timeout = 5000");
  return db;
}
