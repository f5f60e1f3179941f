/**
 * Builds the agent as ONE executable with Node's single executable application
 * support (the old `pkg` cannot build offline):
 *   esbuild bundle (CJS, everything inlined, ws without optional native deps)
 *   -> sea-config (assets: runbooks, catalog, baseline, the better-sqlite3 addon)
 *   -> `node --experimental-sea-config` -> postject into a copy of this node binary.
 *
 * Usage: node --import tsx agent/build/sea.ts [--out agent/dist/msp-agent]
 * Beside the executable it also writes bundle.cjs (the same program for
 * `node bundle.cjs`, which loads the better_sqlite3.node copied next to it),
 * bundle-meta.json (esbuild's input list, used by the lean-bundle test) and
 * the intermediate sea-config.json, sea-prep.blob and asset-list.json.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const agentDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repoDir = resolve(agentDir, "..");
const outArg = process.argv.indexOf("--out");
const exePath = resolve(outArg > 0 ? (process.argv[outArg + 1] ?? "") : join(agentDir, "dist", "msp-agent"));
// Every build product lands beside the executable, so two builds with different --out never share files.
const outDir = dirname(exePath);
const require = createRequire(join(agentDir, "package.json"));

mkdirSync(outDir, { recursive: true });
const bundlePath = join(outDir, "bundle.cjs");
const addon = join(
  dirname(require.resolve("better-sqlite3/package.json")),
  "build",
  "Release",
  "better_sqlite3.node",
);
// Known at build time, so a start whose addon file is already unpacked never reads the 2 MB asset.
const addonDigest = createHash("sha256").update(readFileSync(addon)).digest("hex").slice(0, 16);

/**
 * zod's `z.locales` namespace holds error messages in about fifty languages (a fifth of the
 * bundle, and work at every start); nothing here calls `z.config(z.locales.xx())`, and zod
 * registers English from its own import of `locales/en.js`, so the namespace keeps `en` only.
 */
const zodEnglishOnly: Plugin = {
  name: "zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: "js",
    }));
  },
};

const sharedSrc = join(repoDir, "shared", "src");
const resolving = Symbol("shared-side-effect-free");
/**
 * @msp/shared is side-effect free (modules of schemas, constants and functions), but
 * esbuild cannot know that a top-level `z.object(...)` call is pure, so without this it
 * would bundle and run every schema of the control plane's API at every start. Marking
 * its modules `sideEffects: false` (what its package.json would say) lets esbuild drop
 * the modules the agent never imports, and lets `version` start without the rest.
 */
const sharedIsSideEffectFree: Plugin = {
  name: "shared-side-effect-free",
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === resolving) return undefined;
      const inShared =
        args.path === "@msp/shared" || (args.importer.startsWith(sharedSrc) && args.path.startsWith("."));
      if (!inShared) return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: resolving,
      });
      return r.errors.length > 0 ? { errors: r.errors } : { path: r.path, sideEffects: false };
    });
  },
};
const result = await build({
  entryPoints: [join(agentDir, "src", "cli", "main.ts")],
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  outfile: bundlePath,
  metafile: true,
  legalComments: "none",
  // Whitespace and syntax only: half the source to parse and keep in memory, while
  // identifiers (and so function names in stack traces) stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  // ws probes for optional native helpers; the defines make it skip them in the bundle.
  define: {
    "process.env.WS_NO_BUFFER_UTIL": '"1"',
    "process.env.WS_NO_UTF_8_VALIDATE": '"1"',
    "process.env.MSP_AGENT_BUNDLED": '"1"',
    "process.env.MSP_AGENT_SQLITE_DIGEST": JSON.stringify(addonDigest),
  },
  plugins: [sharedIsSideEffectFree, zodEnglishOnly],
  alias: { "@msp/shared": join(repoDir, "shared", "src", "index.ts") },
});
writeFileSync(
  join(outDir, "bundle-meta.json"),
  JSON.stringify({ inputs: Object.keys(result.metafile.inputs) }, null, 1),
);

// Assets: the addon plus the pinned runbook library and default baseline.
const assets: Record<string, string> = { "better_sqlite3.node": addon };
// `node bundle.cjs` has no node_modules either: src/sqlite loads the addon from beside the bundle.
copyFileSync(addon, join(outDir, "better_sqlite3.node"));
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
// The list itself is an asset: runtime/library.ts reads it to unpack the embedded runbook library.
const assetList = join(outDir, "asset-list.json");
writeFileSync(assetList, JSON.stringify(Object.keys(assets).sort(), null, 1));
assets["asset-list.json"] = assetList;

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
// Injected into a private copy, then renamed over the old executable: a running agent or a
// concurrent reader never sees a half-written file (and copying onto a running binary fails).
const staging = `${exePath}.${process.pid}.tmp`;
try {
  copyFileSync(process.execPath, staging);
  chmodSync(staging, 0o755);
  const postject = join(dirname(require.resolve("postject/package.json")), "dist", "cli.js");
  execFileSync(
    process.execPath,
    [
      postject,
      staging,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
    ],
    // postject's ELF warnings about unnamed .note sections are harmless; real errors still reach stderr.
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  renameSync(staging, exePath);
} finally {
  rmSync(staging, { force: true });
}
console.log(`built ${relative(process.cwd(), exePath)} (${Object.keys(assets).length} assets)`);
