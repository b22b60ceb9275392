import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { discoverContracts } from "../src/discover.js";
import { createWorkspace, packageJson, removeWorkspaces } from "./support/workspace.js";

afterAll(removeWorkspaces);

const SOURCE = "export default {};\n";

describe("discoverContracts", () => {
  it("finds the single, several and declared layouts and skips generated and tool folders", () => {
    const root = createWorkspace({
      "package.json": packageJson("root"),
      "single/package.json": packageJson("single", "0.1.0"),
      "single/contract.ts": SOURCE,
      "in-src/package.json": packageJson("in-src"),
      "in-src/src/contract.ts": SOURCE,
      "in-src/src/other.ts": SOURCE,
      "several/package.json": packageJson("several"),
      "several/contracts/b.ts": SOURCE,
      "several/contracts/a.ts": SOURCE,
      "several/contracts/a.test.ts": SOURCE,
      "several/contracts/types.d.ts": SOURCE,
      "several/contracts/notes.md": "",
      "declared/package.json": packageJson("declared", "1.0.0", { trellis: { contracts: ["lib/x.ts"] } }),
      "declared/lib/x.ts": SOURCE,
      "nested/deeper/package.json": packageJson("deeper"),
      "nested/deeper/contract.js": SOURCE,
      "no-contracts/package.json": packageJson("plain"),
      "no-contracts/src/index.ts": SOURCE,
      "generated/packages/npm/x/package.json": packageJson("@trellis-sdk/x"),
      "generated/packages/npm/x/contract.ts": SOURCE,
      "dist/package.json": packageJson("dist"),
      "dist/contract.ts": SOURCE,
      ".hidden/package.json": packageJson("hidden"),
      ".hidden/contract.ts": SOURCE,
      "vendor/node_modules/dep/package.json": packageJson("dep"),
      "vendor/node_modules/dep/contract.ts": SOURCE,
    });
    const { packages, problems } = discoverContracts(root);
    expect(problems).toEqual([]);
    expect(
      packages.map((pkg) => [
        pkg.dir.slice(root.length + 1),
        pkg.layout,
        pkg.sources.map((s) => s.slice(pkg.dir.length + 1)),
      ]),
    ).toEqual([
      ["declared", "declared", ["lib/x.ts"]],
      ["in-src", "single", ["src/contract.ts"]],
      ["nested/deeper", "single", ["contract.js"]],
      ["several", "several", ["contracts/a.ts", "contracts/b.ts"]],
      ["single", "single", ["contract.ts"]],
    ]);
    expect(packages.find((pkg) => pkg.name === "single")?.version).toBe("0.1.0");
  });

  it("refuses mixed layouts and says what to do", () => {
    const root = createWorkspace({
      "mixed/package.json": packageJson("mixed"),
      "mixed/contract.ts": SOURCE,
      "mixed/contracts/a.ts": SOURCE,
      "twice/package.json": packageJson("twice"),
      "twice/contract.ts": SOURCE,
      "twice/contract.js": SOURCE,
      "declared/package.json": packageJson("declared", "1.0.0", { trellis: { contracts: ["x.ts"] } }),
      "declared/x.ts": SOURCE,
      "declared/src/contract.ts": SOURCE,
      "missing/package.json": packageJson("missing", "1.0.0", { trellis: { contracts: ["gone.ts"] } }),
      "ok/package.json": packageJson("ok"),
      "ok/contract.ts": SOURCE,
    });
    const { packages, problems } = discoverContracts(root);
    expect(packages.map((pkg) => pkg.name)).toEqual(["ok"]);
    expect(problems.map((problem) => [problem.dir, problem.message])).toEqual([
      [
        join(root, "declared"),
        "declared lists trellis.contracts in package.json and also has src/contract.ts; choose one layout",
      ],
      [join(root, "missing"), "missing/package.json: trellis.contracts lists missing files: missing/gone.ts"],
      [
        join(root, "mixed"),
        "mixed has both contract.ts and contracts/; choose one layout: a single contract.ts, or one file per contract under contracts/",
      ],
      [join(root, "twice"), "twice has contract.ts and contract.js; keep only one of them"],
    ]);
  });

  it("leaves a contracts/ folder that is a package of its own to that package", () => {
    const root = createWorkspace({
      "package.json": packageJson("root"),
      "contracts/package.json": packageJson("builtins"),
      "contracts/a.ts": SOURCE,
    });
    expect(discoverContracts(root).packages).toEqual([]);
  });
});
