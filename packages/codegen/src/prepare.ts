/**
 * `trellis prepare` (contracts spec §12): discover contract sources, load them, and write their
 * artifacts under `<out>/generated/`:
 * - `contracts/manifests/<id>.json`: the canonical manifest and a newline;
 * - `contracts/manifests/<id>.trellis-generate.json`: digest, artifact version, generator fingerprint;
 * - `contracts/scopes/<id>.json`: the auth scope summary;
 * - `packages/npm/<stem>/`: the SDK package of service and app contracts (not the Trellis-owned ones,
 *   whose modules `@trellis/builtin-contracts` provides).
 * Files are written only when their content changes; outputs depend on the sources alone, never on
 * the order of discovery or the machine.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import {
  type ContractManifest,
  canonicalizeJson,
  digestContractManifest,
  validateContractManifest,
} from "@trellis/contracts";
import { type ContractPackage, discoverContracts } from "./discover.js";
import { BUILTIN_EXPORTS, BUILTIN_MANIFESTS, GENERATOR_FINGERPRINT, peerVersions } from "./environment.js";
import { formatJson } from "./json-format.js";
import { loadContractSources } from "./load.js";
import { DEFAULT_PACKAGE_PREFIX, sdkPackageName, sdkStem } from "./naming.js";
import { scopeSummary } from "./scopes.js";
import { type DependencyRef, generateSdkPackage } from "./sdk.js";

/** Folders under the output root that prepare owns: files there that it did not write are stale. */
export const MANAGED_FOLDERS = [
  "generated/contracts/manifests",
  "generated/contracts/scopes",
  "generated/packages/npm",
] as const;

/** Options of a {@link Preparer}. */
export interface PrepareOptions {
  /** Folder to discover contracts in. */
  root: string;
  /** Output root (`generated/` goes there); default: the nearest folder up from `root` with `.git`. */
  out?: string;
  /** Bound on loading one contract module, in ms. */
  loadTimeoutMs?: number;
  /** npm scope of SDK packages (default `@trellis-sdk/`). */
  packagePrefix?: string;
}

/** Something prepare could not do, with the file it concerns (relative to the output root). */
export interface PrepareProblem {
  file: string;
  message: string;
}

/** A contract prepare knows. */
export interface PreparedContract {
  /** Absolute path of its source. */
  file: string;
  id: string;
  digest: string;
  kind: ContractManifest["kind"];
  /** Its SDK package name, when it has one. */
  packageName?: string;
}

/** What one run wrote (paths relative to the output root, sorted). */
export interface WriteReport {
  written: string[];
  removed: string[];
  unchanged: number;
  problems: PrepareProblem[];
  contracts: PreparedContract[];
}

/** What `--check` found: files to write or remove (relative to the output root, sorted). */
export interface CheckReport {
  stale: string[];
  problems: PrepareProblem[];
  contracts: PreparedContract[];
}

interface Entry {
  file: string;
  pkg: ContractPackage;
  manifest?: ContractManifest;
  digest?: string;
  problem?: string;
  /** Outputs of the last render (relative paths). */
  outputs: string[];
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The nearest folder from `start` upwards that has `.git`, else `start`. */
export function findOutputRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, ".git"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return resolve(start);
    dir = parent;
  }
}

function posix(path: string): string {
  return path.split(sep).join("/");
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === "node_modules") return [];
    const path = join(dir, entry.name);
    return entry.isDirectory() ? listFiles(path) : [path];
  });
}

function removeEmptyFolders(dir: string, stop: string): void {
  let current = dir;
  while (current.startsWith(stop) && current !== stop && existsSync(current)) {
    if (readdirSync(current).length > 0) return;
    rmdirSync(current);
    current = dirname(current);
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Prepares the contracts under a root. `loadAll` discovers and loads every source; `reload` loads
 * some again (watch mode). `write` and `check` render the artifacts of what is loaded.
 */
export class Preparer {
  /** The output root. */
  readonly out: string;
  /** The discovery root. */
  readonly root: string;
  private entries = new Map<string, Entry>();
  private discoveryProblems: PrepareProblem[] = [];
  private readonly peers = peerVersions();

  constructor(private readonly options: PrepareOptions) {
    this.root = resolve(options.root);
    this.out = resolve(options.out ?? findOutputRoot(this.root));
  }

  /** Every source file known from the last discovery, sorted. */
  get sources(): string[] {
    return [...this.entries.keys()].sort(compare);
  }

  /** The ids of the contracts `files` define now. */
  idsOf(files: Iterable<string>): Set<string> {
    const ids = new Set<string>();
    for (const file of files) {
      const id = this.entries.get(file)?.manifest?.id;
      if (id) ids.add(id);
    }
    return ids;
  }

  /** The sources whose contracts use one of `ids` (their scope summaries derive from them). */
  dependentsOf(ids: ReadonlySet<string>): string[] {
    return this.sources.filter((file) => {
      const manifest = this.entries.get(file)?.manifest;
      const uses = { ...manifest?.uses?.optional, ...manifest?.uses?.required };
      return Object.values(uses).some((use) => ids.has(use.contract));
    });
  }

  private rel(path: string): string {
    return posix(relative(this.out, path));
  }

  /** Discovers the sources under the root again and loads all of them. */
  async loadAll(signal?: AbortSignal): Promise<void> {
    const discovery = discoverContracts(this.root);
    this.discoveryProblems = discovery.problems.map((problem) => ({
      file: this.rel(problem.dir) || ".",
      message: problem.message,
    }));
    const previous = this.entries;
    this.entries = new Map();
    for (const pkg of discovery.packages) {
      for (const file of pkg.sources) {
        this.entries.set(file, { file, pkg, outputs: previous.get(file)?.outputs ?? [] });
      }
    }
    await this.load(this.sources, signal);
  }

  /** Loads known sources again (after they changed); unknown files are ignored. */
  async reload(files: Iterable<string>, signal?: AbortSignal): Promise<void> {
    await this.load([...new Set(files)].filter((file) => this.entries.has(file)).sort(compare), signal);
  }

  private async load(files: string[], signal?: AbortSignal): Promise<void> {
    if (files.length === 0) return;
    const results = await loadContractSources(files, {
      cwd: this.root,
      ...(this.options.loadTimeoutMs !== undefined && { timeoutMs: this.options.loadTimeoutMs }),
      ...(signal && { signal }),
    });
    for (const failed of results.failed) {
      const entry = this.entries.get(failed.file);
      if (entry)
        this.entries.set(failed.file, {
          file: entry.file,
          pkg: entry.pkg,
          outputs: entry.outputs,
          problem: failed.message,
        });
    }
    for (const loaded of results.loaded) {
      const entry = this.entries.get(loaded.file);
      if (!entry) continue;
      const base = { file: entry.file, pkg: entry.pkg, outputs: entry.outputs };
      const validated = validateContractManifest(loaded.manifest);
      if (!validated.ok) {
        const problems = validated.error.problems.map(
          (problem) => `${problem.path || "#"}: ${problem.message} [${problem.rule}]`,
        );
        this.entries.set(loaded.file, {
          ...base,
          problem: `its contract is invalid: ${problems.join("; ")}`,
        });
        continue;
      }
      const manifest = validated.value;
      this.entries.set(loaded.file, { ...base, manifest, digest: digestContractManifest(manifest) });
    }
  }

  /** Known contracts with their problems resolved: duplicates and missing versions are problems. */
  private plan(): { ready: Entry[]; problems: PrepareProblem[] } {
    const problems: PrepareProblem[] = [...this.discoveryProblems];
    const entries = [...this.entries.values()].sort((a, b) => compare(a.file, b.file));
    const byId = new Map<string, Entry[]>();
    const byPackage = new Map<string, Entry[]>();
    for (const entry of entries) {
      if (entry.problem || !entry.manifest) {
        problems.push({ file: this.rel(entry.file), message: entry.problem ?? "it was not loaded" });
        continue;
      }
      byId.set(entry.manifest.id, [...(byId.get(entry.manifest.id) ?? []), entry]);
      const name = this.packageName(entry.manifest);
      if (name) byPackage.set(name, [...(byPackage.get(name) ?? []), entry]);
    }
    const excluded = new Set<Entry>();
    for (const [id, group] of byId) {
      if (group.length < 2) continue;
      for (const entry of group) {
        excluded.add(entry);
        const others = group.filter((other) => other !== entry).map((other) => this.rel(other.file));
        problems.push({
          file: this.rel(entry.file),
          message: `contract '${id}' is also defined by ${others.join(", ")}; a contract id must be unique`,
        });
      }
    }
    for (const [name, group] of byPackage) {
      const ids = new Set(group.map((entry) => entry.manifest?.id));
      if (ids.size < 2) continue;
      for (const entry of group) {
        excluded.add(entry);
        problems.push({
          file: this.rel(entry.file),
          message: `contracts ${[...ids].sort().join(" and ")} would share the SDK package ${name}; keep one version of a lineage per repository`,
        });
      }
    }
    const ready: Entry[] = [];
    for (const entry of entries) {
      if (!entry.manifest || entry.problem || excluded.has(entry)) continue;
      if (!entry.pkg.version) {
        problems.push({
          file: this.rel(entry.file),
          message: `${this.rel(join(entry.pkg.dir, "package.json"))} has no version (the artifact version of its contracts)`,
        });
        continue;
      }
      ready.push(entry);
    }
    problems.sort((a, b) => compare(a.file, b.file) || compare(a.message, b.message));
    return { ready, problems };
  }

  private packageName(manifest: ContractManifest): string | undefined {
    const hasSdk =
      (manifest.kind === "service" || manifest.kind === "app") && !BUILTIN_EXPORTS.has(manifest.id);
    return hasSdk
      ? sdkPackageName(manifest.id, this.options.packagePrefix ?? DEFAULT_PACKAGE_PREFIX)
      : undefined;
  }

  /** Renders the artifacts of `targets`; `ready` are all the contracts they may depend on. */
  private render(ready: Entry[], targets: Entry[] = ready): Map<string, Map<string, string>> {
    const byId = new Map(ready.map((entry) => [entry.manifest?.id as string, entry]));
    const resolveContract = (id: string) => byId.get(id)?.manifest ?? BUILTIN_MANIFESTS.get(id);
    const resolveDependency = (id: string): DependencyRef => {
      const builtin = BUILTIN_EXPORTS.get(id);
      if (builtin) return { kind: "builtin", exportName: builtin };
      const entry = byId.get(id);
      const name = entry?.manifest && this.packageName(entry.manifest);
      return {
        kind: "sdk",
        packageName: name ?? sdkPackageName(id, this.options.packagePrefix ?? DEFAULT_PACKAGE_PREFIX),
        version: entry?.pkg.version ?? "*",
      };
    };
    const outputs = new Map<string, Map<string, string>>();
    for (const entry of targets) {
      const manifest = entry.manifest as ContractManifest;
      const digest = entry.digest as string;
      const files = new Map<string, string>();
      const packageName = this.packageName(manifest);
      const manifests = `generated/contracts/manifests/${manifest.id}`;
      files.set(`${manifests}.json`, `${canonicalizeJson(manifest)}\n`);
      const metadata = {
        schema_version: 1,
        contract_id: manifest.id,
        contract_digest: digest,
        artifact_version: entry.pkg.version,
        source: this.rel(entry.file),
        has_npm_package: packageName !== undefined,
        ...(packageName && { package_name: packageName }),
        generator_fingerprint: GENERATOR_FINGERPRINT,
      };
      files.set(`${manifests}.trellis-generate.json`, `${JSON.stringify(metadata, null, 2)}\n`);
      files.set(
        `generated/contracts/scopes/${manifest.id}.json`,
        formatJson(scopeSummary(manifest, digest, resolveContract)),
      );
      if (packageName) {
        const sdk = generateSdkPackage({
          manifest,
          digest,
          version: entry.pkg.version as string,
          packageName,
          resolveDependency,
          peerVersions: this.peers,
        });
        const folder = `generated/packages/npm/${sdkStem(manifest.id)}`;
        for (const [path, content] of sdk) files.set(`${folder}/${path}`, content);
      }
      outputs.set(entry.file, files);
    }
    return outputs;
  }

  private contracts(ready: Entry[]): PreparedContract[] {
    return ready.map((entry) => {
      const manifest = entry.manifest as ContractManifest;
      const packageName = this.packageName(manifest);
      return {
        file: entry.file,
        id: manifest.id,
        digest: entry.digest as string,
        kind: manifest.kind,
        ...(packageName && { packageName }),
      };
    });
  }

  /**
   * Writes the artifacts of every loaded contract, or of `only` (source files) and no others.
   * Files in the managed folders that no contract produces are removed, but only by a full write
   * without problems (a broken source keeps its last artifacts); a partial write removes only
   * what the rewritten contracts no longer produce.
   */
  write(only?: ReadonlySet<string>): WriteReport {
    const { ready, problems } = this.plan();
    const targets = only ? ready.filter((entry) => only.has(entry.file)) : ready;
    const rendered = this.render(ready, targets);
    const report: WriteReport = {
      written: [],
      removed: [],
      unchanged: 0,
      problems,
      contracts: this.contracts(ready),
    };
    const produced = new Set<string>();
    for (const [file, files] of rendered) {
      const entry = this.entries.get(file) as Entry;
      for (const [path, content] of files) {
        produced.add(path);
        const absolute = join(this.out, path);
        if (readText(absolute) === content) {
          report.unchanged++;
          continue;
        }
        mkdirSync(dirname(absolute), { recursive: true });
        const temporary = `${absolute}.${process.pid}.tmp`;
        writeFileSync(temporary, content);
        renameSync(temporary, absolute);
        report.written.push(path);
      }
      for (const old of entry.outputs) {
        if (!files.has(old)) this.remove(old, report);
      }
      entry.outputs = [...files.keys()];
    }
    if (!only && problems.length === 0) {
      for (const path of this.managedFiles()) {
        if (!produced.has(path)) this.remove(path, report);
      }
    }
    report.written.sort(compare);
    report.removed.sort(compare);
    return report;
  }

  private remove(path: string, report: WriteReport): void {
    const absolute = join(this.out, path);
    if (!existsSync(absolute)) return;
    rmSync(absolute);
    removeEmptyFolders(dirname(absolute), join(this.out, "generated"));
    report.removed.push(path);
  }

  private managedFiles(): string[] {
    return MANAGED_FOLDERS.flatMap((folder) => listFiles(join(this.out, folder))).map((file) =>
      this.rel(file),
    );
  }

  /** Lists the files a full write would create, change or remove, without writing anything. */
  check(): CheckReport {
    const { ready, problems } = this.plan();
    const stale = new Set<string>();
    const produced = new Set<string>();
    for (const files of this.render(ready).values()) {
      for (const [path, content] of files) {
        produced.add(path);
        if (readText(join(this.out, path)) !== content) stale.add(path);
      }
    }
    if (problems.length === 0) {
      for (const path of this.managedFiles()) if (!produced.has(path)) stale.add(path);
    }
    return { stale: [...stale].sort(compare), problems, contracts: this.contracts(ready) };
  }
}

/** Runs a full prepare once: discover, load, write. */
export async function prepare(options: PrepareOptions, signal?: AbortSignal): Promise<WriteReport> {
  const preparer = new Preparer(options);
  await preparer.loadAll(signal);
  return preparer.write();
}

/** Runs a full prepare in check mode: nothing is written. */
export async function checkPrepared(options: PrepareOptions, signal?: AbortSignal): Promise<CheckReport> {
  const preparer = new Preparer(options);
  await preparer.loadAll(signal);
  return preparer.check();
}
