/** The CLI's own name and version, read from its package.json when the CLI runs. */
import { readFileSync } from "node:fs";

/** Name and version of the `@trellis/cli` package. */
export interface PackageInfo {
  name: string;
  version: string;
}

let cached: PackageInfo | undefined;

/**
 * Reads `package.json` next to `src/` or `dist/` (this module lives one level below the package
 * root in both), so the version printed is the one of the installed package.
 */
export function readPackageInfo(): PackageInfo {
  if (cached) return cached;
  const url = new URL("../package.json", import.meta.url);
  const data: unknown = JSON.parse(readFileSync(url, "utf8"));
  const { name, version } = (typeof data === "object" && data !== null ? data : {}) as Record<
    string,
    unknown
  >;
  if (typeof name !== "string" || typeof version !== "string") {
    throw new Error(`${url.pathname} has no name or version`);
  }
  cached = { name, version };
  return cached;
}
