/**
 * What generated files depend on besides the contracts: the generator's fingerprint, the versions
 * of the packages SDKs peer-depend on, and where the Trellis-owned contracts come from.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import * as builtins from "@trellis/builtin-contracts";
import { type ContractManifest, sha256Base64Url } from "@trellis/contracts";
import { ts } from "ts-morph";

/** Bumped whenever the shape of generated output changes. */
export const GENERATOR_VERSION = 1;

/**
 * Identifies the generator: its output format version and the TypeScript that compiles SDKs. The
 * same on every machine for the same code, so `--check` can tell a stale output from a fresh one.
 */
export const GENERATOR_FINGERPRINT: string = sha256Base64Url(
  `trellis-codegen/${GENERATOR_VERSION}/typescript-${ts.version}`,
).slice(0, 16);

/** The version of an installed package, from the `package.json` Node's resolution finds first. */
function installedVersion(name: string): string {
  for (const folder of createRequire(import.meta.url).resolve.paths(name) ?? []) {
    const file = join(folder, name, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { version?: string };
    if (pkg.version) return pkg.version;
  }
  throw new Error(`cannot find the version of ${name}`);
}

/** Peer dependency ranges of generated SDKs. */
export function peerVersions(): { contracts: string; builtins: string } {
  return {
    contracts: `^${installedVersion("@trellis/contracts")}`,
    builtins: `^${installedVersion("@trellis/builtin-contracts")}`,
  };
}

/** Export names of the Trellis-owned contract modules in `@trellis/builtin-contracts`, by contract id. */
export const BUILTIN_EXPORTS: ReadonlyMap<string, string> = (() => {
  const names = new Map<string, string>();
  for (const [name, value] of Object.entries(builtins).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (typeof value !== "object" || value === null || !("CONTRACT_ID" in value)) continue;
    const id = (value as { CONTRACT_ID: unknown }).CONTRACT_ID;
    if (typeof id === "string" && !names.has(id)) names.set(id, name);
  }
  return names;
})();

/** Manifests of the Trellis-owned contracts, by id. */
export const BUILTIN_MANIFESTS: ReadonlyMap<string, ContractManifest> = new Map(
  builtins.BUILTIN_CONTRACTS.map((module) => [module.CONTRACT_ID, module.CONTRACT]),
);
