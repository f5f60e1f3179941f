import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests import workspace packages from source, so no build is needed before `pnpm test`.
const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@msp\/shared\/nacl$/, replacement: src("./shared/src/crypto/nacl.ts") },
      { find: /^@msp\/shared$/, replacement: src("./shared/src/index.ts") },
      { find: /^@msp\/agent$/, replacement: src("./agent/src/index.ts") },
      { find: /^@msp\/control-plane$/, replacement: src("./control-plane/src/index.ts") },
    ],
  },
  test: {
    include: ["{shared,agent,control-plane,test}/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
