/**
 * The projection's use of the job state machine; the state machine itself (transitions, field
 * effects) is tested with `@trellis/runtime`'s `reduceJobEvent`.
 */
import type { JobEventType } from "@trellis/contracts";
import { JOB_EVENT_STATE, type Job, type JobEvent, type JobState } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_TRIES, reduceJob } from "./reducer.js";

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
    state: JOB_EVENT_STATE[eventType],
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

describe("reduceJob", () => {
  it("applies a legal event with the expected previous state", () => {
    const reduced = reduceJob(job("pending"), event("started", { previousState: "pending", tries: 2 }));
    expect(reduced).toEqual({
      applied: true,
      job: job("active", {
        startedAt: "2026-01-01T00:00:10.000Z",
        updatedAt: "2026-01-01T00:00:10.000Z",
        tries: 2,
      }),
    });
  });

  it("says why an event does not apply", () => {
    expect(reduceJob(undefined, event("started", { previousState: "pending" }))).toEqual({
      applied: false,
      reason: "unknown job",
    });
    expect(reduceJob(job("active"), event("created", { tries: 0, payload: 2 }))).toEqual({
      applied: false,
      reason: "job already exists",
    });
    expect(reduceJob(job("active"), event("completed", { previousState: "pending" }))).toEqual({
      applied: false,
      reason: "'completed' from 'pending' does not apply to a 'active' job",
    });
    expect(reduceJob(job("active"), event("completed"))).toEqual({
      applied: false,
      reason: "'completed' from '(none)' does not apply to a 'active' job",
    });
  });

  it("ignores an event for the same id under another service or job type", () => {
    for (const moved of [
      event("started", { previousState: "pending", service: "other" }),
      event("started", { previousState: "pending", jobType: "other" }),
    ]) {
      expect(reduceJob(job("pending"), moved)).toEqual({
        applied: false,
        reason: "event names another service or job type",
      });
    }
  });

  it("seeds a created job, defaulting maxTries to the queue default", () => {
    const seeded = reduceJob(undefined, event("created", { tries: 0, payload: 1 }));
    expect(seeded.applied && seeded.job).toMatchObject({
      state: "pending",
      payload: 1,
      maxTries: DEFAULT_MAX_TRIES,
    });
    expect(DEFAULT_MAX_TRIES).toBe(5);
  });
});
