import { describe, expect, it } from "vitest";
import { ReplayCache } from "../src/rpc/replay-cache.js";
import { ControlPlaneSessionAuthority, notifySessionInvalidated } from "../src/rpc/session-authority.js";
import type { ControlPlaneStore } from "../src/store/store.js";

describe("ReplayCache", () => {
  it("accepts a request id once per session within the window", () => {
    const cache = new ReplayCache(30_000);
    expect(cache.remember("key-a", "req-1", 0)).toBe(true);
    expect(cache.remember("key-a", "req-1", 29_999)).toBe(false);
    expect(cache.remember("key-b", "req-1", 29_999)).toBe(true);
    expect(cache.remember("key-a", "req-2", 29_999)).toBe(true);
  });

  it("forgets entries once the window has passed", () => {
    const cache = new ReplayCache(30_000);
    cache.remember("key", "req-1", 0);
    cache.remember("key", "req-2", 10_000);
    expect(cache.remember("key", "req-3", 30_000)).toBe(true);
    expect(cache.size).toBe(2);
    expect(cache.remember("key", "req-1", 30_001)).toBe(true);
  });

  it("stays within its bound by dropping the oldest entries", () => {
    const cache = new ReplayCache(30_000, 3);
    for (let n = 0; n < 10; n++) cache.remember("key", `req-${n}`, n);
    expect(cache.size).toBeLessThanOrEqual(3);
    expect(cache.remember("key", "req-9", 10)).toBe(false);
  });
});

describe("session invalidation", () => {
  it("reaches every authority over the same store, and only those", () => {
    const store = {} as ControlPlaneStore;
    const other = {} as ControlPlaneStore;
    const heard: string[] = [];
    const first = new ControlPlaneSessionAuthority({ store, now: () => new Date() });
    const second = new ControlPlaneSessionAuthority({ store, now: () => new Date() });
    const elsewhere = new ControlPlaneSessionAuthority({ store: other, now: () => new Date() });
    const stop = first.onInvalidate((key) => heard.push(`first:${key}`));
    second.onInvalidate((key) => heard.push(`second:${key}`));
    elsewhere.onInvalidate((key) => heard.push(`elsewhere:${key}`));

    notifySessionInvalidated(store, "k1");
    second.invalidate("k2");
    stop();
    notifySessionInvalidated(store, "k3");
    expect(heard).toEqual(["first:k1", "second:k1", "first:k2", "second:k2", "second:k3"]);
  });
});
