import { connect, type NatsConnection } from "@nats-io/transport-node";
import { closeIfDown, drainOrClose } from "@trellis/runtime";
import { startNatsServer } from "@trellis/testing";
import { describe, expect, it } from "vitest";

/** Resolves once `nc` reports that it lost its server. */
async function disconnected(nc: NatsConnection): Promise<void> {
  for await (const status of nc.status()) if (status.type === "disconnect") return;
}

describe("closeIfDown and drainOrClose", () => {
  it("leave a connected connection open / drain it", async () => {
    const server = await startNatsServer();
    try {
      const nc = await connect({ servers: server.url });
      expect(await closeIfDown(nc)).toBe(false);
      expect(nc.isClosed()).toBe(false);
      await drainOrClose(nc);
      expect(nc.isClosed()).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it("close at once when the server is gone, so subscription drains do not wait for reconnects", async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1 });
    const sub = nc.subscribe("work.>", { callback: () => undefined });
    await nc.flush();
    const lost = disconnected(nc);
    await server.stop();
    await lost;

    const started = Date.now();
    expect(await closeIfDown(nc)).toBe(true);
    await sub.drain().catch(() => undefined);
    await drainOrClose(nc);
    expect(nc.isClosed()).toBe(true);
    expect(Date.now() - started).toBeLessThan(500);
  });
});
