/**
 * Loads contract sources in a child process with tsx registered, so a module that throws, hangs or
 * exits cannot take the generator with it. Each module gets a bounded time; a module that exceeds
 * it is reported and its child killed by PID, and the remaining modules load in a fresh child.
 */
import { type ChildProcess, fork } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { ChildMessage } from "./load-child.js";

/** Default bound on loading one module (including the child's start for the first one). */
export const DEFAULT_LOAD_TIMEOUT_MS = 20_000;

/** A source that exported a contract. */
export interface LoadedSource {
  /** Absolute path of the source. */
  file: string;
  /** The manifest it exported, as received (not yet validated). */
  manifest: unknown;
}

/** A source that could not be loaded. */
export interface FailedSource {
  /** Absolute path of the source. */
  file: string;
  /** The cause. */
  message: string;
}

/** Results of {@link loadContractSources}, in the order of the files given. */
export interface LoadResults {
  loaded: LoadedSource[];
  failed: FailedSource[];
}

/** Options of {@link loadContractSources}. */
export interface LoadOptions {
  /** Bound on loading one module, in ms. */
  timeoutMs?: number;
  /** Working folder of the child (tsx finds `tsconfig.json` from there). */
  cwd?: string;
  /** Aborts loading: the child is killed and the remaining files are reported as not loaded. */
  signal?: AbortSignal;
}

const STDERR_TAIL = 2000;

/** The line of a crashed child's stderr that says why: its last error line, else its last line. */
function crashCause(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("at ") && !line.startsWith("Node.js v"));
  return [...lines].reverse().find((line) => /^[\w.]*Error\b/.test(line)) ?? lines.at(-1) ?? "";
}

/** The environment of the child: tsx settings of this process do not apply to contract modules. */
function childEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("TSX_")));
}

function childScript(): string {
  const compiled = fileURLToPath(new URL("./load-child.js", import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL("./load-child.ts", import.meta.url));
}

function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
}

/** Loads one batch in one child; resolves with the files it did not reach. */
function runChild(
  files: readonly string[],
  options: Required<Pick<LoadOptions, "timeoutMs">> & LoadOptions,
  results: Map<string, LoadedSource | FailedSource>,
): Promise<string[]> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    let current: string | undefined = files[0];
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const remaining = () => files.filter((file) => !results.has(file));
    const fail = (file: string, message: string) => {
      if (!results.has(file)) results.set(file, { file, message });
    };
    const kill = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, "SIGKILL");
      }
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (current !== undefined) {
          fail(current, `it did not finish loading within ${options.timeoutMs} ms; the loader was killed`);
        }
        kill();
      }, options.timeoutMs);
    };
    const onAbort = () => kill();

    child = fork(childScript(), [], {
      cwd: options.cwd,
      env: childEnv(),
      execArgv: ["--import", tsxLoader()],
      serialization: "advanced",
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-STDERR_TAIL);
    });
    options.signal?.addEventListener("abort", onAbort, { once: true });
    arm();

    child.on("message", (message: ChildMessage) => {
      switch (message.type) {
        case "start":
          current = message.file;
          arm();
          break;
        case "loaded":
          results.set(message.file, { file: message.file, manifest: message.manifest });
          current = undefined;
          break;
        case "failed":
          fail(message.file, message.message);
          current = undefined;
          break;
        case "done":
          current = undefined;
          break;
      }
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (current !== undefined && !options.signal?.aborted) {
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const cause = crashCause(stderr);
        fail(current, `the loader ${how} while loading it${cause ? `: ${cause}` : ""}`);
      }
      resolve(options.signal?.aborted ? [] : remaining());
    };
    // `close` (not `exit`): it comes after the IPC channel is drained, so no result is lost.
    child.on("close", finish);
    child.on("error", (error) => {
      if (current !== undefined) fail(current, `the loader could not run: ${error.message}`);
      kill();
      finish(null, null);
    });
    child.send([...files]);
  });
}

/**
 * Imports each file in a child process and returns the manifest it exports, or why it could not.
 * A module's default export is used when present; otherwise its only distinct exported contract
 * (a contract module or a manifest).
 */
export async function loadContractSources(
  files: readonly string[],
  options: LoadOptions = {},
): Promise<LoadResults> {
  const settings = { ...options, timeoutMs: options.timeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS };
  const results = new Map<string, LoadedSource | FailedSource>();
  let pending = [...files];
  while (pending.length > 0 && !options.signal?.aborted) {
    const before = results.size;
    pending = await runChild(pending, settings, results);
    if (results.size === before && pending.length > 0) {
      // A child that reached no module at all: report the next one so the loop always progresses.
      const [next] = pending;
      if (next) results.set(next, { file: next, message: "the loader stopped before loading it" });
      pending = pending.slice(1);
    }
  }
  const loaded: LoadedSource[] = [];
  const failed: FailedSource[] = [];
  for (const file of files) {
    const result = results.get(file) ?? { file, message: "loading was aborted" };
    if ("manifest" in result) loaded.push(result);
    else failed.push(result);
  }
  return { loaded, failed };
}
