/**
 * A generated SDK against its source module: a test project type-checks against the SDK with the
 * repository's `tsc` (types equal the source module's, a misuse fails), and the SDK's JavaScript
 * is a working contract module.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ContractModule } from "@trellis/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepare } from "../src/prepare.js";
import {
  createWorkspace,
  packageJson,
  REPO_ROOT,
  removeWorkspaces,
  writeFiles,
} from "./support/workspace.js";

afterAll(removeWorkspaces);

const RICH = `import { defineError, defineServiceContract } from "@trellis/contracts";
import { z } from "zod";

export const MissingError = defineError({ type: "MissingError", fields: { key: z.string() }, message: "missing" });

const Value = z.object({
  value: z.number().nullable(),
  kind: z.enum(["a", "b"]),
  tags: z.array(z.string()).optional(),
  meta: z.record(z.string(), z.number()),
  pair: z.tuple([z.string(), z.number()]),
  shape: z.union([z.object({ t: z.literal("circle"), r: z.number() }), z.object({ t: z.literal("square") })]),
});

export default defineServiceContract(
  {
    schemas: {
      Key: z.object({ key: z.string().min(1) }),
      Value,
      Progress: z.object({ done: z.number().int() }),
      Signal: z.object({ reason: z.string() }),
      Frame: z.object({ at: z.iso.datetime(), value: Value }),
      Job: z.object({ size: z.number() }),
      JobResult: z.object({ ok: z.boolean() }),
    },
    errors: { MissingError },
  },
  (ref) => ({
    id: "test.rich@v1",
    displayName: "Rich",
    description: "Every surface kind.",
    exports: { schemas: ["Value"] },
    rpc: {
      "Rich.Get": {
        version: "v1",
        input: ref.schema("Key"),
        output: ref.schema("Value"),
        errors: [ref.error("MissingError"), ref.error("ValidationError")],
      },
    },
    operations: {
      "Rich.Run": {
        version: "v1",
        input: ref.schema("Key"),
        progress: ref.schema("Progress"),
        output: ref.schema("Value"),
        signals: { Pause: { input: ref.schema("Signal") } },
        cancel: true,
      },
    },
    events: { "Rich.Changed": { version: "v1", event: ref.schema("Frame") } },
    feeds: { "Rich.Live": { version: "v1", input: ref.schema("Key"), event: ref.schema("Frame") } },
    jobs: { resize: { payload: ref.schema("Job"), result: ref.schema("JobResult") } },
  }),
);
`;

/** Type-checks; every type here must hold. */
const GOOD = `import {
  type ContractJobs,
  defineAgentContract,
  type EventPayload,
  type FeedEvent,
  type FeedInput,
  type OperationInput,
  type OperationOutput,
  type OperationProgress,
  type OperationSignals,
  type RpcErrorType,
  type RpcInput,
  type RpcOutput,
} from "@trellis/contracts";
import type { TrellisClientFacade } from "@trellis/runtime";
import sdk, * as namespace from "@trellis-sdk/test-rich";
import { CONTRACT_ID, MissingError, type RichGetInput, type Value, use } from "@trellis-sdk/test-rich";
import source from "./rich/contract.js";

type IsAny<T> = 0 extends 1 & T ? true : false;
type Same<A, B> = IsAny<A> extends true ? false : [A] extends [B] ? ([B] extends [A] ? true : false) : false;
function holds<T extends true>(): T | undefined {
  return undefined;
}

holds<Same<RpcInput<typeof sdk, "Rich.Get">, RpcInput<typeof source, "Rich.Get">>>();
holds<Same<RpcOutput<typeof sdk, "Rich.Get">, RpcOutput<typeof source, "Rich.Get">>>();
holds<Same<RpcErrorType<typeof sdk, "Rich.Get">, RpcErrorType<typeof source, "Rich.Get">>>();
holds<Same<OperationInput<typeof sdk, "Rich.Run">, OperationInput<typeof source, "Rich.Run">>>();
holds<Same<OperationProgress<typeof sdk, "Rich.Run">, OperationProgress<typeof source, "Rich.Run">>>();
holds<Same<OperationOutput<typeof sdk, "Rich.Run">, OperationOutput<typeof source, "Rich.Run">>>();
holds<Same<OperationSignals<typeof sdk, "Rich.Run">, OperationSignals<typeof source, "Rich.Run">>>();
holds<Same<EventPayload<typeof sdk, "Rich.Changed">, EventPayload<typeof source, "Rich.Changed">>>();
holds<Same<FeedInput<typeof sdk, "Rich.Live">, FeedInput<typeof source, "Rich.Live">>>();
holds<Same<FeedEvent<typeof sdk, "Rich.Live">, FeedEvent<typeof source, "Rich.Live">>>();
holds<Same<ContractJobs<typeof sdk>, ContractJobs<typeof source>>>();
holds<Same<RpcInput<typeof namespace, "Rich.Get">, RichGetInput>>();
holds<Same<Value, RpcOutput<typeof source, "Rich.Get">>>();
holds<Same<typeof CONTRACT_ID, "test.rich@v1">>();

type SdkFacade = TrellisClientFacade<typeof sdk>;
type SourceFacade = TrellisClientFacade<typeof source>;
holds<Same<SdkFacade["rpc"], SourceFacade["rpc"]>>();
holds<Same<SdkFacade["operation"], SourceFacade["operation"]>>();
holds<Same<SdkFacade["feed"], SourceFacade["feed"]>>();

const selection = { rpc: { call: ["Rich.Get"] }, operations: { call: ["Rich.Run"] }, events: { subscribe: ["Rich.Changed"] }, feeds: { subscribe: ["Rich.Live"] } } as const;
const viaSdk = defineAgentContract({}, () => ({
  id: "test.agent@v1",
  displayName: "Agent",
  description: "Uses rich.",
  uses: { required: { rich: use(selection) } },
}));
const viaSource = defineAgentContract({}, () => ({
  id: "test.agent@v1",
  displayName: "Agent",
  description: "Uses rich.",
  uses: { required: { rich: source.use(selection) } },
}));
holds<Same<TrellisClientFacade<typeof viaSdk>, TrellisClientFacade<typeof viaSource>>>();

const error = new MissingError({ key: "k" });
export const key: string = error.data.key;
export const input: RpcInput<typeof sdk, "Rich.Get"> = { key: "a" };
`;

/** Each line marked MISUSE must fail to type-check. */
const BAD = `import sdk, { MissingError, use } from "@trellis-sdk/test-rich";
import type { EventPayload, RpcInput, RpcOutput } from "@trellis/contracts";

use({ rpc: { call: ["Rich.Nope"] } }); // MISUSE
export const input: RpcInput<typeof sdk, "Rich.Get"> = { key: 1 }; // MISUSE
export const output: RpcOutput<typeof sdk, "Rich.Get"> = { value: 1, kind: "c", meta: {}, pair: ["a", 1], shape: { t: "square" } }; // MISUSE
export const error = new MissingError({ other: "k" }); // MISUSE
export const frame: EventPayload<typeof sdk, "Rich.Changed"> = { at: "now" }; // MISUSE
export const missing: RpcInput<typeof sdk, "Rich.Put"> = { key: "a" }; // MISUSE
`;

/** A real `node_modules` folder: links to every installed package, plus the generated SDK. */
function linkNodeModules(dir: string): void {
  const target = join(dir, "node_modules");
  mkdirSync(join(target, "@trellis-sdk"), { recursive: true });
  for (const name of readdirSync(join(REPO_ROOT, "node_modules"))) {
    if (name === ".bin" || name === "@trellis-sdk") continue;
    symlinkSync(join(REPO_ROOT, "node_modules", name), join(target, name), "dir");
  }
  symlinkSync(join(dir, "generated/packages/npm/test-rich"), join(target, "@trellis-sdk/test-rich"), "dir");
}

describe("generated SDK", () => {
  let dir: string;

  beforeAll(async () => {
    dir = createWorkspace({}, { linkNodeModules: false });
    linkNodeModules(dir);
    writeFiles(dir, {
      "package.json": packageJson("consumer"),
      "rich/package.json": packageJson("rich", "3.0.0"),
      "rich/contract.ts": RICH,
      "good.ts": GOOD,
      "bad.ts": BAD,
      "tsconfig.json": `${JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ["node"],
        },
        files: ["good.ts", "bad.ts", "generated/packages/npm/test-rich/esm/mod.d.ts"],
      })}\n`,
    });
    const report = await prepare({ root: dir });
    expect(report.problems).toEqual([]);
  }, 60_000);

  it("type-checks a project against it with the types of the source module, and refuses misuse", () => {
    const tsc = spawnSync(process.execPath, [join(REPO_ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
    });
    const errors = tsc.stdout.split("\n").filter((line) => line.includes("error TS"));
    const misuses = BAD.split("\n").flatMap((line, index) => (line.includes("// MISUSE") ? [index + 1] : []));
    const lines = [
      ...new Set(
        errors
          .map((line) => line.match(/^bad\.ts\((\d+),/)?.[1])
          .filter(Boolean)
          .map(Number),
      ),
    ];
    expect(errors.filter((line) => !line.startsWith("bad.ts("))).toEqual([]);
    expect(lines).toEqual(misuses);
    expect(tsc.status).not.toBe(0);
  }, 120_000);

  it("is a working contract module, interchangeable with the source", async () => {
    const url = (path: string) => pathToFileURL(join(dir, path)).href;
    const sdk = (await import(url("generated/packages/npm/test-rich/esm/mod.js"))) as ContractModule & {
      default: ContractModule;
      MissingError: { fromSerializable(payload: unknown): Error & { data: unknown } };
    };
    const source = ((await import(url("rich/contract.ts"))) as { default: ContractModule }).default;
    expect(sdk.CONTRACT_DIGEST).toBe(source.CONTRACT_DIGEST);
    expect(sdk.default.CONTRACT_DIGEST).toBe(source.CONTRACT_DIGEST);
    expect(sdk.CONTRACT).toEqual(source.CONTRACT);
    const { runtimeErrors, ...get } = sdk.API.owned.rpc["Rich.Get"] as (typeof sdk.API.owned.rpc)[string];
    const { runtimeErrors: _, ...sourceGet } = source.API.owned.rpc[
      "Rich.Get"
    ] as (typeof source.API.owned.rpc)[string];
    expect(get).toEqual(sourceGet);
    expect(runtimeErrors.MissingError).toBe(sdk.MissingError);
    expect(sdk.API.owned.operations).toEqual(source.API.owned.operations);
    expect(sdk.API.used.events).toHaveProperty("Health.Heartbeat");
    expect(() => sdk.use({ rpc: { call: ["Rich.Nope"] } } as never)).toThrow(
      "Contract 'test.rich@v1' does not expose rpc key 'Rich.Nope'",
    );
    const decoded = sdk.MissingError.fromSerializable({
      id: "1",
      type: "MissingError",
      message: "missing",
      key: "k",
    });
    expect(decoded.data).toEqual({ key: "k" });
  });
});
