import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import { canonicalizeJson } from "@trellis/contracts";
import { afterAll, describe, expect, it } from "vitest";
import { prepare } from "../src/prepare.js";
import { REPO_ROOT } from "./support/workspace.js";

const out = mkdtempSync(join(tmpdir(), "trellis-codegen-builtins-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("the Trellis-owned contracts", () => {
  it("prepare to manifests with the digests of their modules, and no SDK packages", async () => {
    const report = await prepare({ root: join(REPO_ROOT, "contracts"), out });
    expect(report.problems).toEqual([]);
    expect(report.contracts.map((contract) => contract.id).sort()).toEqual(
      BUILTIN_CONTRACTS.map((module) => module.CONTRACT_ID).sort(),
    );
    for (const module of BUILTIN_CONTRACTS) {
      const path = join(out, "generated/contracts/manifests", module.CONTRACT_ID);
      expect(readFileSync(`${path}.json`, "utf8")).toBe(`${canonicalizeJson(module.CONTRACT)}\n`);
      const metadata = JSON.parse(readFileSync(`${path}.trellis-generate.json`, "utf8"));
      expect(metadata).toMatchObject({ contract_digest: module.CONTRACT_DIGEST, has_npm_package: false });
    }
    expect(report.written.some((path) => path.startsWith("generated/packages/"))).toBe(false);
  }, 60_000);
});
