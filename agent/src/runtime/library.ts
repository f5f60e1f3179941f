/**
 * Locates the runbook library. The executable carries the pinned library as
 * SEA assets; it is unpacked once per catalog into the state directory
 * (read-only files), so what runs is exactly what was built and pinned.
 * Outside the executable the config must name `runbooks_dir`.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as sea from "node:sea";
import { MspError } from "@msp/shared";

/** Asset names of the embedded library (written by build/sea.ts as asset-list.json inside the blob). */
const LIST_ASSET = "asset-list.json";

/** True when running as the single executable. */
export function isExecutable(): boolean {
  return sea.isSea();
}

/** Reads an embedded text asset (e.g. `baselines/hipaa-v1.yaml`); undefined outside the executable. */
export function embeddedText(name: string): string | undefined {
  if (!sea.isSea()) return undefined;
  try {
    return sea.getAsset(name, "utf8");
  } catch {
    return undefined;
  }
}

/** The runbook library directory to load, unpacking the embedded one if needed. */
export function runbookLibraryDir(stateDir: string, configured: string | undefined): string {
  if (configured !== undefined) return configured;
  const list = embeddedText(LIST_ASSET);
  if (list === undefined) {
    throw new MspError(
      "config_invalid",
      "runbooks_dir is required when the agent runs outside its executable",
    );
  }
  const names = (JSON.parse(list) as string[]).filter((n) => n.startsWith("runbooks/"));
  const catalog = embeddedText("runbooks/catalog.json") ?? "";
  const digest = createHash("sha256").update(catalog).digest("hex").slice(0, 16);
  const dir = join(stateDir, "library", digest);
  if (existsSync(join(dir, "catalog.json"))) return dir;
  // Unpack into a temporary directory and rename, so a crash never leaves half a library.
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  for (const name of names) {
    const target = join(tmp, name.slice("runbooks/".length));
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    writeFileSync(target, new Uint8Array(sea.getAsset(name)), { mode: 0o400 });
  }
  chmodSync(tmp, 0o500);
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  renameSync(tmp, dir);
  return dir;
}
