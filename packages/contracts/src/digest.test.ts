import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ContractManifestSchema, digestContractManifest } from "./index.js";

const root = new URL("../../../conformance/", import.meta.url);
const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, root), "utf8"));

describe("reference manifests", () => {
  const digests: Record<string, string> = readJson("reference-manifests/digests.json");
  for (const [id, digest] of Object.entries(digests)) {
    it(`${id} digests to ${digest}`, () => {
      const manifest = ContractManifestSchema.parse(readJson(`reference-manifests/${id}.json`));
      expect(digestContractManifest(manifest)).toBe(digest);
    });
  }
});
