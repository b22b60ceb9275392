import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  findNatsServerBinary,
  freeLoopbackPort,
  type NatsServerProcess,
  NatsServerStartError,
  natsServerVersion,
  spawnNatsServer,
} from "./server-process.js";

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

let workDir: string;
const servers: NatsServerProcess[] = [];
const connections: NatsConnection[] = [];

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), "trellis-server-process-"));
});

afterEach(async () => {
  for (const nc of connections.splice(0)) await nc.close().catch(() => undefined);
  for (const server of servers.splice(0)) await server.stop();
  await rm(workDir, { recursive: true, force: true });
});

async function spawnTracked(storeDir: string, jetstreamOn = true): Promise<NatsServerProcess> {
  const server = await spawnNatsServer({ port: await freeLoopbackPort(), storeDir, jetstream: jetstreamOn });
  servers.push(server);
  return server;
}

async function connectTracked(url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url });
  connections.push(nc);
  return nc;
}

describe("findNatsServerBinary", () => {
  it("returns an absolute path to a nats-server >= 2.10", () => {
    const bin = findNatsServerBinary();
    expect(isAbsolute(bin)).toBe(true);
    expect(existsSync(bin)).toBe(true);
    const [major = 0, minor = 0] = (natsServerVersion(bin) ?? "0.0.0").split(".").map(Number);
    expect(major > 2 || (major === 2 && minor >= 10)).toBe(true);
  });

  it("rejects a too-old binary and points at the installer", () => {
    const fakeRoot = join(workDir, "repo");
    const bin = join(fakeRoot, ".tools", "bin", "nats-server");
    mkdirSync(join(fakeRoot, ".tools", "bin"), { recursive: true });
    writeFileSync(bin, "#!/bin/sh\necho 'nats-server: v2.9.0'\n");
    chmodSync(bin, 0o755);
    expect(natsServerVersion(bin)).toBe("2.9.0");

    const saved = { env: process.env.TRELLIS_NATS_SERVER, path: process.env.PATH };
    try {
      process.env.TRELLIS_NATS_SERVER = bin;
      process.env.PATH = join(workDir, "empty");
      expect(() => findNatsServerBinary({ repoRoot: fakeRoot })).toThrow(
        /2\.9\.0 < 2\.10.*install-nats-server\.sh/s,
      );
    } finally {
      if (saved.env === undefined) delete process.env.TRELLIS_NATS_SERVER;
      else process.env.TRELLIS_NATS_SERVER = saved.env;
      process.env.PATH = saved.path;
    }
  });
});

describe("spawnNatsServer", () => {
  it("serves on the given loopback port and stop() keeps the store dir", async () => {
    const storeDir = join(workDir, "store");
    const server = await spawnTracked(storeDir);
    expect(server.host).toBe("127.0.0.1");
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(processIsAlive(server.pid)).toBe(true);
    const nc = await connectTracked(server.url);
    expect(nc.info?.jetstream).toBe(true);
    await nc.close();

    await server.stop();
    await server.stop(); // idempotent
    expect(processIsAlive(server.pid)).toBe(false);
    expect(existsSync(storeDir)).toBe(true);
    await expect(server.exited).resolves.toSatisfy((code) => code === null || typeof code === "number");
  });

  it("keeps a JetStream stream across a restart on the same store dir", async () => {
    const storeDir = join(workDir, "persistent");
    const first = await spawnTracked(storeDir);
    const nc1 = await connectTracked(first.url);
    const jsm1 = await jetstreamManager(nc1);
    await jsm1.streams.add({ name: "TRELLIS_DEV", subjects: ["trellis.dev.>"] });
    const ack = await jetstream(nc1).publish("trellis.dev.hello", "kept");
    expect(ack.seq).toBe(1);
    await nc1.close();
    await first.stop();

    const second = await spawnTracked(storeDir);
    const nc2 = await connectTracked(second.url);
    const jsm2 = await jetstreamManager(nc2);
    const info = await jsm2.streams.info("TRELLIS_DEV");
    expect(info.state.messages).toBe(1);
    const stored = await jsm2.streams.getMessage("TRELLIS_DEV", { seq: 1 });
    expect(stored?.string()).toBe("kept");
  });

  it("starts without JetStream when asked", async () => {
    const server = await spawnTracked(join(workDir, "unused"), false);
    const nc = await connectTracked(server.url);
    expect(nc.info?.jetstream ?? false).toBe(false);
  });

  it("reports a taken port with the server's output", async () => {
    const blocker: Server = createServer();
    const port = await new Promise<number>((resolvePort, reject) => {
      blocker.once("error", reject);
      blocker.listen({ host: "127.0.0.1", port: 0 }, () => {
        const address = blocker.address();
        if (address === null || typeof address === "string") reject(new Error("no port"));
        else resolvePort(address.port);
      });
    });
    try {
      const error = await spawnNatsServer({
        port,
        storeDir: join(workDir, "taken"),
        readyTimeoutMs: 5_000,
      }).then(
        () => new Error("expected spawnNatsServer to fail"),
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(NatsServerStartError);
      expect((error as NatsServerStartError).portInUse).toBe(true);
      expect((error as NatsServerStartError).message).toMatch(/address already in use/i);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it("fails with the server's output when the arguments are invalid", async () => {
    await expect(
      spawnNatsServer({
        port: await freeLoopbackPort(),
        storeDir: join(workDir, "bad"),
        args: ["--no-such-flag"],
      }),
    ).rejects.toThrow(/exited during startup[\s\S]*--- nats-server output ---/);
  });
});
