/**
 * `trellis generate manifest|sdk`: one artifact from one contract, given as a source module or a
 * manifest file. Dependencies of an SDK resolve to `@trellis/builtin-contracts` or to the SDK
 * package names of their ids.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  type ContractManifest,
  canonicalizeJson,
  digestContractManifest,
  validateContractManifest,
} from "@trellis/contracts";
import { BUILTIN_EXPORTS, peerVersions } from "./environment.js";
import { loadContractSources } from "./load.js";
import { DEFAULT_PACKAGE_PREFIX, sdkPackageName } from "./naming.js";
import { type DependencyRef, generateSdkPackage } from "./sdk.js";

/** Where the contract comes from: exactly one of `source` and `manifest`. */
export interface GenerateInput {
  /** A contract source module. */
  source?: string;
  /** A manifest JSON file. */
  manifest?: string;
  /** Bound on loading a source module, in ms. */
  loadTimeoutMs?: number;
}

/** A contract that cannot be read, loaded or validated. */
export class GenerateError extends Error {
  override readonly name = "GenerateError";
}

/** A loaded contract: its manifest, digest, and the file it came from. */
export interface ResolvedContract {
  manifest: ContractManifest;
  digest: string;
  file: string;
}

/** Loads and validates the contract of a `--source` module or `--manifest` file. */
export async function resolveContract(input: GenerateInput): Promise<ResolvedContract> {
  if ((input.source === undefined) === (input.manifest === undefined)) {
    throw new GenerateError("give exactly one of --source and --manifest");
  }
  let raw: unknown;
  let file: string;
  if (input.source !== undefined) {
    file = resolve(input.source);
    if (!existsSync(file)) throw new GenerateError(`${input.source} does not exist`);
    const results = await loadContractSources([file], {
      cwd: dirname(file),
      ...(input.loadTimeoutMs !== undefined && { timeoutMs: input.loadTimeoutMs }),
    });
    const [failed] = results.failed;
    if (failed) throw new GenerateError(`${input.source}: ${failed.message}`);
    raw = results.loaded[0]?.manifest;
  } else {
    file = resolve(input.manifest as string);
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new GenerateError(`${input.manifest} cannot be read as JSON: ${(error as Error).message}`);
    }
  }
  const validated = validateContractManifest(raw);
  if (!validated.ok) {
    const problems = validated.error.problems.map(
      (problem) => `${problem.path || "#"}: ${problem.message} [${problem.rule}]`,
    );
    throw new GenerateError(
      `${input.source ?? input.manifest} is not a valid contract: ${problems.join("; ")}`,
    );
  }
  return { manifest: validated.value, digest: digestContractManifest(validated.value), file };
}

/** The `version` of the nearest `package.json` from a file's folder upwards. */
export function nearestPackageVersion(file: string): string | undefined {
  let dir = dirname(resolve(file));
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { version?: unknown };
      if (typeof pkg.version === "string") return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Writes `content` unless the file already holds it; returns whether it wrote. */
function writeIfChanged(path: string, content: string): boolean {
  if (existsSync(path) && readFileSync(path, "utf8") === content) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return true;
}

/** Writes `<out>/<id>.json` (canonical manifest and a newline); returns its path. */
export function writeManifestArtifact(contract: ResolvedContract, out: string): string {
  const path = join(resolve(out), `${contract.manifest.id}.json`);
  writeIfChanged(path, `${canonicalizeJson(contract.manifest)}\n`);
  return path;
}

/** Options of {@link writeSdkArtifact}. */
export interface SdkArtifactOptions {
  /** The package version; default: the source's nearest `package.json` version. */
  artifactVersion?: string;
  /** The package name; default: prefix + lineage. */
  packageName?: string;
  /** npm scope of SDK package names (default `@trellis-sdk/`). */
  prefix?: string;
}

/** Writes the SDK package of a service or app contract into `out`; returns the package name and files written. */
export function writeSdkArtifact(
  contract: ResolvedContract,
  out: string,
  options: SdkArtifactOptions = {},
): { packageName: string; files: string[] } {
  const { manifest } = contract;
  if (manifest.kind !== "service" && manifest.kind !== "app") {
    throw new GenerateError(
      `${manifest.id} is an ${manifest.kind} contract; only service and app contracts have SDKs`,
    );
  }
  const version = options.artifactVersion ?? nearestPackageVersion(contract.file);
  if (version === undefined) {
    throw new GenerateError(`no package.json with a version above ${contract.file}; pass --artifact-version`);
  }
  const prefix = options.prefix ?? DEFAULT_PACKAGE_PREFIX;
  const packageName = options.packageName ?? sdkPackageName(manifest.id, prefix);
  const resolveDependency = (id: string): DependencyRef => {
    const builtin = BUILTIN_EXPORTS.get(id);
    return builtin
      ? { kind: "builtin", exportName: builtin }
      : { kind: "sdk", packageName: sdkPackageName(id, prefix), version: "*" };
  };
  const files = generateSdkPackage({
    manifest,
    digest: contract.digest,
    version,
    packageName,
    resolveDependency,
    peerVersions: peerVersions(),
  });
  const written: string[] = [];
  for (const [path, content] of files) {
    if (writeIfChanged(join(resolve(out), path), content)) written.push(path);
  }
  return { packageName, files: written };
}
