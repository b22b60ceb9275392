/**
 * Discovery (contracts spec §12 step 1): every package folder (one with a `package.json`) under a
 * root that holds contract sources, in one of three layouts:
 * - single: `contract.ts` or `contract.js`, at the package root or in `src/`;
 * - several: one contract per file in `contracts/*.ts` (or `src/contracts/*.ts`);
 * - declared: `package.json` lists its sources in `trellis.contracts` (for packages whose files
 *   fit neither layout, such as the Trellis-owned contracts).
 * Folders that never hold sources (`node_modules`, `dist`, `generated`, dot folders, …) are skipped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";

/** Folder names discovery never enters (dot folders are skipped too). */
export const SKIPPED_FOLDERS: ReadonlySet<string> = new Set([
  "node_modules",
  "dist",
  "build",
  "generated",
  "target",
  "coverage",
]);

/** How a package lays out its contract sources. */
export type ContractLayout = "single" | "several" | "declared";

/** A package with contract sources. */
export interface ContractPackage {
  /** Absolute path of the package folder. */
  dir: string;
  /** `name` from its `package.json`, when present. */
  name?: string;
  /** `version` from its `package.json`, when present. */
  version?: string;
  /** The layout its sources follow. */
  layout: ContractLayout;
  /** Absolute paths of its contract source files, sorted. */
  sources: string[];
}

/** A package whose layout cannot be used. */
export interface DiscoveryProblem {
  /** Absolute path of the package folder. */
  dir: string;
  /** What is wrong and what to do. */
  message: string;
}

/** What {@link discoverContracts} found. */
export interface Discovery {
  /** Packages with contract sources, sorted by folder. */
  packages: ContractPackage[];
  /** Packages whose layout is ambiguous or broken, sorted by folder. */
  problems: DiscoveryProblem[];
}

interface PackageJson {
  name?: unknown;
  version?: unknown;
  trellis?: { contracts?: unknown };
}

function isSourceFile(name: string): boolean {
  return name.endsWith(".ts") && !/\.(d|test|spec)\.ts$/.test(name);
}

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/** `<dir>/contracts/*.ts`, unless that folder is a package of its own. */
function severalSources(dir: string): string[] {
  const folder = join(dir, "contracts");
  if (!existsSync(folder) || !statSync(folder).isDirectory() || existsSync(join(folder, "package.json")))
    return [];
  return readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.isFile() && isSourceFile(entry.name))
    .map((entry) => join(folder, entry.name));
}

function byPath(a: { dir: string }, b: { dir: string }): number {
  return a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0;
}

/** Reads the layout of one package folder. */
function inspectPackage(dir: string, root: string): ContractPackage | DiscoveryProblem | undefined {
  const where = relative(root, dir) || ".";
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as PackageJson;
  } catch (error) {
    return { dir, message: `${where}/package.json cannot be read: ${(error as Error).message}` };
  }
  const identity = {
    dir,
    ...(typeof pkg.name === "string" && { name: pkg.name }),
    ...(typeof pkg.version === "string" && { version: pkg.version }),
  };
  const singles = ["contract.ts", "contract.js", "src/contract.ts", "src/contract.js"].filter((file) =>
    isFile(join(dir, file)),
  );
  const severalRoots = [".", "src"].filter((base) => severalSources(join(dir, base)).length > 0);
  const declared = pkg.trellis?.contracts;
  const found = [
    ...singles,
    ...severalRoots.map((base) => (base === "." ? "contracts/" : `${base}/contracts/`)),
  ];

  if (declared !== undefined) {
    if (!Array.isArray(declared) || declared.some((file) => typeof file !== "string")) {
      return { dir, message: `${where}/package.json: trellis.contracts must be a list of file paths` };
    }
    if (found.length > 0) {
      return {
        dir,
        message: `${where} lists trellis.contracts in package.json and also has ${found.join(" and ")}; choose one layout`,
      };
    }
    const files = [...new Set((declared as string[]).map((file) => resolve(dir, file)))].sort();
    const missing = files.filter((file) => !isFile(file));
    if (missing.length > 0) {
      return {
        dir,
        message: `${where}/package.json: trellis.contracts lists missing files: ${missing.map((file) => relative(root, file)).join(", ")}`,
      };
    }
    return { ...identity, layout: "declared", sources: files };
  }
  if (singles.length > 0 && severalRoots.length > 0) {
    return {
      dir,
      message: `${where} has both ${found.join(" and ")}; choose one layout: a single contract.ts, or one file per contract under contracts/`,
    };
  }
  if (singles.length > 1) {
    return { dir, message: `${where} has ${singles.join(" and ")}; keep only one of them` };
  }
  if (severalRoots.length > 1) {
    return { dir, message: `${where} has both contracts/ and src/contracts/; keep only one of them` };
  }
  const [single] = singles;
  if (single) return { ...identity, layout: "single", sources: [join(dir, single)] };
  const [base] = severalRoots;
  if (base) return { ...identity, layout: "several", sources: severalSources(join(dir, base)).sort() };
  return undefined;
}

/** Walks `root` and returns every package with contract sources, and every package with a broken layout. */
export function discoverContracts(root: string): Discovery {
  const absoluteRoot = resolve(root);
  const packages: ContractPackage[] = [];
  const problems: DiscoveryProblem[] = [];
  const walk = (dir: string) => {
    if (existsSync(join(dir, "package.json"))) {
      const found = inspectPackage(dir, absoluteRoot);
      if (found && "message" in found) problems.push(found);
      else if (found) packages.push(found);
    }
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith(".") || SKIPPED_FOLDERS.has(entry.name)) continue;
      walk(join(dir, entry.name));
    }
  };
  walk(absoluteRoot);
  return { packages: packages.sort(byPath), problems: problems.sort(byPath) };
}
