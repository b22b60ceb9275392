/**
 * The local files a contract source imports, directly or not: relative imports followed through
 * TypeScript's import scanner. Imports of packages are not followed; their sources reach a
 * contract through their build output, and `package.json` changes trigger a full prepare anyway.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ts } from "ts-morph";

const JS_TO_TS: Record<string, string[]> = {
  ".js": [".ts", ".tsx", ".js"],
  ".jsx": [".tsx", ".jsx"],
  ".mjs": [".mts", ".mjs"],
  ".cjs": [".cts", ".cjs"],
};

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/** Resolves a relative specifier to a file, as TypeScript's NodeNext and bundler resolutions would. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const base = resolve(dirname(from), specifier);
  const extension = Object.keys(JS_TO_TS).find((ext) => specifier.endsWith(ext));
  const candidates = extension
    ? (JS_TO_TS[extension] ?? []).map((ext) => base.slice(0, -extension.length) + ext)
    : [base, `${base}.ts`, `${base}.tsx`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`];
  return candidates.find(isFile);
}

/** Every local file `entry` imports (transitively), `entry` included, sorted. */
export function localImportClosure(entry: string): string[] {
  const seen = new Set<string>();
  const pending = [resolve(entry)];
  while (pending.length > 0) {
    const file = pending.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const imported of ts.preProcessFile(text, true, true).importedFiles) {
      if (!imported.fileName.startsWith(".")) continue;
      const target = resolveRelative(file, imported.fileName);
      if (target && !target.includes("/node_modules/")) pending.push(target);
    }
  }
  return [...seen].sort();
}
