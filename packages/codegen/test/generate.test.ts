import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalizeJson } from "@trellis/contracts";
import { afterAll, describe, expect, it } from "vitest";
import { resolveContract, writeSdkArtifact } from "../src/generate.js";
import { prepare } from "../src/prepare.js";
import {
  createWorkspace,
  packageJson,
  REPO_ROOT,
  removeWorkspaces,
  serviceSource,
  snapshot,
} from "./support/workspace.js";

afterAll(removeWorkspaces);

function trellis(...args: string[]) {
  return spawnSync(process.execPath, [join(REPO_ROOT, "packages/cli/dist/bin.js"), ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
}

describe("trellis generate", () => {
  const dir = createWorkspace({
    "package.json": packageJson("root"),
    "svc/package.json": packageJson("svc", "4.5.6"),
    "svc/contract.ts": serviceSource("test.one@v1", "One"),
    "agent.ts": `import { defineAgentContract } from "@trellis/contracts";\nexport default defineAgentContract({}, () => ({ id: "test.agent@v1", displayName: "A", description: "A." }));\n`,
  });

  it("writes the canonical manifest of a source and prints its digest", () => {
    const run = trellis(
      "generate",
      "manifest",
      "--source",
      join(dir, "svc/contract.ts"),
      "--out",
      join(dir, "out"),
    );
    expect(run.status).toBe(0);
    const file = join(dir, "out/test.one@v1.json");
    const text = readFileSync(file, "utf8");
    expect(text).toBe(`${canonicalizeJson(JSON.parse(text))}\n`);
    const [digest, path] = run.stdout.trim().split(" ");
    expect(path).toBe(file);
    expect(digest).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 60_000);

  it("writes from a manifest the same SDK package prepare does", async () => {
    await prepare({ root: dir });
    const contract = await resolveContract({
      manifest: join(dir, "generated/contracts/manifests/test.one@v1.json"),
    });
    writeSdkArtifact(contract, join(dir, "sdk"), { artifactVersion: "4.5.6" });
    const prepared = snapshot(dir, "generated/packages/npm/test-one");
    const generated = snapshot(dir, "sdk");
    expect(Object.values(generated)).toEqual(Object.values(prepared));
    expect(Object.keys(generated)).toContain("sdk/esm/mod.d.ts");
  }, 60_000);

  it("refuses an agent's SDK, an invalid manifest, and ambiguous input", async () => {
    const agent = await resolveContract({ source: join(dir, "agent.ts") });
    expect(() => writeSdkArtifact(agent, join(dir, "none"))).toThrow(
      "test.agent@v1 is an agent contract; only service and app contracts have SDKs",
    );
    await expect(resolveContract({ source: "a.ts", manifest: "b.json" })).rejects.toThrow(
      "give exactly one of --source and --manifest",
    );
    const invalid = join(dir, "invalid.json");
    writeFileSync(invalid, '{"format": "trellis.contract.v1", "id": "x@v1"}\n');
    const run = trellis("generate", "sdk", "--manifest", invalid, "--out", join(dir, "none"));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("is not a valid contract: /displayName:");
  }, 60_000);
});
