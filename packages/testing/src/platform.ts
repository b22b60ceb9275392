/**
 * `startPlatform()`: the whole security boundary for integration tests — a generated operator
 * topology in a temp dir, nats-server in operator mode with the auth callout, and the control plane
 * in-process on a temp SQLite file. Everything is stopped (by PID for the server) in `stop()`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ControlPlane,
  createLocalUser,
  generateTopology,
  loadControlPlaneConfig,
  startControlPlane,
  type Topology,
  writeControlPlaneConfig,
  writeTopology,
} from "@trellis/control-plane";
import { type NatsServerHandle, startNatsServer } from "./nats-server.js";

/** Options of {@link startPlatform}. */
export interface StartPlatformOptions {
  /** A local admin created at startup (default `admin` / `admin-password-1`). */
  devAdmin?: { username: string; password: string } | false;
  /** Allowed web origins. */
  webOrigins?: string[];
}

/** A running platform. */
export interface PlatformHandle {
  /** Control plane base URL (`http://127.0.0.1:<port>`). */
  url: string;
  /** NATS URL. */
  natsUrl: string;
  /** The generated topology. */
  topology: Topology;
  /** Folder holding topology, config and database. */
  dir: string;
  /** The nats-server process. */
  nats: NatsServerHandle;
  /** The in-process control plane. */
  controlPlane: ControlPlane;
  /** The dev admin's credentials, when created. */
  admin?: { username: string; password: string };
  /** Creates an active local user with a password (provisioning helper). */
  createUser(input: {
    username: string;
    password: string;
    name?: string;
    capabilities?: string[];
  }): Promise<{ userId: string }>;
  /** Stops the control plane and restarts it on the same database (sessions survive). */
  restartControlPlane(): Promise<void>;
  /** Stops everything and removes the folder. */
  stop(): Promise<void>;
}

/** Starts nats-server (operator mode, callout) and a control plane on a temp SQLite file. */
export async function startPlatform(options: StartPlatformOptions = {}): Promise<PlatformHandle> {
  const dir = await mkdtemp(join(tmpdir(), "trellis-platform-"));
  let nats: NatsServerHandle | undefined;
  let controlPlane: ControlPlane | undefined;
  try {
    const topology = await generateTopology();
    const files = await writeTopology(dir, topology);
    nats = await startNatsServer({ configFile: files.natsConf });
    const { path } = await writeControlPlaneConfig(dir, topology, {
      natsUrl: nats.url,
      httpPort: 0,
      dbPath: join(dir, "trellis.sqlite"),
      ...(options.webOrigins && { webOrigins: options.webOrigins }),
    });
    const admin =
      options.devAdmin === false
        ? undefined
        : (options.devAdmin ?? { username: "admin", password: "admin-password-1" });
    const config = {
      ...loadControlPlaneConfig(path, {}),
      sessionKeySeedFile: join(dir, "control-plane.seed"),
    };
    const start = () => startControlPlane(config, { logger: false, ...(admin && { devAdmin: admin }) });
    controlPlane = await start();
    const handle: PlatformHandle = {
      url: controlPlane.url,
      natsUrl: nats.url,
      topology,
      dir,
      nats,
      controlPlane,
      ...(admin && { admin }),
      async createUser(input) {
        const created = await createLocalUser(handle.controlPlane.context.store, {
          name: input.username,
          ...input,
        });
        if (created.isErr()) throw created.error;
        return { userId: created.value.userId };
      },
      async restartControlPlane() {
        await handle.controlPlane.stop();
        // The HTTP port changes: port 0 picks a free one again.
        handle.controlPlane = await start();
        handle.url = handle.controlPlane.url;
      },
      async stop() {
        await handle.controlPlane.stop().catch(() => undefined);
        await nats?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
    return handle;
  } catch (error) {
    await controlPlane?.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
