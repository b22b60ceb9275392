/**
 * Job fixtures for unit tests: lifecycle events and jobs of job `J` on queue `svc/q`, with a fixed
 * trace context and timestamp, overridable field by field.
 */
import type { JobEventType } from "@trellis/contracts";
import { JOB_EVENT_STATE, type Job, type JobEvent, type JobState } from "../../src/index.js";

/** The request and trace context of fixture jobs. */
export const JOB_CONTEXT = {
  requestId: "01J00000000000000000000000",
  traceId: "0af7651916cd43dd8448eb211c80319c",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
};

/** The timestamp of fixture events. */
export const EVENT_AT = "2026-01-01T00:00:10.000Z";

/** An `eventType` event of job `J` (its `state` the one the type sets, `tries` 1, `maxTries` 3). */
export function jobEvent(eventType: JobEventType, fields: Partial<JobEvent> = {}): JobEvent {
  return {
    jobId: "J",
    service: "svc",
    jobType: "q",
    eventType,
    state: JOB_EVENT_STATE[eventType],
    context: JOB_CONTEXT,
    tries: 1,
    maxTries: 3,
    timestamp: EVENT_AT,
    ...fields,
  };
}

/** Job `J` in `state` (`tries` 1 of 3, created and updated before {@link EVENT_AT}). */
export function testJob(state: JobState, fields: Partial<Job> = {}): Job {
  return {
    id: "J",
    service: "svc",
    type: "q",
    state,
    context: JOB_CONTEXT,
    payload: { amount: 5 },
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:01.000Z",
    tries: 1,
    maxTries: 3,
    ...fields,
  };
}
