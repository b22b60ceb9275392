/**
 * The job projection reducer (runtime spec §3.4), pure: an event applies only when its
 * `previousState` is the job's current state and the transition is legal; anything else leaves the job
 * as it is. That rule gives terminal precedence — a janitor `expired` beats a late worker `completed`.
 */
import type { JobEventType } from "@trellis/contracts";
import { EVENT_STATE, type Job, type JobEvent, type JobState } from "./model.js";

/** The states each event type may move a job out of (`created` seeds a job instead). */
export const ALLOWED_FROM: Readonly<Record<Exclude<JobEventType, "created">, readonly JobState[]>> = {
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

/** What reducing one event did. */
export type Reduction = { applied: true; job: Job } | { applied: false; reason: string };

/** Default `maxTries` of a `created` event that carries none (the queue default `maxDeliver`). */
export const DEFAULT_MAX_TRIES = 5;

/** Whether `event` may move a job in state `current` (§3.4). */
export function isLegalTransition(current: JobState, event: Pick<JobEvent, "eventType" | "previousState">) {
  if (event.eventType === "created") return false;
  return event.previousState === current && ALLOWED_FROM[event.eventType].includes(current);
}

function seed(event: JobEvent): Job {
  return {
    id: event.jobId,
    service: event.service,
    type: event.jobType,
    state: "pending",
    context: event.context,
    payload: event.payload,
    createdAt: event.timestamp,
    updatedAt: event.timestamp,
    tries: event.tries,
    maxTries: event.maxTries ?? DEFAULT_MAX_TRIES,
    ...(event.deadline !== undefined && { deadline: event.deadline }),
  };
}

/** Applies `event` to `current` (the projected job, or `undefined` when there is none yet). */
export function reduceJob(current: Job | undefined, event: JobEvent): Reduction {
  if (current === undefined) {
    return event.eventType === "created"
      ? { applied: true, job: seed(event) }
      : { applied: false, reason: "unknown job" };
  }
  if (event.eventType === "created") return { applied: false, reason: "job already exists" };
  if (event.service !== current.service || event.jobType !== current.type) {
    return { applied: false, reason: "event names another service or job type" };
  }
  if (!isLegalTransition(current.state, event)) {
    return {
      applied: false,
      reason: `'${event.eventType}' from '${event.previousState ?? "(none)"}' does not apply to a '${current.state}' job`,
    };
  }
  const job: Job = {
    ...current,
    state: EVENT_STATE[event.eventType],
    updatedAt: event.timestamp,
    tries: event.tries,
    maxTries: event.maxTries ?? current.maxTries,
  };
  switch (event.eventType) {
    case "started":
      job.startedAt = event.timestamp;
      break;
    case "progress":
      if (event.progress !== undefined) job.progress = event.progress;
      break;
    case "logged":
      job.logs = [...(current.logs ?? []), ...(event.logs ?? [])];
      break;
    case "completed":
      if (event.result !== undefined) job.result = event.result;
      job.completedAt = event.timestamp;
      break;
    case "retry":
      setLastError(job, event.error);
      break;
    case "failed":
    case "cancelled":
    case "expired":
    case "dead":
    case "dismissed":
      setLastError(job, event.error);
      job.completedAt = event.timestamp;
      break;
    case "retried":
      delete job.result;
      delete job.completedAt;
      delete job.startedAt;
      delete job.lastError;
      delete job.progress;
      delete job.logs;
      job.tries = 0;
      if (event.payload !== undefined) job.payload = event.payload;
      if (event.deadline !== undefined) job.deadline = event.deadline;
      else delete job.deadline;
      break;
  }
  return { applied: true, job };
}

function setLastError(job: Job, error: string | undefined): void {
  if (error !== undefined) job.lastError = error;
  else delete job.lastError;
}
