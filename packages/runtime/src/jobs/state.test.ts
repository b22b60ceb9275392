import { describe, expect, it } from "vitest";
import type { Job, JobEvent } from "./model.js";
import { jobIdForKey } from "./ref.js";
import { isTerminalJobState, reduceJobEvent } from "./state.js";
import { foldLatestEvents, parseJobEvent } from "./store.js";

const context = {
  requestId: "r",
  traceId: "a".repeat(32),
  traceparent: `00-${"a".repeat(32)}-${"b".repeat(16)}-01`,
};
let clock = 0;

function event(eventType: JobEvent["eventType"], fields: Partial<JobEvent> = {}): JobEvent {
  const states: Record<JobEvent["eventType"], JobEvent["state"]> = {
    created: "pending",
    started: "active",
    retry: "retry",
    progress: "active",
    logged: "active",
    completed: "completed",
    failed: "failed",
    cancelled: "cancelled",
    expired: "expired",
    retried: "pending",
    dead: "dead",
    dismissed: "dismissed",
  };
  clock += 1;
  return {
    jobId: "J",
    service: "svc",
    jobType: "q",
    eventType,
    state: states[eventType],
    context,
    tries: 1,
    maxTries: 3,
    timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, clock)).toISOString(),
    ...fields,
  };
}

function reduce(events: JobEvent[]): Job | undefined {
  return events.reduce<Job | undefined>((job, next) => reduceJobEvent(job, next), undefined);
}

describe("reduceJobEvent", () => {
  it("follows a job through its lifecycle, applying each event's fields", () => {
    const job = reduce([
      event("created", { tries: 0, payload: { n: 1 }, deadline: "2026-02-01T00:00:00.000Z" }),
      event("started", { previousState: "pending" }),
      event("progress", { previousState: "active", progress: { current: 1, total: 2 } }),
      event("logged", { previousState: "active", logs: [{ timestamp: "t", level: "info", message: "a" }] }),
      event("logged", { previousState: "active", logs: [{ timestamp: "t", level: "warn", message: "b" }] }),
      event("completed", { previousState: "active", result: { ok: true } }),
    ]);
    expect(job).toMatchObject({
      id: "J",
      service: "svc",
      type: "q",
      state: "completed",
      payload: { n: 1 },
      result: { ok: true },
      progress: { current: 1, total: 2 },
      deadline: "2026-02-01T00:00:00.000Z",
      tries: 1,
      maxTries: 3,
    });
    expect(job?.logs?.map((entry) => entry.message)).toEqual(["a", "b"]);
    expect(job?.startedAt).toBeDefined();
    expect(job?.completedAt).toBe(job?.updatedAt);
  });

  it("lets terminal states win: a late completed after expired, or a started after a cancel, is ignored", () => {
    const created = event("created", { tries: 0, payload: {} });
    const expired = reduce([
      created,
      event("started", { previousState: "pending" }),
      event("expired", { previousState: "active", error: "job exceeded deadline" }),
      event("completed", { previousState: "active", result: 1 }),
    ]);
    expect(expired).toMatchObject({ state: "expired", lastError: "job exceeded deadline" });
    expect(expired?.result).toBeUndefined();
    const cancelled = reduce([
      created,
      event("cancelled", { previousState: "pending" }),
      event("started", { previousState: "pending" }),
    ]);
    expect(cancelled?.state).toBe("cancelled");
  });

  it("requires the expected previous state unless told otherwise", () => {
    const active = reduce([
      event("created", { tries: 0, payload: {} }),
      event("started", { previousState: "pending" }),
    ]);
    const stale = event("cancelled", { previousState: "pending" });
    expect(reduceJobEvent(active, stale)?.state).toBe("active");
    expect(reduceJobEvent(active, stale, { checkPreviousState: false })?.state).toBe("cancelled");
  });

  it("re-opens failed and dead jobs with retried, resetting the attempt", () => {
    const job = reduce([
      event("created", { tries: 0, payload: { v: 1 } }),
      event("started", { previousState: "pending" }),
      event("failed", { previousState: "active", error: "nope" }),
      event("retried", { previousState: "failed", tries: 0, payload: { v: 1 } }),
    ]);
    expect(job).toMatchObject({ state: "pending", tries: 0, payload: { v: 1 } });
    expect(job?.lastError).toBeUndefined();
    expect(job?.completedAt).toBeUndefined();
    expect(reduceJobEvent(job, event("created", { payload: { v: 2 } }))).toBe(job);
  });

  it("knows the terminal states", () => {
    expect(
      ["completed", "failed", "cancelled", "expired", "dead", "dismissed"].every((s) =>
        isTerminalJobState(s as never),
      ),
    ).toBe(true);
    expect(["pending", "active", "retry"].some((s) => isTerminalJobState(s as never))).toBe(false);
  });
});

describe("foldLatestEvents", () => {
  const stored = (seq: number, e: JobEvent) => ({ seq, event: e });

  it("folds the latest event of each type in stream order", () => {
    // Full history: created, started, retry, started, progress, completed.
    const job = foldLatestEvents([
      stored(1, event("created", { tries: 0, payload: { p: 1 } })),
      stored(3, event("retry", { previousState: "active", tries: 1, error: "x" })),
      stored(4, event("started", { previousState: "retry", tries: 2 })),
      stored(5, event("progress", { previousState: "active", tries: 2, progress: { current: 1 } })),
      stored(6, event("completed", { previousState: "active", tries: 2, result: "r" })),
    ]);
    expect(job).toMatchObject({
      state: "completed",
      tries: 2,
      result: "r",
      payload: { p: 1 },
    });
  });

  it("keeps a cancel that a stray progress or started followed", () => {
    const job = foldLatestEvents([
      stored(1, event("created", { tries: 0, payload: {} })),
      stored(2, event("started", { previousState: "pending" })),
      stored(3, event("cancelled", { previousState: "pending", error: "cancelled" })),
      stored(4, event("progress", { previousState: "active" })),
    ]);
    expect(job?.state).toBe("cancelled");
  });

  it("starts over from the latest retried", () => {
    const job = foldLatestEvents([
      stored(1, event("created", { tries: 0, payload: { p: 1 } })),
      stored(3, event("failed", { previousState: "active", error: "first" })),
      stored(4, event("retried", { previousState: "failed", tries: 0, payload: { p: 1 } })),
      stored(5, event("started", { previousState: "pending" })),
    ]);
    expect(job).toMatchObject({ state: "active", payload: { p: 1 } });
    expect(job?.lastError).toBeUndefined();
    expect(foldLatestEvents([stored(2, event("started"))])).toBeUndefined();
  });

  it("leaves log entries out (only the latest batch is read)", () => {
    const job = foldLatestEvents([
      stored(1, event("created", { tries: 0, payload: {} })),
      stored(2, event("started", { previousState: "pending" })),
      stored(
        3,
        event("logged", { previousState: "active", logs: [{ timestamp: "t", level: "info", message: "m" }] }),
      ),
    ]);
    expect(job?.logs).toBeUndefined();
  });
});

describe("parseJobEvent", () => {
  it("accepts lifecycle events and refuses anything else", () => {
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    expect(parseJobEvent(encode(event("created", { payload: 1 })))?.eventType).toBe("created");
    expect(parseJobEvent(encode({ ...event("created"), eventType: "exploded" }))).toBeUndefined();
    expect(
      parseJobEvent(encode({ service: "svc", jobType: "q", instanceId: "i", timestamp: "t" })),
    ).toBeUndefined();
    expect(parseJobEvent(new TextEncoder().encode("not json"))).toBeUndefined();
  });
});

describe("jobIdForKey", () => {
  it("maps a key to the same ULID-shaped id, distinct per queue and key", () => {
    const id = jobIdForKey("svc", "q", "order-1");
    expect(id).toMatch(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    expect(jobIdForKey("svc", "q", "order-1")).toBe(id);
    expect(jobIdForKey("svc", "q", "order-2")).not.toBe(id);
    expect(jobIdForKey("svc", "other", "order-1")).not.toBe(id);
    expect(jobIdForKey("svc2", "q", "order-1")).not.toBe(id);
  });
});
