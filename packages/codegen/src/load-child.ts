/**
 * The contract loader's child process (started by `load.ts` with tsx registered). It imports each
 * source it is sent, picks the contract it exports and sends the manifest back over IPC:
 * `{type: "start", file}`, then `{type: "loaded", file, manifest}` or `{type: "failed", file, message}`,
 * and `{type: "done"}` at the end.
 */
import { pathToFileURL } from "node:url";

/** Messages the child sends. */
export type ChildMessage =
  | { type: "start"; file: string }
  | { type: "loaded"; file: string; manifest: unknown }
  | { type: "failed"; file: string; message: string }
  | { type: "done" };

const FORMAT = "trellis.contract.v1";

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return `threw ${typeof error === "string" ? JSON.stringify(error) : String(error)}`;
}

function isManifest(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as { format?: unknown }).format === FORMAT;
}

/** The manifest a value stands for: a manifest itself, or a contract module's `CONTRACT`. */
function manifestOf(value: unknown): unknown {
  if (isManifest(value)) return value;
  if (typeof value === "object" && value !== null && "CONTRACT" in value) {
    const contract = (value as { CONTRACT: unknown }).CONTRACT;
    if (isManifest(contract)) return contract;
  }
  return undefined;
}

/** Picks the one contract a module exports: its default export, else its only distinct contract. */
function pickContract(exports: Record<string, unknown>): unknown {
  if (exports.default !== undefined) {
    const manifest = manifestOf(exports.default);
    if (manifest === undefined) throw new Error("its default export is not a contract module or manifest");
    return manifest;
  }
  const found = new Map<string, { names: string[]; manifest: unknown }>();
  for (const name of Object.keys(exports).sort()) {
    const manifest = manifestOf(exports[name]);
    if (manifest === undefined) continue;
    const key = JSON.stringify(manifest);
    const entry = found.get(key) ?? { names: [], manifest };
    entry.names.push(name);
    found.set(key, entry);
  }
  const entries = [...found.values()];
  const [only] = entries;
  if (entries.length === 0 || !only) {
    throw new Error(
      "it exports no contract: export the contract module (e.g. `export default defineServiceContract(...)`)",
    );
  }
  if (entries.length > 1) {
    const names = entries.map((entry) => entry.names.join("/")).join(", ");
    throw new Error(
      `it exports several contracts (${names}): export the one to prepare as default, or give each its own file`,
    );
  }
  return only.manifest;
}

let current: string | undefined;

async function crash(error: unknown): Promise<void> {
  if (current !== undefined) await send({ type: "failed", file: current, message: describe(error) });
  process.exit(1);
}

process.on("uncaughtException", crash);
process.on("unhandledRejection", crash);
process.on("disconnect", () => process.exit(1));

process.once("message", async (files: string[]) => {
  for (const file of files) {
    current = file;
    await send({ type: "start", file });
    let message: ChildMessage;
    try {
      const exports = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
      message = { type: "loaded", file, manifest: pickContract(exports) };
    } catch (error) {
      message = { type: "failed", file, message: describe(error) };
    }
    try {
      await send(message);
    } catch (error) {
      await send({ type: "failed", file, message: `its manifest cannot be sent: ${describe(error)}` });
    }
  }
  current = undefined;
  await send({ type: "done" });
  process.exit(0);
});
