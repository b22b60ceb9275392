import { describe, expect, it } from "vitest";
import { CalloutLimiter } from "./limiter.js";

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe("CalloutLimiter", () => {
  it("refuses beyond the per-client limit and admits again once one finishes", async () => {
    const limiter = new CalloutLimiter({ maxInFlight: 10, maxQueued: 10, perClient: 2, perServer: 10 });
    const g = gate();
    const first = limiter.run("ip", "srv", () => g.opened);
    const second = limiter.run("ip", "srv", () => g.opened);
    expect(await limiter.run("ip", "srv", async () => undefined)).toBe(false);
    expect(await limiter.run("other-ip", "srv", async () => undefined)).toBe(true);
    g.open();
    expect(await first).toBe(true);
    expect(await second).toBe(true);
    expect(await limiter.run("ip", "srv", async () => undefined)).toBe(true);
  });

  it("refuses beyond the per-server limit", async () => {
    const limiter = new CalloutLimiter({ maxInFlight: 10, maxQueued: 10, perClient: 10, perServer: 1 });
    const g = gate();
    const first = limiter.run("a", "srv", () => g.opened);
    expect(await limiter.run("b", "srv", async () => undefined)).toBe(false);
    g.open();
    await first;
  });

  it("queues beyond the in-flight limit and refuses beyond the queue", async () => {
    const limiter = new CalloutLimiter({ maxInFlight: 1, maxQueued: 1, perClient: 10, perServer: 10 });
    const g = gate();
    const order: string[] = [];
    const first = limiter.run("a", "s1", async () => {
      await g.opened;
      order.push("first");
    });
    const queued = limiter.run("b", "s2", async () => {
      order.push("queued");
    });
    expect(await limiter.run("c", "s3", async () => undefined)).toBe(false);
    g.open();
    expect(await first).toBe(true);
    expect(await queued).toBe(true);
    expect(order).toEqual(["first", "queued"]);
  });

  it("reports a task that ran and returned nothing as admitted", async () => {
    const limiter = new CalloutLimiter();
    expect(await limiter.run("a", "s", async () => undefined)).toBe(true);
  });
});
