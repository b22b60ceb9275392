import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, existsSync, constants as fsConstants, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer, connect as netConnect } from "node:net";
import { delimiter, dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Options for {@link findNatsServerBinary}. */
export interface FindNatsServerBinaryOptions {
  /**
   * Repository root whose `.tools/bin/nats-server` is tried after `$TRELLIS_NATS_SERVER`. Default: the
   * nearest ancestor of this module (then of the working directory) that holds
   * `tools/install-nats-server.sh` or `.tools/bin/nats-server`.
   */
  repoRoot?: string;
}

/** Options for {@link spawnNatsServer}. */
export interface SpawnNatsServerOptions {
  /** nats-server binary; default {@link findNatsServerBinary}(). */
  binary?: string;
  /** Path of a nats-server configuration file, passed as `-c <file>`. */
  configFile?: string;
  /** Client listen address, passed as `-a` (default `127.0.0.1`). */
  host?: string;
  /** Client port, passed as `-p`. */
  port: number;
  /** JetStream store directory, passed as `-sd` (created if missing; never deleted by this module). */
  storeDir: string;
  /** Enable JetStream (`-js`, default `true`). */
  jetstream?: boolean;
  /** Extra command-line arguments appended after the ones this helper passes. */
  args?: string[];
  /** How long to wait for the server to greet clients with `INFO` (default 10 000 ms). */
  readyTimeoutMs?: number;
  /**
   * Run it in its own process group (default `false`), so a terminal's Ctrl-C reaches only the parent,
   * which then stops it by PID in its own order.
   */
  detached?: boolean;
}

/** A running nats-server child process started by {@link spawnNatsServer}. */
export interface NatsServerProcess {
  /** Client URL, `nats://<host>:<port>`. */
  readonly url: string;
  /** Client listen address. */
  readonly host: string;
  /** Client port. */
  readonly port: number;
  /** PID of the nats-server process. */
  readonly pid: number;
  /** JetStream store directory; left in place by `stop()`. */
  readonly storeDir: string;
  /** Resolves with the exit code (null when ended by a signal) once the process has exited; never rejects. */
  readonly exited: Promise<number | null>;
  /** The last 64 KiB of the server's stdout and stderr. */
  output(): string;
  /** Sends SIGTERM to the PID (SIGKILL if it lingers) and waits for exit; idempotent. Does not touch `storeDir`. */
  stop(): Promise<void>;
}

/** Thrown by {@link spawnNatsServer} when the server exits, fails to spawn or is not ready in time. */
export class NatsServerStartError extends Error {
  override readonly name = "NatsServerStartError";
  constructor(
    message: string,
    /** True when the server reported that its port was already taken (worth retrying on another port). */
    readonly portInUse: boolean,
    /** The server's captured stdout and stderr. */
    readonly output: string,
  ) {
    super(message);
  }
}

const MIN_MAJOR = 2;
const MIN_MINOR = 10;
const DEFAULT_HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const KILL_TIMEOUT_MS = 5_000;
const MAX_OUTPUT_CHARS = 64 * 1024;
const INSTALL_HINT =
  "Run `bash tools/install-nats-server.sh` from the repository root (it installs a nats-server >= 2.10 into .tools/bin/), or set TRELLIS_NATS_SERVER to a nats-server >= 2.10 binary.";

const binaryName = process.platform === "win32" ? "nats-server.exe" : "nats-server";

/** Finds the repository root: the nearest ancestor that holds the installer script or `.tools/bin`. */
function defaultRepoRoot(): string {
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
  // packages/control-plane/{src,dist}/nats/server-process.{ts,js} -> repository root
  return resolve(moduleDir, "..", "..", "..", "..");
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

/** Returns `MAJOR.MINOR.PATCH` from `<binary> --version` (e.g. `nats-server: v2.10.26`), or null. Cached per path. */
export function natsServerVersion(binary: string): string | null {
  const cached = versionCache.get(binary);
  if (cached !== undefined) return cached;
  let version: string | null = null;
  try {
    const out = execFileSync(binary, ["--version"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const match = /v?(\d+)\.(\d+)\.(\d+)/.exec(out);
    if (match) version = `${match[1]}.${match[2]}.${match[3]}`;
  } catch {
    version = null;
  }
  versionCache.set(binary, version);
  return version;
}

function versionOk(version: string | null): boolean {
  if (version === null) return false;
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > MIN_MAJOR || (major === MIN_MAJOR && minor >= MIN_MINOR);
}

/**
 * Returns the absolute path of a nats-server >= 2.10: `$TRELLIS_NATS_SERVER`,
 * `<repoRoot>/.tools/bin/nats-server`, then `nats-server` on PATH. Throws an error naming the rejected
 * candidates and telling the user to run `tools/install-nats-server.sh` when none qualifies.
 */
export function findNatsServerBinary(options: FindNatsServerBinaryOptions = {}): string {
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

  const root = options.repoRoot !== undefined ? resolve(options.repoRoot) : defaultRepoRoot();
  const local = check("repo-local", join(root, ".tools", "bin", binaryName));
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

/**
 * Binds port 0 on `host` (default 127.0.0.1), reads the port the OS picked and closes the listener.
 * Another process may take the port before it is used; callers should retry on
 * {@link NatsServerStartError.portInUse}.
 */
export function freeLoopbackPort(host: string = DEFAULT_HOST): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host, port: 0 }, () => {
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

/** The address to probe: wildcard listen addresses are reached through loopback. */
function probeHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host.replace(/^\[(.*)\]$/, "$1");
}

function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Connects to the port and resolves true once the server greets with an `INFO` line. */
function probeInfo(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = netConnect({ host, port });
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

// Servers still running when this process exits are killed by PID (never by name). The hook is
// prepended so it runs before other exit listeners (e.g. ones that remove temporary store dirs).
const liveChildren = new Map<number, ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.prependListener("exit", () => {
    for (const [pid, child] of liveChildren) {
      if (hasExited(child)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
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

/**
 * Starts nats-server on `host:port` (JetStream in `storeDir` unless `jetstream: false`) and waits until
 * it greets clients with `INFO`. On failure the process is killed and a {@link NatsServerStartError}
 * carrying the server's output is thrown. The store directory is never removed.
 */
export async function spawnNatsServer(options: SpawnNatsServerOptions): Promise<NatsServerProcess> {
  const binary = options.binary ?? findNatsServerBinary();
  const host = options.host ?? DEFAULT_HOST;
  const { port, storeDir } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const jetstream = options.jetstream ?? true;

  const args = ["-a", host, "-p", String(port)];
  if (jetstream) {
    await mkdir(storeDir, { recursive: true });
    args.push("-js", "-sd", storeDir);
  }
  if (options.configFile) args.push("-c", options.configFile);
  if (options.args) args.push(...options.args);

  const child = spawn(binary, args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false,
  });

  // Keep draining both pipes for the child's whole life so it never blocks on a full pipe.
  let output = "";
  const capture = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    if (output.length > MAX_OUTPUT_CHARS) output = output.slice(-MAX_OUTPUT_CHARS);
  };
  child.stderr?.on("data", capture);
  child.stdout?.on("data", capture);

  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolveExited) => {
    child.once("exit", (code) => resolveExited(code));
    child.once("error", (err) => {
      spawnError = err;
      // A child that failed to spawn never emits "exit".
      if (child.pid === undefined) resolveExited(null);
    });
  });

  if (child.pid !== undefined) {
    installExitHook();
    liveChildren.set(child.pid, child);
  }

  const fail = async (reason: string): Promise<never> => {
    try {
      if (!hasExited(child) && child.pid !== undefined) {
        child.kill("SIGKILL");
        await waitForExit(child, KILL_TIMEOUT_MS);
      }
    } finally {
      if (child.pid !== undefined) liveChildren.delete(child.pid);
    }
    throw new NatsServerStartError(
      `nats-server ${reason} (${binary} ${args.join(" ")}).\n--- nats-server output ---\n${output.trimEnd()}\n---`,
      /address already in use/i.test(output),
      output,
    );
  };

  const target = probeHost(host);
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (spawnError) return fail(`could not be started: ${spawnError.message}`);
    if (hasExited(child)) {
      return fail(`exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) return fail(`was not ready within ${readyTimeoutMs} ms`);
    if (await probeInfo(target, port, Math.min(remaining, 1_000))) {
      if (!hasExited(child)) break;
      continue;
    }
    await delay(Math.min(50, Math.max(0, deadline - Date.now())));
  }

  const pid = child.pid as number;
  void exited.then(() => liveChildren.delete(pid));
  let stopping: Promise<void> | undefined;
  return {
    url: `nats://${urlHost(host)}:${port}`,
    host,
    port,
    pid,
    storeDir,
    exited,
    output: () => output,
    stop() {
      stopping ??= (async () => {
        try {
          await terminate(child);
        } finally {
          liveChildren.delete(pid);
        }
      })();
      return stopping;
    },
  };
}
