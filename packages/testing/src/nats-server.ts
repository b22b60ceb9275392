import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findNatsServerBinary,
  freeLoopbackPort,
  type NatsServerProcess,
  NatsServerStartError,
  spawnNatsServer,
} from "@trellis/control-plane";

export { findNatsServerBinary };

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
  /** PID of the nats-server process (a new one after {@link restart}). */
  readonly pid: number;
  /** Temporary JetStream store directory; removed by `stop()`. */
  readonly storeDir: string;
  /** Sends SIGTERM to this server's PID (SIGKILL if it lingers), waits for exit and removes `storeDir`. */
  stop(): Promise<void>;
  /**
   * Stops the server by PID and starts it again on the same port, configuration and store directory
   * (JetStream data is kept); resolves once it accepts clients again.
   */
  restart(): Promise<void>;
}

const MAX_START_ATTEMPTS = 3;

// Temporary store dirs still present when the test process exits are removed. The control plane's
// own exit hook (prepended, so it runs first) kills the servers that use them by PID.
const liveStoreDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const dir of liveStoreDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    liveStoreDirs.clear();
  });
}

async function removeStoreDir(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } finally {
    liveStoreDirs.delete(dir);
  }
}

async function startOnce(binary: string, options: StartNatsServerOptions): Promise<NatsServerHandle> {
  const port = await freeLoopbackPort();
  const storeDir = await mkdtemp(join(tmpdir(), "trellis-nats-"));
  installExitHook();
  liveStoreDirs.add(storeDir);

  const spawn = () =>
    spawnNatsServer({
      binary,
      port,
      storeDir,
      jetstream: options.jetstream ?? true,
      configFile: options.configFile,
      args: options.args,
    });
  let server: NatsServerProcess;
  try {
    server = await spawn();
  } catch (err) {
    await removeStoreDir(storeDir);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    url: server.url,
    port: server.port,
    get pid() {
      return server.pid;
    },
    storeDir,
    stop() {
      stopping ??= (async () => {
        try {
          await server.stop();
        } finally {
          await removeStoreDir(storeDir);
        }
      })();
      return stopping;
    },
    async restart() {
      if (stopping) throw new Error("nats-server was stopped");
      await server.stop();
      server = await spawn();
    },
  };
}

/** Starts a private nats-server on a free 127.0.0.1 port (JetStream on by default) and waits until it accepts clients. */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServerBinary();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binary, options);
    } catch (err) {
      // Another process may have grabbed the port between our probe and the server's bind.
      if (err instanceof NatsServerStartError && err.portInUse && attempt < MAX_START_ATTEMPTS) continue;
      throw err;
    }
  }
}
