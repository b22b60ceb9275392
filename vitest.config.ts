import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests run against the TypeScript sources; `tsc -b` (run first by `npm test`) builds the
// dist/ that the CLI binary and spawned processes use.
export default defineConfig({
  resolve: {
    alias: {
      "@trellis/result": src("./packages/result/src/index.ts"),
      "@trellis/contracts": src("./packages/contracts/src/index.ts"),
      "@trellis/runtime/auth": src("./packages/runtime/src/auth/index.ts"),
      "@trellis/runtime": src("./packages/runtime/src/index.ts"),
      "@trellis/control-plane": src("./packages/control-plane/src/index.ts"),
      "@trellis/testing": src("./packages/testing/src/index.ts"),
      "@trellis/codegen": src("./packages/codegen/src/index.ts"),
      "@trellis/builtin-contracts": src("./contracts/src/index.ts"),
    },
  },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "packages/*/test/**/*.test.ts",
      "contracts/**/*.test.ts",
      "examples/*/src/**/*.test.ts",
      "examples/*/test/**/*.test.ts",
      "test/**/*.test.ts",
    ],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
  },
});
