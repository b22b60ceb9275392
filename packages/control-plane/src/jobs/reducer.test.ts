import { JOB_EVENT_TYPES, type JobEventType } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import {
  EVENT_STATE,
  epochNanos,
  JOB_STATES,
  type Job,
  type JobEvent,
  type JobState,
  parseJobEvent,
} from "./model.js";
import { ALLOWED_FROM, DEFAULT_MAX_TRIES, reduceJob } from "./reducer.js";

const context = {
  requestId: "01J00000000000000000000000",
  traceId: "0af7651916cd43dd8448eb211c80319c",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
};

function event(eventType: JobEventType, fields: Partial<JobEvent> = {}): JobEvent {
  return {
    jobId: "job1",
    service: "billing",
    jobType: "refund",
    eventType,
    state: EVENT_STATE[eventType],
    context,
    tries: 1,
    timestamp: "2026-01-01T00:00:10.000Z",
    ...fields,
  };
}

function job(state: JobState, fields: Partial<Job> = {}): Job {
  return {
    id: "job1",
    service: "billing",
    type: "refund",
    state,
    context,
    payload: { amount: 5 },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:01.000Z",
    tries: 1,
    maxTries: 3,
    ...fields,
  };
}

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

describe("reduceJob transitions", () => {
  it("uses the spec's table", () => {
    expect(ALLOWED_FROM).toEqual(LEGAL);
  });

  const kinds = JOB_EVENT_TYPES.filter(
    (type): type is Exclude<JobEventType, "created"> => type !== "created",
  );
  for (const eventType of kinds) {
    for (const from of JOB_STATES) {
      const legal = LEGAL[eventType].includes(from);
      it(`${eventType} from ${from} ${legal ? "applies" : "is ignored"}`, () => {
        const reduced = reduceJob(job(from), event(eventType, { previousState: from }));
        expect(reduced.applied).toBe(legal);
        if (reduced.applied) {
          expect(reduced.job.state).toBe(EVENT_STATE[eventType]);
          expect(reduced.job.updatedAt).toBe("2026-01-01T00:00:10.000Z");
        }
      });
    }
    it(`${eventType} with a previousState other than the current state is ignored`, () => {
      const from = LEGAL[eventType][0] as JobState;
      const other = JOB_STATES.find((state) => state !== from) as JobState;
      expect(reduceJob(job(from), event(eventType, { previousState: other })).applied).toBe(false);
      expect(reduceJob(job(from), event(eventType)).applied).toBe(false);
    });
    it(`${eventType} for an unknown job is ignored`, () => {
      expect(reduceJob(undefined, event(eventType, { previousState: "pending" }))).toEqual({
        applied: false,
        reason: "unknown job",
      });
    });
  }

  it("ignores an event for the same id under another service or job type", () => {
    const moved = event("started", { previousState: "pending", service: "other" });
    expect(reduceJob(job("pending"), moved).applied).toBe(false);
  });

  it("gives terminal precedence: a late completed does not undo expired", () => {
    const expired = reduceJob(
      job("active"),
      event("expired", { previousState: "active", error: "job exceeded deadline" }),
    );
    if (!expired.applied) throw new Error("expired should apply");
    const late = reduceJob(expired.job, event("completed", { previousState: "active", result: 1 }));
    expect(late.applied).toBe(false);
  });
});

describe("reduceJob created", () => {
  it("seeds a pending job from created", () => {
    const created = event("created", {
      tries: 0,
      maxTries: 4,
      payload: { amount: 5 },
      deadline: "2026-01-02T00:00:00.000Z",
      timestamp: "2026-01-01T00:00:00.000Z",
    });
    expect(reduceJob(undefined, created)).toEqual({
      applied: true,
      job: {
        id: "job1",
        service: "billing",
        type: "refund",
        state: "pending",
        context,
        payload: { amount: 5 },
        createdAt: "2026-01-01T00:00:00.000Z",
        updatedAt: "2026-01-01T00:00:00.000Z",
        tries: 0,
        maxTries: 4,
        deadline: "2026-01-02T00:00:00.000Z",
      },
    });
  });

  it("defaults maxTries and ignores a second created", () => {
    const seeded = reduceJob(undefined, event("created", { tries: 0, payload: 1 }));
    expect(seeded.applied && seeded.job.maxTries).toBe(DEFAULT_MAX_TRIES);
    expect(reduceJob(job("active"), event("created", { tries: 0, payload: 2 })).applied).toBe(false);
  });
});

describe("reduceJob field effects", () => {
  function apply(current: Job, next: JobEvent): Job {
    const reduced = reduceJob(current, next);
    if (!reduced.applied) throw new Error(reduced.reason);
    return reduced.job;
  }

  it("started sets startedAt, tries and keeps maxTries when absent", () => {
    const started = apply(job("pending"), event("started", { previousState: "pending", tries: 2 }));
    expect(started).toMatchObject({
      state: "active",
      startedAt: "2026-01-01T00:00:10.000Z",
      tries: 2,
      maxTries: 3,
    });
    const raised = apply(job("pending"), event("started", { previousState: "pending", maxTries: 7 }));
    expect(raised.maxTries).toBe(7);
  });

  it("progress replaces progress; logged appends logs", () => {
    const first = apply(
      job("active"),
      event("progress", { previousState: "active", progress: { current: 1, total: 3 } }),
    );
    const second = apply(first, event("progress", { previousState: "active", progress: { step: "b" } }));
    expect(second.progress).toEqual({ step: "b" });
    const line = (message: string) => ({
      timestamp: "2026-01-01T00:00:05.000Z",
      level: "info" as const,
      message,
    });
    const logged = apply(second, event("logged", { previousState: "active", logs: [line("a")] }));
    const more = apply(logged, event("logged", { previousState: "active", logs: [line("b"), line("c")] }));
    expect(more.logs?.map((entry) => entry.message)).toEqual(["a", "b", "c"]);
  });

  it("completed sets result and completedAt", () => {
    const done = apply(job("active"), event("completed", { previousState: "active", result: { ok: true } }));
    expect(done).toMatchObject({
      state: "completed",
      result: { ok: true },
      completedAt: "2026-01-01T00:00:10.000Z",
    });
  });

  for (const [eventType, from] of [
    ["failed", "active"],
    ["cancelled", "pending"],
    ["expired", "retry"],
    ["dead", "retry"],
    ["dismissed", "dead"],
  ] as const) {
    it(`${eventType} sets lastError and completedAt`, () => {
      const ended = apply(job(from), event(eventType, { previousState: from, error: `${eventType}!` }));
      expect(ended).toMatchObject({ lastError: `${eventType}!`, completedAt: "2026-01-01T00:00:10.000Z" });
    });
  }

  it("retry sets lastError only", () => {
    const retrying = apply(job("active"), event("retry", { previousState: "active", error: "flaky" }));
    expect(retrying).toMatchObject({ state: "retry", lastError: "flaky" });
    expect(retrying.completedAt).toBeUndefined();
  });

  it("retried clears the run, resets tries and copies payload and deadline", () => {
    const dead = job("dead", {
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
      event("retried", {
        previousState: "dead",
        tries: 0,
        payload: { amount: 6 },
        deadline: "2026-01-03T00:00:00.000Z",
      }),
    );
    expect(retried).toEqual({
      ...job("pending"),
      payload: { amount: 6 },
      deadline: "2026-01-03T00:00:00.000Z",
      tries: 0,
      updatedAt: "2026-01-01T00:00:10.000Z",
    });
    const noDeadline = apply(dead, event("retried", { previousState: "dead", tries: 0 }));
    expect(noDeadline.deadline).toBeUndefined();
    expect(noDeadline.payload).toEqual({ amount: 5 });
  });
});

describe("parseJobEvent", () => {
  const wire = { ...event("created", { tries: 0, payload: { a: 1 } }) };

  it("accepts a created event and drops null optionals", () => {
    expect(parseJobEvent({ ...wire, error: null, deadline: null })).toEqual(wire);
  });

  it("keeps a null payload and refuses a created without one", () => {
    expect(parseJobEvent({ ...wire, payload: null })?.payload).toBeNull();
    const { payload: _payload, ...bare } = wire;
    expect(parseJobEvent(bare)).toBeUndefined();
  });

  it("refuses a state that does not match the event type, and bad shapes", () => {
    expect(parseJobEvent({ ...wire, state: "active" })).toBeUndefined();
    expect(parseJobEvent({ ...wire, jobId: "a.b" })).toBeUndefined();
    expect(parseJobEvent({ ...wire, timestamp: "yesterday" })).toBeUndefined();
    expect(parseJobEvent("nope")).toBeUndefined();
  });
});

describe("epochNanos", () => {
  it("keeps sub-millisecond digits and honours offsets", () => {
    expect(epochNanos("1970-01-01T00:00:01.000000123Z")).toBe(1_000_000_123n);
    expect(epochNanos("1970-01-01T01:00:00+01:00")).toBe(0n);
    expect(epochNanos("2026-01-01T00:00:00.5Z") - epochNanos("2026-01-01T00:00:00.499999Z")).toBe(1000n);
    expect(() => epochNanos("2026-01-01")).toThrow(RangeError);
  });
});
