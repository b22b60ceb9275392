/**
 * The projection's use of the job state machine; the state machine itself (transitions, field
 * effects) is tested with `@trellis/runtime`'s `reduceJobEvent`.
 */
import { describe, expect, it } from "vitest";
import { EVENT_AT, jobEvent, testJob } from "../../../runtime/test/support/jobs.js";
import { DEFAULT_MAX_TRIES, reduceJob } from "./reducer.js";

describe("reduceJob", () => {
  it("applies a legal event with the expected previous state", () => {
    const reduced = reduceJob(
      testJob("pending"),
      jobEvent("started", { previousState: "pending", tries: 2 }),
    );
    expect(reduced).toEqual({
      applied: true,
      job: testJob("active", {
        startedAt: EVENT_AT,
        updatedAt: EVENT_AT,
        tries: 2,
      }),
    });
  });

  it("says why an event does not apply", () => {
    expect(reduceJob(undefined, jobEvent("started", { previousState: "pending" }))).toEqual({
      applied: false,
      reason: "unknown job",
    });
    expect(reduceJob(testJob("active"), jobEvent("created", { tries: 0, payload: 2 }))).toEqual({
      applied: false,
      reason: "job already exists",
    });
    expect(reduceJob(testJob("active"), jobEvent("completed", { previousState: "pending" }))).toEqual({
      applied: false,
      reason: "'completed' from 'pending' does not apply to a 'active' job",
    });
    expect(reduceJob(testJob("active"), jobEvent("completed"))).toEqual({
      applied: false,
      reason: "'completed' from '(none)' does not apply to a 'active' job",
    });
  });

  it("ignores an event for the same id under another service or job type", () => {
    for (const moved of [
      jobEvent("started", { previousState: "pending", service: "other" }),
      jobEvent("started", { previousState: "pending", jobType: "other" }),
    ]) {
      expect(reduceJob(testJob("pending"), moved)).toEqual({
        applied: false,
        reason: "event names another service or job type",
      });
    }
  });

  it("seeds a created job, defaulting maxTries to the queue default", () => {
    const seeded = reduceJob(undefined, jobEvent("created", { tries: 0, maxTries: undefined, payload: 1 }));
    expect(seeded.applied && seeded.job).toMatchObject({
      state: "pending",
      payload: 1,
      maxTries: DEFAULT_MAX_TRIES,
    });
    expect(DEFAULT_MAX_TRIES).toBe(5);
  });
});
