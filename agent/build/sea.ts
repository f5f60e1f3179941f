/**
 * Builds the agent as ONE executable with Node's single executable application
 * support (the old `pkg` cannot build offline):
 *   esbuild bundle (CJS, everything inlined, ws without optional native deps)
 *   -> sea-config (assets: runbooks, catalog, baseline, the better-sqlite3 addon)
 *   -> `node --experimental-sea-config` -> postject into a copy of this node binary.
 *
 * Usage: node --import tsx agent/build/sea.ts [--out agent/dist/msp-agent]
 * Also writes agent/dist/bundle.cjs (the same program for `node bundle.cjs`) and
 * agent/dist/bundle-meta.json (esbuild's input list, used by the lean-bundle test).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const agentDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoDir = resolve(agentDir, "..");
const outDir = join(agentDir, "dist");
const outArg = process.argv.indexOf("--out");
const exePath = resolve(outArg > 0 ? (process.argv[outArg + 1] ?? "") : join(outDir, "msp-agent"));
const require = createRequire(join(agentDir, "package.json"));

mkdirSync(outDir, { recursive: true });
const bundlePath = join(outDir, "bundle.cjs");
const result = await build({
  entryPoints: [join(agentDir, "src", "cli", "main.ts")],
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  outfile: bundlePath,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  // ws probes for optional native helpers; the defines make it skip them in the bundle.
  define: {
    "process.env.WS_NO_BUFFER_UTIL": '"1"',
    "process.env.WS_NO_UTF_8_VALIDATE": '"1"',
    "process.env.MSP_AGENT_BUNDLED": '"1"',
  },
  alias: { "@msp/shared": join(repoDir, "shared", "src", "index.ts") },
});
writeFileSync(
  join(outDir, "bundle-meta.json"),
  JSON.stringify({ inputs: Object.keys(result.metafile.inputs) }, null, 1),
);

// Assets: the addon plus the pinned runbook library and default baseline.
const assets: Record<string, string> = {
  "better_sqlite3.node": join(
    dirname(require.resolve("better-sqlite3/package.json")),
    "build",
    "Release",
    "better_sqlite3.node",
  ),
};
const runbooksDir = join(repoDir, "runbooks");
const addTree = (dir: string, prefix: string) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) addTree(full, `${prefix}${entry.name}/`);
    else if (/\.(ya?ml|json|sh)$/.test(entry.name)) assets[`${prefix}${entry.name}`] = full;
  }
};
addTree(runbooksDir, "runbooks/");
addTree(join(agentDir, "baselines"), "baselines/");
writeFileSync(join(outDir, "asset-list.json"), JSON.stringify(Object.keys(assets).sort(), null, 1));

const seaConfig = join(outDir, "sea-config.json");
const blob = join(outDir, "sea-prep.blob");
writeFileSync(
  seaConfig,
  JSON.stringify(
    { main: bundlePath, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets },
    null,
    1,
  ),
);
execFileSync(process.execPath, ["--experimental-sea-config", seaConfig], { stdio: "inherit" });
copyFileSync(process.execPath, exePath);
chmodSync(exePath, 0o755);
const postject = join(dirname(require.resolve("postject/package.json")), "dist", "cli.js");
execFileSync(
  process.execPath,
  [
    postject,
    exePath,
    "NODE_SEA_BLOB",
    blob,
    "--sentinel-fuse",
    "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ],
  { stdio: ["ignore", "ignore", "inherit"] },
);
console.log(`built ${relative(process.cwd(), exePath)} (${Object.keys(assets).length} assets)`);
