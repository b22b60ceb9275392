import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findNatsServerBinary, type NatsServerHandle, startNatsServer } from "./index.js";

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

describe("findNatsServerBinary", () => {
  it("returns an absolute path to an existing binary", () => {
    const bin = findNatsServerBinary();
    expect(isAbsolute(bin)).toBe(true);
    expect(existsSync(bin)).toBe(true);
  });
});

describe("startNatsServer with JetStream", () => {
  let server: NatsServerHandle | undefined;
  let nc: NatsConnection | undefined;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    try {
      await nc?.close();
    } finally {
      await server?.stop();
    }
  });

  it("listens on a loopback URL with a fresh store dir", () => {
    expect(server?.url).toBe(`nats://127.0.0.1:${server?.port}`);
    expect(server?.port).toBeGreaterThan(0);
    expect(existsSync(server?.storeDir ?? "")).toBe(true);
    expect(processIsAlive(server?.pid ?? -1)).toBe(true);
  });

  it("adds a stream, publishes with an ack and reads the message back", async () => {
    if (!nc) throw new Error("not connected");
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: "TRELLIS_TEST", subjects: ["trellis.test.>"] });
    expect(info.config.name).toBe("TRELLIS_TEST");

    const js = jetstream(nc);
    const ack = await js.publish("trellis.test.hello", JSON.stringify({ greeting: "hi" }));
    expect(ack.stream).toBe("TRELLIS_TEST");
    expect(ack.seq).toBe(1);
    expect(ack.duplicate).toBe(false);

    const second = await js.publish("trellis.test.again", "second");
    expect(second.seq).toBe(2);

    const stored = await jsm.streams.getMessage("TRELLIS_TEST", { seq: 1 });
    expect(stored).not.toBeNull();
    expect(stored?.subject).toBe("trellis.test.hello");
    expect(stored?.json<{ greeting: string }>()).toEqual({ greeting: "hi" });

    const consumer = await js.consumers.get("TRELLIS_TEST");
    const messages: string[] = [];
    for (let i = 0; i < 2; i++) {
      const msg = await consumer.next({ expires: 5_000 });
      if (msg) messages.push(`${msg.seq}:${msg.subject}:${msg.string()}`);
    }
    expect(messages).toEqual(['1:trellis.test.hello:{"greeting":"hi"}', "2:trellis.test.again:second"]);
  });
});

describe("NatsServerHandle.stop", () => {
  it("ends the server process and removes its store dir", async () => {
    const server = await startNatsServer();
    try {
      expect(processIsAlive(server.pid)).toBe(true);
      expect(existsSync(server.storeDir)).toBe(true);
      await server.stop();
      expect(() => process.kill(server.pid, 0)).toThrow();
      expect(existsSync(server.storeDir)).toBe(false);
      await server.stop(); // idempotent
    } finally {
      await server.stop();
    }
  });

  it("starts without JetStream when asked", async () => {
    const server = await startNatsServer({ jetstream: false });
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: server.url });
      expect(nc.info?.jetstream ?? false).toBe(false);
    } finally {
      await nc?.close();
      await server.stop();
    }
  });
});

describe("startNatsServer options", () => {
  it("passes extra args and config through to nats-server", async () => {
    const server = await startNatsServer({
      jetstream: false,
      args: ["--server_name", "trellis_testing_args"],
    });
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: server.url });
      expect(nc.info?.server_name).toBe("trellis_testing_args");
    } finally {
      await nc?.close();
      await server.stop();
    }
  });
});
