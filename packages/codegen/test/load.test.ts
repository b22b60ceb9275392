import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadContractSources } from "../src/load.js";
import { createWorkspace, packageJson, removeWorkspaces } from "./support/workspace.js";

afterAll(removeWorkspaces);

const manifest = (id: string) =>
  `{ format: "trellis.contract.v1", id: "${id}", displayName: "X", description: "X.", kind: "agent" }`;

describe("loadContractSources", () => {
  it("reports each broken module with its cause and still loads the others", async () => {
    const dir = createWorkspace({
      "package.json": packageJson("loads"),
      "a-ok.ts": `const m = ${manifest("a@v1")};\nexport default m;\n`,
      "b-throws.ts": 'throw new TypeError("the contract is broken");\n',
      "c-none.ts": "export const value = 1;\n",
      "d-hangs.ts": "await new Promise(() => { setInterval(() => {}, 1000); });\n",
      "e-spins.ts": "for (;;) {}\n",
      "f-exits.ts": 'process.stderr.write("bye\\n");\nprocess.exit(3);\n',
      "g-two.ts": `export const one = ${manifest("g1@v1")};\nexport const two = { CONTRACT: ${manifest("g2@v1")} };\n`,
      "h-syntax.ts": "export const = ;\n",
      "i-module.ts": `const CONTRACT = ${manifest("i@v1")};\nexport const mod = { CONTRACT, CONTRACT_ID: "i@v1" };\nexport { CONTRACT };\n`,
    });
    const files = [
      "a-ok.ts",
      "b-throws.ts",
      "c-none.ts",
      "d-hangs.ts",
      "e-spins.ts",
      "f-exits.ts",
      "g-two.ts",
      "h-syntax.ts",
      "i-module.ts",
    ].map((file) => join(dir, file));
    const started = Date.now();
    const results = await loadContractSources(files, { timeoutMs: 2_500, cwd: dir });
    expect(Date.now() - started).toBeLessThan(15_000);

    expect(
      results.loaded.map((loaded) => [
        loaded.file.slice(dir.length + 1),
        (loaded.manifest as { id: string }).id,
      ]),
    ).toEqual([
      ["a-ok.ts", "a@v1"],
      ["i-module.ts", "i@v1"],
    ]);
    const failures = Object.fromEntries(
      results.failed.map((failed) => [failed.file.slice(dir.length + 1), failed.message]),
    );
    expect(Object.keys(failures)).toEqual([
      "b-throws.ts",
      "c-none.ts",
      "d-hangs.ts",
      "e-spins.ts",
      "f-exits.ts",
      "g-two.ts",
      "h-syntax.ts",
    ]);
    expect(failures["b-throws.ts"]).toBe("TypeError: the contract is broken");
    expect(failures["c-none.ts"]).toMatch(/exports no contract/);
    expect(failures["d-hangs.ts"]).toBe("it did not finish loading within 2500 ms; the loader was killed");
    expect(failures["e-spins.ts"]).toBe("it did not finish loading within 2500 ms; the loader was killed");
    expect(failures["f-exits.ts"]).toBe("the loader exited with code 3 while loading it: bye");
    expect(failures["g-two.ts"]).toMatch(/exports several contracts \(one, two\)/);
    expect(failures["h-syntax.ts"]).toMatch(/h-syntax\.ts/);
  }, 40_000);
});
