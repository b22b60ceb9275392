/**
 * Temporary workspaces for codegen tests: files written under a fresh folder whose `node_modules`
 * is a link to the repository's, so contract sources resolve `zod` and the `@trellis/*` packages.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

const created: string[] = [];

/** Writes `files` (path → content) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** A new workspace holding `files`, with `node_modules` linked to the repository's unless asked not to. */
export function createWorkspace(files: Record<string, string>, options = { linkNodeModules: true }): string {
  const dir = mkdtempSync(join(tmpdir(), "trellis-codegen-"));
  created.push(dir);
  if (options.linkNodeModules) symlinkSync(join(REPO_ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  writeFiles(dir, files);
  return dir;
}

/** Removes every workspace created so far. */
export function removeWorkspaces(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Every file under `dir/sub` (not following `node_modules`), path → content, sorted by path. */
export function snapshot(dir: string, sub = "generated"): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else out[relative(dir, path)] = readFileSync(path, "utf8");
    }
  };
  walk(join(dir, sub));
  return out;
}

/** A package.json. */
export function packageJson(name: string, version = "1.2.3", extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ name, version, type: "module", ...extra })}\n`;
}

/** A service contract source with one RPC and one event (`<Prefix>.Get`, `<Prefix>.Changed`). */
export function serviceSource(id: string, prefix: string, extra = ""): string {
  return `import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";
${extra}
export default defineServiceContract(
  { schemas: { Key: z.object({ key: z.string() }), Value: z.object({ value: z.number().nullable() }) } },
  (ref) => ({
    id: "${id}",
    displayName: "${prefix}",
    description: "Test service ${prefix}.",
    capabilities: { read: { displayName: "Read ${prefix}", description: "Read it.", consequence: "You see it." } },
    rpc: {
      "${prefix}.Get": { version: "v1", input: ref.schema("Key"), output: ref.schema("Value"), capabilities: { call: ["read"] } },
    },
    events: { "${prefix}.Changed": { version: "v1", event: ref.schema("Key"), capabilities: { subscribe: ["read"] } } },
  }),
);
`;
}
