/**
 * `trellis prepare` benchmark: a full prepare of this repository and of a synthetic workspace of 50
 * contracts (cold into an empty output, then again with nothing to write, then `--check`), and the
 * watch latency from saving a contract source to its regenerated files.
 *
 * Run from the repository root: `npm run bench:prepare`
 * (= `tsx --tsconfig tools/bench/tsconfig.json tools/bench/prepare.ts`). Contract modules load from
 * the packages' `dist/` (as `trellis prepare` does), so build first (`npm run build`).
 *
 * Environment: BENCH_WATCH_EDITS (default 10) edits for the watch latency; BENCH_JSON=<file> writes
 * the results as JSON.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Preparer, type WriteReport, watchPrepare } from "../../packages/codegen/src/index.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PACKAGES = 5;
const PER_PACKAGE = 10;
const WATCH_EDITS = Number(process.env.BENCH_WATCH_EDITS ?? 10);

/** One synthetic service contract: 4 RPCs, an operation, 2 events, a feed; every other one uses its predecessor. */
function contractSource(pkg: number, index: number): string {
  const name = `P${pkg}C${index}`;
  const uses =
    index % 2 === 1
      ? `uses: { required: { prev: prev.use({ rpc: { call: ["P${pkg}C${index - 1}.Get"] }, events: { subscribe: ["P${pkg}C${index - 1}.Changed"] } }) } },`
      : "";
  return `import { defineError, defineServiceContract } from "@trellis/contracts";
import { z } from "zod";
${index % 2 === 1 ? `import prev from "./c${index - 1}.js";` : ""}

const Item = z.object({ id: z.string().min(1), name: z.string(), tags: z.array(z.string()), size: z.number().int().nullable(), kind: z.enum(["a", "b", "c"]) });
export const NotFound = defineError({ type: "NotFoundError", fields: { key: z.string() }, message: "not found" });

export default defineServiceContract(
  {
    schemas: {
      Key: z.object({ id: z.string() }),
      Item,
      Items: z.object({ items: z.array(Item), next: z.string().optional() }),
      Page: z.object({ limit: z.number().int().min(1).max(100).optional(), after: z.string().optional() }),
      Progress: z.object({ done: z.number(), total: z.number() }),
      Changed: z.object({ id: z.string(), at: z.iso.datetime() }),
      Meta: z.record(z.string(), z.string()),
    },
    errors: { NotFound },
  },
  (ref) => ({
    id: "bench.${name.toLowerCase()}@v1",
    displayName: "${name}",
    description: "Synthetic contract ${name}.",
    exports: { schemas: ["Item"] },
    capabilities: { read: { displayName: "Read", description: "Read items." }, write: { displayName: "Write", description: "Write items.", consequence: "Changes are visible." } },
    ${uses}
    rpc: {
      "${name}.Get": { version: "v1", input: ref.schema("Key"), output: ref.schema("Item"), capabilities: { call: ["read"] }, errors: [ref.error("NotFound")] },
      "${name}.List": { version: "v1", input: ref.schema("Page"), output: ref.schema("Items"), capabilities: { call: ["read"] } },
      "${name}.Put": { version: "v1", input: ref.schema("Item"), output: ref.schema("Key"), capabilities: { call: ["write"] } },
      "${name}.Meta": { version: "v1", input: ref.schema("Key"), output: ref.schema("Meta") },
    },
    operations: {
      "${name}.Rebuild": { version: "v1", input: ref.schema("Page"), progress: ref.schema("Progress"), output: ref.schema("Items"), capabilities: { call: ["write"] }, cancel: true },
    },
    events: {
      "${name}.Changed": { version: "v1", event: ref.schema("Changed"), capabilities: { subscribe: ["read"] } },
      "${name}.Removed": { version: "v1", event: ref.schema("Key"), capabilities: { subscribe: ["read"] } },
    },
    feeds: { "${name}.Live": { version: "v1", input: ref.schema("Key"), event: ref.schema("Changed"), capabilities: { subscribe: ["read"] } } },
  }),
);
`;
}

function writeFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** A temp workspace of PACKAGES × PER_PACKAGE contracts (several layout), node_modules linked to the repo's. */
function syntheticWorkspace(): string {
  const dir = mkdtempSync(join(tmpdir(), "trellis-bench-prepare-"));
  symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
  writeFile(join(dir, "package.json"), '{"name": "bench", "private": true, "type": "module"}\n');
  for (let pkg = 0; pkg < PACKAGES; pkg++) {
    writeFile(
      join(dir, `pkg${pkg}/package.json`),
      `{"name": "pkg${pkg}", "version": "1.0.0", "type": "module"}\n`,
    );
    for (let index = 0; index < PER_PACKAGE; index++) {
      writeFile(join(dir, `pkg${pkg}/contracts/c${index}.ts`), contractSource(pkg, index));
    }
  }
  return dir;
}

interface PrepareTimes {
  contracts: number;
  files: number;
  coldMs: number;
  loadMs: number;
  writeMs: number;
  warmMs: number;
  checkMs: number;
}

async function timePrepare(root: string, out: string): Promise<PrepareTimes> {
  const started = performance.now();
  const cold = new Preparer({ root, out });
  await cold.loadAll();
  const loaded = performance.now();
  const report = cold.write();
  const written = performance.now();
  if (report.problems.length > 0) throw new Error(`prepare failed: ${JSON.stringify(report.problems)}`);

  const warmStart = performance.now();
  const warm = new Preparer({ root, out });
  await warm.loadAll();
  const again = warm.write();
  const warmEnd = performance.now();
  if (again.written.length > 0) throw new Error(`a second prepare wrote ${again.written.join(", ")}`);

  const checkStart = performance.now();
  const checker = new Preparer({ root, out });
  await checker.loadAll();
  const check = checker.check();
  const checkEnd = performance.now();
  if (check.stale.length > 0) throw new Error(`--check found stale files: ${check.stale.join(", ")}`);

  return {
    contracts: report.contracts.length,
    files: report.written.length,
    coldMs: written - started,
    loadMs: loaded - started,
    writeMs: written - loaded,
    warmMs: warmEnd - warmStart,
    checkMs: checkEnd - checkStart,
  };
}

/** Saves a contract source WATCH_EDITS times and measures until its regenerated manifest is written. */
async function watchLatency(root: string): Promise<number[]> {
  const stop = new AbortController();
  const runs: WriteReport[] = [];
  let ready = false;
  const watching = watchPrepare({
    root,
    signal: stop.signal,
    log: (line) => {
      if (line.startsWith("watching ")) ready = true;
    },
    onRun: (run) => runs.push(run),
  });
  const wait = async (predicate: () => boolean) => {
    const deadline = Date.now() + 60_000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((done) => setTimeout(done, 5));
    }
  };
  await wait(() => ready);
  const source = join(root, "pkg2/contracts/c4.ts");
  const original = readFileSync(source, "utf8");
  const latencies: number[] = [];
  try {
    for (let edit = 1; edit <= WATCH_EDITS; edit++) {
      const count = runs.length;
      const started = performance.now();
      writeFileSync(
        source,
        original.replace("Synthetic contract P2C4.", `Synthetic contract P2C4, edit ${edit}.`),
      );
      await wait(() =>
        runs
          .slice(count)
          .some((run) => run.written.includes("generated/contracts/manifests/bench.p2c4@v1.json")),
      );
      latencies.push(performance.now() - started);
      await new Promise((done) => setTimeout(done, 300));
    }
  } finally {
    stop.abort();
    await watching;
  }
  return latencies;
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? 0,
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    max: sorted.at(-1) ?? 0,
  };
}

const ms = (value: number) => `${Math.round(value)} ms`;

function printTimes(label: string, times: PrepareTimes): void {
  console.log(
    `${label}: ${times.contracts} contracts, ${times.files} files — cold ${ms(times.coldMs)} (load ${ms(times.loadMs)}, generate+write ${ms(times.writeMs)}), no-change ${ms(times.warmMs)}, --check ${ms(times.checkMs)}`,
  );
}

const cpu = cpus();
console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, Node ${process.version}`);

const repoOut = mkdtempSync(join(tmpdir(), "trellis-bench-prepare-out-"));
const synthetic = syntheticWorkspace();
try {
  const repo = await timePrepare(repoRoot, repoOut);
  printTimes("repository", repo);
  const workspace = await timePrepare(synthetic, synthetic);
  printTimes("synthetic", workspace);
  const latencies = await watchLatency(synthetic);
  const watch = stats(latencies);
  console.log(
    `watch: save → regenerated files, ${latencies.length} edits (debounce 250 ms included): median ${ms(watch.median)}, min ${ms(watch.min)}, max ${ms(watch.max)}`,
  );
  if (process.env.BENCH_JSON) {
    writeFileSync(
      process.env.BENCH_JSON,
      `${JSON.stringify({ repo, synthetic: workspace, watch: { latencies, ...watch } }, null, 2)}\n`,
    );
  }
} finally {
  rmSync(repoOut, { recursive: true, force: true });
  rmSync(synthetic, { recursive: true, force: true });
}
