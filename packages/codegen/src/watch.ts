/**
 * `trellis prepare --watch` (contracts spec §12): a full prepare, then watch the root and prepare
 * again after each batch of changes (debounced). Decisions per batch:
 * - a `package.json`, a new contract source (a discovery-layout path not known yet) or a removed
 *   source, imported file or folder holding one ⇒ a full prepare;
 * - a change to a known source, or to a local file a source imports ⇒ those contracts (and the
 *   contracts that use them, whose scope summaries derive from theirs) are prepared again;
 * - anything else is ignored.
 * Problems are printed and watching goes on.
 */
import { basename, relative, resolve, sep } from "node:path";
import { watch } from "chokidar";
import { SKIPPED_FOLDERS } from "./discover.js";
import { localImportClosure } from "./imports.js";
import { type PrepareOptions, type PrepareProblem, Preparer, type WriteReport } from "./prepare.js";

/** Default debounce of change batches, in ms. */
export const WATCH_DEBOUNCE_MS = 250;

/** At most this many changes are listed per batch with `changes`. */
const LISTED_CHANGES = 8;

/** Options of {@link watchPrepare}. */
export interface WatchOptions extends PrepareOptions {
  /** Explain each decision (the changes and why they lead to a full, partial or no prepare). */
  changes?: boolean;
  /** Debounce of change batches, in ms. */
  debounceMs?: number;
  /** Receives every line to print. */
  log(line: string): void;
  /** Receives the report of every run (after the initial one too). */
  onRun?(report: WriteReport): void;
  /** Stops watching. */
  signal: AbortSignal;
}

type ChangeKind = "add" | "change" | "unlink" | "addDir" | "unlinkDir";

interface Change {
  kind: ChangeKind;
  path: string;
}

/** What a batch of changes leads to. */
type Decision =
  | { action: "full"; reason: string }
  | { action: "partial"; sources: string[]; reason: string }
  | { action: "none"; reason: string };

/** Whether a path (relative to the root) has the shape of a contract source in one of the layouts. */
function isLayoutPath(path: string): boolean {
  const parts = path.split(sep);
  const name = parts.at(-1) ?? "";
  const parent = parts.at(-2);
  if (name === "contract.ts" || name === "contract.js") return true;
  return parent === "contracts" && name.endsWith(".ts") && !/\.(d|test|spec)\.ts$/.test(name);
}

/** Summary line of a run. */
export function describeRun(report: WriteReport): string {
  const count = report.contracts.length;
  const contracts = `${count} contract${count === 1 ? "" : "s"}`;
  const changed = report.written.length + report.removed.length;
  if (changed === 0) return `prepared ${contracts}: generated/ is up to date`;
  return `prepared ${contracts}: wrote ${report.written.length} file${report.written.length === 1 ? "" : "s"}, removed ${report.removed.length}`;
}

/** Lines describing problems. */
export function problemLines(problems: readonly PrepareProblem[]): string[] {
  return problems.map((problem) => `prepare failed: ${problem.file}: ${problem.message}`);
}

/**
 * Prepares once, then watches until `signal` aborts; resolves when the watcher is closed. A run in
 * progress when the signal aborts is cut short (its loader child is killed).
 */
export async function watchPrepare(options: WatchOptions): Promise<void> {
  const { log, signal } = options;
  const preparer = new Preparer(options);
  const root = preparer.root;
  const debounceMs = options.debounceMs ?? WATCH_DEBOUNCE_MS;
  /** Local imported file → the sources that import it (sources map to themselves). */
  let importers = new Map<string, Set<string>>();

  const index = (sources: readonly string[]) => {
    for (const [file, set] of importers) {
      for (const source of sources) set.delete(source);
      if (set.size === 0) importers.delete(file);
    }
    for (const source of sources) {
      for (const file of localImportClosure(source)) {
        const set = importers.get(file) ?? new Set<string>();
        set.add(source);
        importers.set(file, set);
      }
    }
  };

  const report = (run: WriteReport) => {
    for (const line of problemLines(run.problems)) log(line);
    log(describeRun(run));
    options.onRun?.(run);
  };

  const full = async () => {
    await preparer.loadAll(signal);
    if (signal.aborted) return;
    importers = new Map();
    index(preparer.sources);
    report(preparer.write());
  };

  const partial = async (sources: string[]) => {
    const before = preparer.idsOf(sources);
    await preparer.reload(sources, signal);
    if (signal.aborted) return;
    index(sources);
    const ids = new Set([...before, ...preparer.idsOf(sources)]);
    report(preparer.write(new Set([...sources, ...preparer.dependentsOf(ids)])));
  };

  const decide = (batch: Change[]): Decision => {
    const known = new Set(preparer.sources);
    const affected = new Set<string>();
    for (const { kind, path } of batch) {
      const rel = relative(root, path);
      if (basename(path) === "package.json") return { action: "full", reason: `${rel} changed` };
      if (kind === "unlink" || kind === "unlinkDir") {
        const inside = (file: string) => file === path || file.startsWith(`${path}${sep}`);
        if ([...importers.keys()].some(inside)) return { action: "full", reason: `${rel} was removed` };
        continue;
      }
      if (kind === "addDir") continue;
      if (!known.has(path) && isLayoutPath(rel))
        return { action: "full", reason: `${rel} is a new contract source` };
      for (const source of importers.get(path) ?? []) affected.add(source);
    }
    if (affected.size === 0)
      return { action: "none", reason: "no contract source or file they import changed" };
    const sources = [...affected].sort();
    return {
      action: "partial",
      sources,
      reason: `affects ${sources.map((source) => relative(root, source)).join(", ")}`,
    };
  };

  const runBatch = async (batch: Change[]) => {
    const decision = decide(batch);
    if (options.changes) {
      log("Change detected.");
      const verb = { full: "full prepare", partial: "prepare again", none: "nothing to do" }[decision.action];
      log(`${verb}: ${decision.reason}`);
      for (const change of batch.slice(0, LISTED_CHANGES))
        log(`  ${change.kind} ${relative(root, change.path)}`);
      if (batch.length > LISTED_CHANGES) log(`  … and ${batch.length - LISTED_CHANGES} more`);
    }
    if (decision.action === "full") await full();
    else if (decision.action === "partial") await partial(decision.sources);
  };

  const guarded = async (run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      log(`prepare failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  await guarded(full);
  if (signal.aborted) return;

  const ignored = (path: string) => {
    const rel = relative(root, path);
    if (rel === "" || rel.startsWith("..")) return false;
    return rel.split(sep).some((part) => part.startsWith(".") || SKIPPED_FOLDERS.has(part));
  };
  const watcher = watch(root, { ignoreInitial: true, ignored });
  let pending: Change[] = [];
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const flush = () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0 || signal.aborted) return;
    running = running.then(() => guarded(() => runBatch(batch)));
  };
  watcher.on("all", (kind, path) => {
    if (!["add", "change", "unlink", "addDir", "unlinkDir"].includes(kind)) return;
    pending.push({ kind: kind as ChangeKind, path: resolve(path) });
    clearTimeout(timer);
    timer = setTimeout(flush, debounceMs);
  });
  watcher.on("error", (error) =>
    log(`watch error: ${error instanceof Error ? error.message : String(error)}`),
  );

  await new Promise<void>((ready) => watcher.once("ready", ready));
  log(`watching ${relative(process.cwd(), root) || "."} for changes (Ctrl-C to stop)`);
  await new Promise<void>((stopped) => {
    if (signal.aborted) stopped();
    else signal.addEventListener("abort", () => stopped(), { once: true });
  });
  clearTimeout(timer);
  await watcher.close();
  await running;
}
