/**
 * Child processes of `trellis dev` (the services it runs): spawned in their own process group (a
 * terminal's Ctrl-C reaches only `trellis dev`, which stops them in order) with their output prefixed,
 * tracked by PID, stopped by PID (SIGTERM, then SIGKILL), and killed by PID if `trellis dev` itself
 * exits while they still run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** Options of {@link startChild}. */
export interface StartChildOptions {
  /** Label of the output prefix (`[label] `). */
  label: string;
  /** Program to run. */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Working directory. */
  cwd: string;
  /** Variables added to this process's environment. */
  env: Record<string, string>;
  /** Where each prefixed output line goes. */
  write(line: string): void;
}

/** A running child process started by {@link startChild}. */
export interface RunningChild {
  readonly label: string;
  readonly pid: number;
  /** Resolves once it has exited: the exit code, or the signal that ended it. Never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Whether it has exited. */
  hasExited(): boolean;
  /** Its last output lines (at most 40), without prefix. */
  lastLines(): string[];
  /** SIGTERM by PID, SIGKILL after `graceMs` (default 5000), and waits for the exit. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const MAX_LINES = 40;
const KILL_WAIT_MS = 5_000;
const live = new Map<number, ChildProcess>();
let exitHookInstalled = false;

/** Children still running when this process exits are killed by PID. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.prependListener("exit", () => {
    for (const pid of live.keys()) signal(pid, "SIGKILL");
  });
}

/** Sends `signal` to `pid`; a process that is already gone is fine. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function exitedWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Spawns a child process; rejects when it cannot be spawned (e.g. the program does not exist). */
export async function startChild(options: StartChildOptions): Promise<RunningChild> {
  const child = spawn(options.command, [...options.args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (error) =>
      reject(new Error(`could not start ${options.label} (${options.command}): ${error.message}`)),
    );
  });
  const pid = child.pid as number;
  installExitHook();
  live.set(pid, child);

  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) => {
      lines.push(line);
      if (lines.length > MAX_LINES) lines.shift();
      options.write(`[${options.label}] ${line}\n`);
    });
  }
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      live.delete(pid);
      resolve({ code, signal });
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    label: options.label,
    pid,
    exited,
    hasExited: () => done,
    lastLines: () => [...lines],
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        if (done) return;
        signal(pid, "SIGTERM");
        if (await exitedWithin(exited, graceMs)) return;
        signal(pid, "SIGKILL");
        if (!(await exitedWithin(exited, KILL_WAIT_MS))) {
          throw new Error(`${options.label} (pid ${pid}) did not exit after SIGTERM and SIGKILL`);
        }
      })();
      return stopping;
    },
  };
}

/** `exited with code N` / `was ended by SIGNAL`. */
export function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.signal !== null ? `was ended by ${exit.signal}` : `exited with code ${exit.code}`;
}
