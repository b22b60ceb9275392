import { JOB_EVENT_TYPES, type JobEventType } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import { EVENT_AT, JOB_CONTEXT, jobEvent, testJob } from "../../test/support/jobs.js";
import type { Job, JobEvent, JobState } from "./model.js";
import { jobIdForKey } from "./ref.js";
import {
  isTerminalJobState,
  JOB_EVENT_STATE,
  JOB_TRANSITIONS,
  jobEventMismatch,
  reduceJobEvent,
  seedJob,
} from "./state.js";
import { foldLatestEvents, parseJobEvent } from "./store.js";

function reduce(events: JobEvent[]): Job | undefined {
  return events.reduce<Job | undefined>((current, next) => reduceJobEvent(current, next), undefined);
}

/** Applies an event that must apply. */
function apply(current: Job, next: JobEvent): Job {
  const reason = jobEventMismatch(current, next);
  if (reason !== undefined) throw new Error(reason);
  return reduceJobEvent(current, next) as Job;
}

/** The spec's tables (§3.3, §3.4). */
const EVENT_STATES: Record<JobEventType, JobState> = {
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
const LEGAL: Record<Exclude<JobEventType, "created">, JobState[]> = {
  started: ["pending", "retry"],
  retry: ["active"],
  progress: ["active"],
  logged: ["active"],
  completed: ["active"],
  failed: ["active"],
  cancelled: ["pending", "retry", "active"],
  expired: ["pending", "retry", "active"],
  retried: ["failed", "dead"],
  dead: ["active", "retry", "failed", "expired"],
  dismissed: ["dead"],
};
const STATES = [...new Set(Object.values(EVENT_STATES))];

describe("job transitions", () => {
  it("uses the spec's tables", () => {
    expect(JOB_EVENT_STATE).toEqual(EVENT_STATES);
    expect(JOB_TRANSITIONS).toEqual(LEGAL);
  });

  const kinds = JOB_EVENT_TYPES.filter(
    (type): type is Exclude<JobEventType, "created"> => type !== "created",
  );
  for (const eventType of kinds) {
    for (const from of STATES) {
      const legal = LEGAL[eventType].includes(from);
      it(`${eventType} from ${from} ${legal ? "applies" : "is ignored"}`, () => {
        const current = testJob(from);
        const reduced = reduceJobEvent(current, jobEvent(eventType, { previousState: from }));
        if (legal) {
          expect(reduced?.state).toBe(EVENT_STATES[eventType]);
          expect(reduced?.updatedAt).toBe(EVENT_AT);
        } else {
          expect(reduced).toBe(current);
          expect(jobEventMismatch(current, jobEvent(eventType, { previousState: from }))).toBe(
            `'${eventType}' from '${from}' does not apply to a '${from}' job`,
          );
        }
      });
    }
    it(`${eventType} with a previousState other than the current state is ignored`, () => {
      const from = LEGAL[eventType][0] as JobState;
      const other = STATES.find((state) => state !== from) as JobState;
      const current = testJob(from);
      expect(reduceJobEvent(current, jobEvent(eventType, { previousState: other }))).toBe(current);
      expect(reduceJobEvent(current, jobEvent(eventType))).toBe(current);
      expect(jobEventMismatch(current, jobEvent(eventType))).toBe(
        `'${eventType}' from '(none)' does not apply to a '${from}' job`,
      );
    });
    it(`${eventType} for an unknown job is ignored`, () => {
      expect(reduceJobEvent(undefined, jobEvent(eventType, { previousState: "pending" }))).toBeUndefined();
      expect(jobEventMismatch(undefined, jobEvent(eventType, { previousState: "pending" }))).toBe(
        "unknown job",
      );
    });
  }

  it("requires the expected previous state unless told otherwise", () => {
    const active = reduce([
      jobEvent("created", { tries: 0, payload: {} }),
      jobEvent("started", { previousState: "pending" }),
    ]);
    const stale = jobEvent("cancelled", { previousState: "pending" });
    expect(reduceJobEvent(active, stale)?.state).toBe("active");
    expect(reduceJobEvent(active, stale, { checkPreviousState: false })?.state).toBe("cancelled");
  });

  it("lets terminal states win: a late completed after expired, or a started after a cancel, is ignored", () => {
    const created = jobEvent("created", { tries: 0, payload: {} });
    const expired = reduce([
      created,
      jobEvent("started", { previousState: "pending" }),
      jobEvent("expired", { previousState: "active", error: "job exceeded deadline" }),
      jobEvent("completed", { previousState: "active", result: 1 }),
    ]);
    expect(expired).toMatchObject({ state: "expired", lastError: "job exceeded deadline" });
    expect(expired?.result).toBeUndefined();
    const cancelled = reduce([
      created,
      jobEvent("cancelled", { previousState: "pending" }),
      jobEvent("started", { previousState: "pending" }),
    ]);
    expect(cancelled?.state).toBe("cancelled");
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

describe("created", () => {
  it("seeds a pending job", () => {
    const created = jobEvent("created", {
      tries: 0,
      maxTries: 4,
      payload: { amount: 5 },
      deadline: "2026-01-02T00:00:00.000Z",
      timestamp: "2026-01-01T00:00:00.000Z",
    });
    expect(reduceJobEvent(undefined, created)).toEqual({
      id: "J",
      service: "svc",
      type: "q",
      state: "pending",
      context: JOB_CONTEXT,
      payload: { amount: 5 },
      createdAt: "2026-01-01T00:00:00.000Z",
      updatedAt: "2026-01-01T00:00:00.000Z",
      tries: 0,
      maxTries: 4,
      deadline: "2026-01-02T00:00:00.000Z",
    });
  });

  it("defaults maxTries and ignores a second created", () => {
    const bare = jobEvent("created", { tries: 0, payload: 1, maxTries: undefined });
    expect(reduceJobEvent(undefined, bare)?.maxTries).toBe(1);
    expect(reduceJobEvent(undefined, bare, { defaultMaxTries: 5 })?.maxTries).toBe(5);
    expect(seedJob(bare, 7).maxTries).toBe(7);
    const current = testJob("active");
    expect(reduceJobEvent(current, jobEvent("created", { tries: 0, payload: 2 }))).toBe(current);
    expect(jobEventMismatch(current, jobEvent("created", { tries: 0, payload: 2 }))).toBe(
      "job already exists",
    );
  });
});

describe("field effects", () => {
  it("follows a job through its lifecycle, applying each event's fields", () => {
    let clock = 0;
    const at = () => new Date(Date.UTC(2026, 0, 1, 0, 0, ++clock)).toISOString();
    const done = reduce([
      jobEvent("created", {
        tries: 0,
        payload: { n: 1 },
        deadline: "2026-02-01T00:00:00.000Z",
        timestamp: at(),
      }),
      jobEvent("started", { previousState: "pending", timestamp: at() }),
      jobEvent("progress", { previousState: "active", progress: { current: 1, total: 2 }, timestamp: at() }),
      jobEvent("logged", {
        previousState: "active",
        logs: [{ timestamp: "t", level: "info", message: "a" }],
        timestamp: at(),
      }),
      jobEvent("logged", {
        previousState: "active",
        logs: [{ timestamp: "t", level: "warn", message: "b" }],
        timestamp: at(),
      }),
      jobEvent("completed", { previousState: "active", result: { ok: true }, timestamp: at() }),
    ]);
    expect(done).toMatchObject({
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
    expect(done?.logs?.map((entry) => entry.message)).toEqual(["a", "b"]);
    expect(done?.startedAt).toBe("2026-01-01T00:00:02.000Z");
    expect(done?.completedAt).toBe(done?.updatedAt);
  });

  it("started sets startedAt, tries and keeps maxTries when absent", () => {
    const started = apply(
      testJob("pending"),
      jobEvent("started", { previousState: "pending", tries: 2, maxTries: undefined }),
    );
    expect(started).toMatchObject({ state: "active", startedAt: EVENT_AT, tries: 2, maxTries: 3 });
    const raised = apply(testJob("pending"), jobEvent("started", { previousState: "pending", maxTries: 7 }));
    expect(raised.maxTries).toBe(7);
  });

  it("progress replaces progress; logged appends logs", () => {
    const first = apply(
      testJob("active"),
      jobEvent("progress", { previousState: "active", progress: { current: 1, total: 3 } }),
    );
    const second = apply(first, jobEvent("progress", { previousState: "active", progress: { step: "b" } }));
    expect(second.progress).toEqual({ step: "b" });
    const line = (message: string) => ({
      timestamp: "2026-01-01T00:00:05.000Z",
      level: "info" as const,
      message,
    });
    const logged = apply(second, jobEvent("logged", { previousState: "active", logs: [line("a")] }));
    const more = apply(logged, jobEvent("logged", { previousState: "active", logs: [line("b"), line("c")] }));
    expect(more.logs?.map((entry) => entry.message)).toEqual(["a", "b", "c"]);
  });

  it("completed sets result and completedAt", () => {
    const done = apply(
      testJob("active"),
      jobEvent("completed", { previousState: "active", result: { ok: true } }),
    );
    expect(done).toMatchObject({ state: "completed", result: { ok: true }, completedAt: EVENT_AT });
  });

  for (const [eventType, from] of [
    ["failed", "active"],
    ["cancelled", "pending"],
    ["expired", "retry"],
    ["dead", "retry"],
    ["dismissed", "dead"],
  ] as const) {
    it(`${eventType} sets lastError (or clears it) and completedAt`, () => {
      const ended = apply(
        testJob(from),
        jobEvent(eventType, { previousState: from, error: `${eventType}!` }),
      );
      expect(ended).toMatchObject({ lastError: `${eventType}!`, completedAt: EVENT_AT });
      const silent = apply(
        testJob(from, { lastError: "earlier" }),
        jobEvent(eventType, { previousState: from }),
      );
      expect(silent.lastError).toBeUndefined();
    });
  }

  it("retry sets lastError only", () => {
    const retrying = apply(testJob("active"), jobEvent("retry", { previousState: "active", error: "flaky" }));
    expect(retrying).toMatchObject({ state: "retry", lastError: "flaky" });
    expect(retrying.completedAt).toBeUndefined();
  });

  it("re-opens failed and dead jobs with retried, resetting the attempt", () => {
    const reopened = reduce([
      jobEvent("created", { tries: 0, payload: { v: 1 } }),
      jobEvent("started", { previousState: "pending" }),
      jobEvent("failed", { previousState: "active", error: "nope" }),
      jobEvent("retried", { previousState: "failed", tries: 0, payload: { v: 1 } }),
    ]);
    expect(reopened).toMatchObject({ state: "pending", tries: 0, payload: { v: 1 } });
    expect(reopened?.lastError).toBeUndefined();
    expect(reopened?.completedAt).toBeUndefined();
    expect(reduceJobEvent(reopened, jobEvent("created", { payload: { v: 2 } }))).toBe(reopened);
  });

  it("retried clears the run, resets tries and copies payload and deadline", () => {
    const dead = testJob("dead", {
      result: 1,
      startedAt: "2026-01-01T00:00:02.000Z",
      completedAt: "2026-01-01T00:00:03.000Z",
      lastError: "boom",
      progress: { current: 1 },
      logs: [{ timestamp: "2026-01-01T00:00:02.000Z", level: "error", message: "x" }],
      deadline: "2026-01-01T01:00:00.000Z",
      tries: 5,
    });
    const retried = apply(
      dead,
      jobEvent("retried", {
        previousState: "dead",
        tries: 0,
        payload: { amount: 6 },
        deadline: "2026-01-03T00:00:00.000Z",
      }),
    );
    expect(retried).toEqual({
      ...testJob("pending"),
      payload: { amount: 6 },
      deadline: "2026-01-03T00:00:00.000Z",
      tries: 0,
      updatedAt: EVENT_AT,
    });
    const noDeadline = apply(dead, jobEvent("retried", { previousState: "dead", tries: 0 }));
    expect(noDeadline.deadline).toBeUndefined();
    expect(noDeadline.payload).toEqual({ amount: 5 });
  });
});

describe("foldLatestEvents", () => {
  const stored = (seq: number, e: JobEvent) => ({ seq, event: e });

  it("folds the latest event of each type in stream order", () => {
    // Full history: created, started, retry, started, progress, completed.
    const job = foldLatestEvents([
      stored(1, jobEvent("created", { tries: 0, payload: { p: 1 } })),
      stored(3, jobEvent("retry", { previousState: "active", tries: 1, error: "x" })),
      stored(4, jobEvent("started", { previousState: "retry", tries: 2 })),
      stored(5, jobEvent("progress", { previousState: "active", tries: 2, progress: { current: 1 } })),
      stored(6, jobEvent("completed", { previousState: "active", tries: 2, result: "r" })),
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
      stored(1, jobEvent("created", { tries: 0, payload: {} })),
      stored(2, jobEvent("started", { previousState: "pending" })),
      stored(3, jobEvent("cancelled", { previousState: "pending", error: "cancelled" })),
      stored(4, jobEvent("progress", { previousState: "active" })),
    ]);
    expect(job?.state).toBe("cancelled");
  });

  it("starts over from the latest retried", () => {
    const job = foldLatestEvents([
      stored(1, jobEvent("created", { tries: 0, payload: { p: 1 } })),
      stored(3, jobEvent("failed", { previousState: "active", error: "first" })),
      stored(4, jobEvent("retried", { previousState: "failed", tries: 0, payload: { p: 1 } })),
      stored(5, jobEvent("started", { previousState: "pending" })),
    ]);
    expect(job).toMatchObject({ state: "active", payload: { p: 1 } });
    expect(job?.lastError).toBeUndefined();
    expect(foldLatestEvents([stored(2, jobEvent("started"))])).toBeUndefined();
  });

  it("leaves log entries out (only the latest batch is read)", () => {
    const job = foldLatestEvents([
      stored(1, jobEvent("created", { tries: 0, payload: {} })),
      stored(2, jobEvent("started", { previousState: "pending" })),
      stored(
        3,
        jobEvent("logged", {
          previousState: "active",
          logs: [{ timestamp: "t", level: "info", message: "m" }],
        }),
      ),
    ]);
    expect(job?.logs).toBeUndefined();
  });
});

describe("parseJobEvent", () => {
  it("accepts lifecycle events and refuses anything else", () => {
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    expect(parseJobEvent(encode(jobEvent("created", { payload: 1 })))?.eventType).toBe("created");
    expect(parseJobEvent(encode({ ...jobEvent("created"), eventType: "exploded" }))).toBeUndefined();
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
