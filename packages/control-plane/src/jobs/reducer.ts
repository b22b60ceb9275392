/**
 * The job projection reducer (runtime spec §3.4): the runtime's job state machine
 * (`@trellis/runtime`'s `reduceJobEvent`) with the projection's strict rule — an event applies only when
 * its `previousState` is the job's current state and the transition is legal; anything else leaves the
 * job as it is. That rule gives terminal precedence — a janitor `expired` beats a late worker `completed`.
 */
import { applyUnchecked, type Job, type JobEvent, jobEventMismatch, seedJob } from "@trellis/runtime";

/** What reducing one event did. */
export type Reduction = { applied: true; job: Job } | { applied: false; reason: string };

/** Default `maxTries` of a `created` event that carries none (the queue default `maxDeliver`). */
export const DEFAULT_MAX_TRIES = 5;

/** Applies `event` to `current` (the projected job, or `undefined` when there is none yet). */
export function reduceJob(current: Job | undefined, event: JobEvent): Reduction {
  const moved =
    current !== undefined &&
    event.eventType !== "created" &&
    (event.service !== current.service || event.jobType !== current.type);
  const reason = moved ? "event names another service or job type" : jobEventMismatch(current, event);
  if (reason !== undefined) return { applied: false, reason };
  const job = current === undefined ? seedJob(event, DEFAULT_MAX_TRIES) : applyUnchecked(current, event);
  return { applied: true, job };
}
