import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, existsSync, constants as fsConstants, rmSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Options for {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** Enable JetStream with a fresh temporary store directory (default `true`). */
  jetstream?: boolean;
  /** Path of a nats-server configuration file, passed as `-c <file>`. */
  configFile?: string;
  /** Extra command-line arguments appended after the ones this helper passes. */
  args?: string[];
}

/** A running nats-server child process started by {@link startNatsServer}. */
export interface NatsServerHandle {
  /** Client URL, `nats://127.0.0.1:<port>`. */
  readonly url: string;
  /** Client port the server listens on (loopback only). */
  readonly port: number;
  /** PID of the nats-server process. */
  readonly pid: number;
  /** Temporary JetStream store directory; removed by `stop()`. */
  readonly storeDir: string;
  /** Sends SIGTERM to this server's PID (SIGKILL if it lingers), waits for exit and removes `storeDir`. */
  stop(): Promise<void>;
}

const MIN_MAJOR = 2;
const MIN_MINOR = 10;
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const KILL_TIMEOUT_MS = 5_000;
const MAX_STDERR_CHARS = 64 * 1024;
const MAX_START_ATTEMPTS = 3;
const INSTALL_HINT =
  "Run `bash tools/install-nats-server.sh` from the repository root (it installs a nats-server >= 2.10 into .tools/bin/), or set TRELLIS_NATS_SERVER to a nats-server >= 2.10 binary.";

const binaryName = process.platform === "win32" ? "nats-server.exe" : "nats-server";

/** Finds the repository root: the nearest ancestor that holds the installer script or `.tools/bin`. */
function repoRoot(): string {
  const moduleDir = dirname(fileURLToPath(import.meta.url));
  for (const start of [moduleDir, process.cwd()]) {
    let dir = resolve(start);
    for (;;) {
      if (
        existsSync(join(dir, "tools", "install-nats-server.sh")) ||
        existsSync(join(dir, ".tools", "bin", binaryName))
      ) {
        return dir;
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  // packages/testing/{src,dist}/nats-server.{ts,js} -> repository root
  return resolve(moduleDir, "..", "..", "..");
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const versionCache = new Map<string, string | null>();

/** Returns `MAJOR.MINOR.PATCH` from `<bin> --version` (e.g. `nats-server: v2.10.26`), or null. */
function natsServerVersion(bin: string): string | null {
  const cached = versionCache.get(bin);
  if (cached !== undefined) return cached;
  let version: string | null = null;
  try {
    const out = execFileSync(bin, ["--version"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(out);
    if (match) version = `${match[1]}.${match[2]}.${match[3]}`;
  } catch {
    version = null;
  }
  versionCache.set(bin, version);
  return version;
}

function versionOk(version: string | null): boolean {
  if (version === null) return false;
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > MIN_MAJOR || (major === MIN_MAJOR && minor >= MIN_MINOR);
}

/** Returns the absolute path of a nats-server >= 2.10: `$TRELLIS_NATS_SERVER`, `<repo>/.tools/bin/nats-server`, then PATH. */
export function findNatsServerBinary(): string {
  const rejected: string[] = [];
  const check = (label: string, path: string): string | null => {
    if (!isExecutableFile(path)) {
      rejected.push(`${label} ${path}: not an executable file`);
      return null;
    }
    const version = natsServerVersion(path);
    if (!versionOk(version)) {
      rejected.push(`${label} ${path}: version ${version ?? "unknown"} < ${MIN_MAJOR}.${MIN_MINOR}`);
      return null;
    }
    return path;
  };

  const fromEnv = process.env.TRELLIS_NATS_SERVER;
  if (fromEnv) {
    const found = check("TRELLIS_NATS_SERVER", isAbsolute(fromEnv) ? fromEnv : resolve(fromEnv));
    if (found) return found;
  }

  const local = check("repo-local", join(repoRoot(), ".tools", "bin", binaryName));
  if (local) return local;

  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(resolve(dir), binaryName);
    if (!existsSync(candidate)) continue;
    const found = check("PATH", candidate);
    if (found) return found;
  }

  const details = rejected.length > 0 ? ` Rejected: ${rejected.join("; ")}.` : "";
  throw new Error(`No nats-server >= ${MIN_MAJOR}.${MIN_MINOR} found.${details} ${INSTALL_HINT}`);
}

/** Binds port 0 on 127.0.0.1, reads the port the OS picked, and closes the listener. */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not determine a free port"));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolvePort(port)));
    });
  });
}

/** Connects to the port and resolves true once the server greets with an `INFO` line. */
function probeInfo(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    let received = "";
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolveProbe(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.includes("\r\n") || received.length > 4096) finish(received.startsWith("INFO "));
    });
    socket.on("error", () => finish(false));
    socket.on("close", () => finish(false));
  });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true when the child exits within `ms`, false otherwise. */
function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolveExit) => {
    const onExit = () => {
      clearTimeout(timer);
      resolveExit(true);
    };
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolveExit(hasExited(child));
    }, ms);
    child.once("exit", onExit);
  });
}

// Children still running when the test process exits are killed by PID (never by name).
const liveChildren = new Map<number, { child: ChildProcess; storeDir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [pid, { child, storeDir }] of liveChildren) {
      if (!hasExited(child)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      try {
        rmSync(storeDir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    liveChildren.clear();
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  child.kill("SIGTERM");
  if (await waitForExit(child, STOP_TIMEOUT_MS)) return;
  child.kill("SIGKILL");
  if (!(await waitForExit(child, KILL_TIMEOUT_MS))) {
    throw new Error(`nats-server (pid ${child.pid}) did not exit after SIGTERM and SIGKILL`);
  }
}

class StartError extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

async function startOnce(bin: string, options: StartNatsServerOptions): Promise<NatsServerHandle> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "trellis-nats-"));
  const args = ["-a", "127.0.0.1", "-p", String(port)];
  if (options.jetstream ?? true) args.push("-js", "-sd", storeDir);
  if (options.configFile) args.push("-c", options.configFile);
  if (options.args) args.push(...options.args);

  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }

  // Keep draining both pipes for the child's whole life so it never blocks on a full pipe.
  let output = "";
  const capture = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    if (output.length > MAX_STDERR_CHARS) output = output.slice(-MAX_STDERR_CHARS);
  };
  child.stderr?.on("data", capture);
  child.stdout?.on("data", capture);

  let spawnError: Error | undefined;
  child.on("error", (err) => {
    spawnError = err;
  });

  const fail = async (reason: string): Promise<never> => {
    try {
      if (!hasExited(child) && child.pid !== undefined) {
        child.kill("SIGKILL");
        await waitForExit(child, KILL_TIMEOUT_MS);
      }
    } finally {
      if (child.pid !== undefined) liveChildren.delete(child.pid);
      await rm(storeDir, { recursive: true, force: true });
    }
    const portInUse = /address already in use/i.test(output);
    throw new StartError(
      `nats-server ${reason} (${bin} ${args.join(" ")}).\n--- nats-server output ---\n${output.trimEnd()}\n---`,
      portInUse,
    );
  };

  if (child.pid !== undefined) {
    installExitHook();
    liveChildren.set(child.pid, { child, storeDir });
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) return fail(`could not be started: ${spawnError.message}`);
    if (hasExited(child)) {
      return fail(`exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) return fail(`was not ready within ${READY_TIMEOUT_MS} ms`);
    if (await probeInfo(port, Math.min(remaining, 1_000))) {
      if (!hasExited(child)) break;
      continue;
    }
    await delay(Math.min(50, Math.max(0, deadline - Date.now())));
  }

  const pid = child.pid as number;
  let stopping: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    pid,
    storeDir,
    stop() {
      stopping ??= (async () => {
        try {
          await terminate(child);
        } finally {
          liveChildren.delete(pid);
          await rm(storeDir, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
  };
}

/** Starts a private nats-server on a free 127.0.0.1 port (JetStream on by default) and waits until it accepts clients. */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = findNatsServerBinary();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, options);
    } catch (err) {
      // Another process may have grabbed the port between our probe and the server's bind.
      if (err instanceof StartError && err.portInUse && attempt < MAX_START_ATTEMPTS) continue;
      throw err;
    }
  }
}
