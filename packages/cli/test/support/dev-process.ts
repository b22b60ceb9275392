/**
 * Runs the built CLI's `trellis dev` as a child process for tests: waits (bounded) for its JSON
 * report, keeps its output, and stops it by PID.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The built CLI (`npm test` runs `tsc -b` first). */
export const CLI_BIN = fileURLToPath(new URL("../../dist/bin.js", import.meta.url));

/** The JSON report `trellis dev --format json` prints once everything runs. */
export interface DevReport {
  url: string;
  portalUrl: string;
  metricsUrl: string;
  natsUrl: string;
  admin: string;
  adminFile: string;
  dir: string;
  pid: number;
  natsPid: number;
  services: { name: string; pid: number; deploymentId: string; instanceId: string }[];
  cliSession: string | null;
}

/** A running `trellis dev`. */
export interface DevProcess {
  child: ChildProcess;
  report: DevReport;
  /** Everything it wrote to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line `match` accepts, within `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** Sends `signal` to its PID and resolves with its exit code or ending signal (SIGKILL after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | NodeJS.Signals | null>;
}

/** What a run that ends on its own (a refusal) printed. */
export interface DevExit {
  code: number | NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const LIVE = new Set<ChildProcess>();

/** SIGKILLs (by PID) every `trellis dev` a test left running. */
export function killLeftovers(): void {
  for (const child of LIVE) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  LIVE.clear();
}

function spawnDev(args: readonly string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [CLI_BIN, "dev", ...args], {
    env: { ...process.env, PINO_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  LIVE.add(child);
  child.once("exit", () => LIVE.delete(child));
  return child;
}

/** Resolves with the exit code, or the name of the signal that ended the process. */
function exited(child: ChildProcess): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode ?? child.signalCode);
  }
  // `close`, not `exit`: its output has been read to the end by then.
  return new Promise((resolve) => child.once("close", (code, signal) => resolve(code ?? signal)));
}

function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what())), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Starts `trellis dev --format json <args>` and waits up to `timeoutMs` for its report. */
export async function startDev(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<DevProcess> {
  const child = spawnDev(["--format", "json", ...args], options.env ?? {});
  let stdout = "";
  let stderr = "";
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    const before = stdout.split("\n").length - 1;
    stdout += chunk.toString();
    const lines = stdout.split("\n");
    for (const line of lines.slice(before, -1)) {
      for (const waiter of [...waiters]) {
        if (!waiter.match(line)) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const waitForLine = (match: (line: string) => boolean, timeoutMs: number) => {
    const seen = stdout.split("\n").find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    const line = new Promise<string>((resolve, reject) => {
      waiters.push({ match, resolve });
      void exited(child).then((code) =>
        reject(new Error(`trellis dev exited with ${code}:\n${stderr.slice(-3000)}`)),
      );
    });
    return within(line, timeoutMs, () => `no such line within ${timeoutMs} ms:\n${stderr.slice(-3000)}`);
  };
  const first = await waitForLine((line) => line.startsWith('{"url"'), options.timeoutMs ?? 90_000);
  return {
    child,
    report: JSON.parse(first) as DevReport,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForLine,
    async stop(signal = "SIGTERM", timeoutMs = 30_000) {
      const code = exited(child);
      child.kill(signal);
      try {
        return await within(code, timeoutMs, () => `trellis dev did not stop within ${timeoutMs} ms`);
      } catch (error) {
        child.kill("SIGKILL");
        throw error;
      }
    },
  };
}

/** Runs `trellis dev --format json <args>` expecting it to end on its own within `timeoutMs`. */
export async function runDevToExit(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<DevExit> {
  const child = spawnDev(["--format", "json", ...args], options.env ?? {});
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    const code = await within(exited(child), timeoutMs, () => `trellis dev still runs after ${timeoutMs} ms`);
    return { code, stdout, stderr };
  } finally {
    child.kill("SIGKILL");
  }
}

/** Whether a process with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs of the processes whose command line mentions `text` (to check nothing was left running). */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(text)) pids.push(Number(entry));
    } catch {
      // it ended meanwhile
    }
  }
  return pids;
}
