import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  canonicalizeJson,
  deriveServicePermissions,
  digestContractManifest,
  sortedUnique,
} from "@trellis/contracts";
import { planUserContractApproval } from "@trellis/control-plane";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_MANIFESTS, GENERATOR_FINGERPRINT } from "../src/environment.js";
import { checkPrepared, Preparer, prepare } from "../src/prepare.js";
import type { ScopeSummary } from "../src/scopes.js";
import {
  createWorkspace,
  packageJson,
  REPO_ROOT,
  removeWorkspaces,
  serviceSource,
  snapshot,
} from "./support/workspace.js";

afterAll(removeWorkspaces);

/** Two services (beta uses alpha), an app and an agent, in the three layouts. */
const FILES: Record<string, string> = {
  "svc/package.json": packageJson("svc", "1.2.3"),
  "svc/contracts/alpha.ts": serviceSource("test.alpha@v1", "Alpha"),
  "svc/contracts/beta.ts": `import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";
import alpha from "./alpha.js";

export default defineServiceContract({ schemas: { Empty: z.object({}) } }, (ref) => ({
  id: "test.beta@v1",
  displayName: "Beta",
  description: "Uses alpha.",
  uses: { required: { alpha: alpha.use({ rpc: { call: ["Alpha.Get"] }, events: { subscribe: ["Alpha.Changed"] } }) } },
  rpc: { "Beta.Ping": { version: "v1", input: ref.schema("Empty"), output: ref.schema("Empty") } },
}));
`,
  "app/package.json": packageJson("app", "0.0.1"),
  "app/contract.ts": `import { defineAppContract } from "@trellis/contracts";
import alpha from "../svc/contracts/alpha.js";

export default defineAppContract({}, () => ({
  id: "test.app@v1",
  displayName: "App",
  description: "Reads alpha.",
  uses: { required: { alpha: alpha.use({ rpc: { call: ["Alpha.Get"] }, events: { subscribe: ["Alpha.Changed"] } }) } },
}));
`,
  "agent/package.json": packageJson("agent", "2.0.0"),
  "agent/src/contract.ts": `import { defineAgentContract } from "@trellis/contracts";
import beta from "../../svc/contracts/beta.js";

export const agent = defineAgentContract({}, () => ({
  id: "test.agent@v1",
  displayName: "Agent",
  description: "Pings beta.",
  uses: { required: { beta: beta.use({ rpc: { call: ["Beta.Ping"] } }) } },
}));
`,
};

describe("prepare", () => {
  let dir: string;
  let first: Record<string, string>;

  beforeAll(async () => {
    dir = createWorkspace({ "package.json": packageJson("root"), ...FILES });
    const report = await prepare({ root: dir });
    expect(report.problems).toEqual([]);
    first = snapshot(dir);
  }, 60_000);

  it("writes manifests, metadata, scope summaries and the SDKs of services and apps", () => {
    const files = Object.keys(first);
    const ids = ["test.agent@v1", "test.alpha@v1", "test.app@v1", "test.beta@v1"];
    for (const id of ids) {
      expect(files).toContain(`generated/contracts/manifests/${id}.json`);
      expect(files).toContain(`generated/contracts/scopes/${id}.json`);
    }
    expect(
      sortedUnique(
        files.filter((f) => f.startsWith("generated/packages/")).map((f) => f.split("/")[3] as string),
      ),
    ).toEqual(["test-alpha", "test-app", "test-beta"]);
    const manifest = JSON.parse(first["generated/contracts/manifests/test.beta@v1.json"] as string);
    expect(first["generated/contracts/manifests/test.beta@v1.json"]).toBe(`${canonicalizeJson(manifest)}\n`);
    expect(
      JSON.parse(first["generated/contracts/manifests/test.beta@v1.trellis-generate.json"] as string),
    ).toEqual({
      schema_version: 1,
      contract_id: "test.beta@v1",
      contract_digest: digestContractManifest(manifest),
      artifact_version: "1.2.3",
      source: "svc/contracts/beta.ts",
      has_npm_package: true,
      package_name: "@trellis-sdk/test-beta",
      generator_fingerprint: GENERATOR_FINGERPRINT,
    });
    const beta = JSON.parse(first["generated/packages/npm/test-beta/package.json"] as string);
    expect(beta).toMatchObject({
      name: "@trellis-sdk/test-beta",
      version: "1.2.3",
      dependencies: { "@trellis-sdk/test-alpha": "1.2.3" },
      peerDependencies: {
        "@trellis/contracts": expect.any(String),
        "@trellis/builtin-contracts": expect.any(String),
      },
    });
    expect(first["generated/packages/npm/test-beta/esm/mod.js"]).toContain('from "@trellis-sdk/test-alpha"');
  });

  it("gives byte-identical output on another run and whatever the order of discovery", async () => {
    const again = await prepare({ root: dir });
    expect(again.written).toEqual([]);
    expect(again.removed).toEqual([]);
    expect(snapshot(dir)).toEqual(first);

    const reversed = Object.fromEntries(Object.entries(FILES).reverse());
    const other = createWorkspace({ "package.json": packageJson("elsewhere"), ...reversed });
    await prepare({ root: other });
    expect(snapshot(other)).toEqual(first);
  }, 60_000);

  it("--check lists stale and extra files; a failing contract keeps its artifacts", async () => {
    expect(await checkPrepared({ root: dir })).toMatchObject({ stale: [], problems: [] });
    const scope = join(dir, "generated/contracts/scopes/test.app@v1.json");
    writeFileSync(scope, "{}\n");
    rmSync(join(dir, "generated/packages/npm/test-alpha/esm/mod.d.ts"));
    writeFileSync(join(dir, "generated/contracts/manifests/old@v1.json"), "{}\n");
    expect((await checkPrepared({ root: dir })).stale).toEqual([
      "generated/contracts/manifests/old@v1.json",
      "generated/contracts/scopes/test.app@v1.json",
      "generated/packages/npm/test-alpha/esm/mod.d.ts",
    ]);
    const cli = spawnSync(
      process.execPath,
      [join(REPO_ROOT, "packages/cli/dist/bin.js"), "prepare", "--check", dir],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(cli.status).toBe(1);
    expect(cli.stdout.trim().split("\n")).toEqual([
      "generated/contracts/manifests/old@v1.json",
      "generated/contracts/scopes/test.app@v1.json",
      "generated/packages/npm/test-alpha/esm/mod.d.ts",
    ]);
    expect(cli.stderr).toContain("generated/ is not up to date (3 stale files); run 'trellis prepare'");

    const broken = join(dir, "app/contract.ts");
    const source = readFileSync(broken, "utf8");
    writeFileSync(broken, `${source}\nthrow new Error("app is broken");\n`);
    const failed = await prepare({ root: dir });
    expect(failed.problems).toEqual([{ file: "app/contract.ts", message: "Error: app is broken" }]);
    expect(failed.written).toEqual(["generated/packages/npm/test-alpha/esm/mod.d.ts"]);
    expect(failed.removed).toEqual([]);
    expect(readFileSync(join(dir, "generated/contracts/manifests/test.app@v1.json"), "utf8")).toBe(
      first["generated/contracts/manifests/test.app@v1.json"],
    );

    writeFileSync(broken, source);
    const fixed = await prepare({ root: dir });
    expect(fixed.problems).toEqual([]);
    expect(fixed.written).toEqual(["generated/contracts/scopes/test.app@v1.json"]);
    expect(fixed.removed).toEqual(["generated/contracts/manifests/old@v1.json"]);
    expect(snapshot(dir)).toEqual(first);
  }, 60_000);

  it("writes scope summaries with the subjects the control plane derives", () => {
    const scope = (id: string) =>
      JSON.parse(first[`generated/contracts/scopes/${id}.json`] as string) as ScopeSummary;
    const manifests = new Map(
      ["test.alpha@v1", "test.beta@v1", "test.agent@v1"].map((id) => [
        id,
        JSON.parse(first[`generated/contracts/manifests/${id}.json`] as string),
      ]),
    );
    const resolve = (id: string) => manifests.get(id) ?? BUILTIN_MANIFESTS.get(id);

    const agent = scope("test.agent@v1");
    const plan = planUserContractApproval(manifests.get("test.agent@v1"), resolve);
    if (!plan.ok) throw plan.error;
    expect(sortedUnique(agent.participant.publish.map((rule) => rule.subject))).toEqual(
      plan.value.publishSubjects,
    );
    expect(
      sortedUnique(
        agent.participant.subscribe
          .filter((rule) => !rule.surface.includes(" inbox "))
          .map((rule) => rule.subject),
      ),
    ).toEqual(plan.value.subscribeSubjects);
    expect(plan.value.publishSubjects).toEqual([
      "rpc.v1.Auth.Sessions.Logout",
      "rpc.v1.Auth.Sessions.Me",
      "rpc.v1.Beta.Ping",
    ]);

    const beta = scope("test.beta@v1");
    const service = deriveServicePermissions({
      contract: manifests.get("test.beta@v1"),
      resolveContract: resolve,
      sessionKey: "SESSIONKEYPREFIX0000000000000000000000000000",
    });
    const subjects = (rules: { subject: string }[]) =>
      rules.map((rule) => rule.subject.replace("SESSIONKEYPREFIX", "<session>"));
    expect(beta.participant.publish.map((rule) => rule.subject)).toEqual(subjects(service.publish));
    expect(beta.participant.subscribe.map((rule) => rule.subject)).toEqual(subjects(service.subscribe));
    expect(beta.participant.subscribe.map((rule) => rule.subject)).toContain("events.v1.Alpha.Changed");

    const alpha = scope("test.alpha@v1");
    expect(alpha.capabilities["test.alpha::read"]).toEqual({
      displayName: "Read Alpha",
      description: "Read it.",
      consequence: "You see it.",
      definedBy: "test.alpha@v1",
    });
    expect(alpha.callers?.publish).toEqual([
      {
        subject: "rpc.v1.Alpha.Get",
        requiredCapabilities: ["test.alpha::read"],
        surface: "test.alpha@v1 rpc Alpha.Get call",
      },
      {
        subject: "events.v1.Alpha.Changed",
        requiredCapabilities: [],
        surface: "test.alpha@v1 event Alpha.Changed publish",
      },
    ]);
  });

  it("reports duplicate ids and a package without a version, and prepares the rest", async () => {
    const other = createWorkspace({
      "one/package.json": packageJson("one"),
      "one/contract.ts": serviceSource("test.same@v1", "Same"),
      "two/package.json": packageJson("two"),
      "two/contract.ts": serviceSource("test.same@v1", "Same"),
      "bare/package.json": '{"name": "bare", "type": "module"}\n',
      "bare/contract.ts": serviceSource("test.bare@v1", "Bare"),
      "good/package.json": packageJson("good"),
      "good/contract.ts": serviceSource("test.good@v1", "Good"),
    });
    const preparer = new Preparer({ root: other });
    await preparer.loadAll();
    const report = preparer.write();
    expect(report.problems).toEqual([
      {
        file: "bare/contract.ts",
        message: "bare/package.json has no version (the artifact version of its contracts)",
      },
      {
        file: "one/contract.ts",
        message: "contract 'test.same@v1' is also defined by two/contract.ts; a contract id must be unique",
      },
      {
        file: "two/contract.ts",
        message: "contract 'test.same@v1' is also defined by one/contract.ts; a contract id must be unique",
      },
    ]);
    expect(report.contracts.map((contract) => contract.id)).toEqual(["test.good@v1"]);
  }, 60_000);
});
