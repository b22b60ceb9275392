/**
 * The job state machine (runtime spec §3.4): the state each event type sets, which transitions are
 * legal, and the reducer that folds lifecycle events into a {@link Job}. The reducer is pure and shared
 * by the service runtime's reads and the Jobs admin projection.
 */
import type { JobEventType } from "@trellis/contracts";
import type { Job, JobEvent, JobState } from "./model.js";

/** States a worker never processes and a `JobRef` cancel leaves alone. */
export const TERMINAL_JOB_STATES: readonly JobState[] = [
  "completed",
  "failed",
  "cancelled",
  "expired",
  "dead",
  "dismissed",
];

/** Whether `state` is terminal (`failed` and `dead` can still be re-opened by admin actions). */
export function isTerminalJobState(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

/** The state each event type moves a job to. */
export const JOB_EVENT_STATE: Readonly<Record<JobEventType, JobState>> = {
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

/** The states each event type may be applied in (`created` only seeds a job that does not exist). */
export const JOB_TRANSITIONS: Readonly<Record<Exclude<JobEventType, "created">, readonly JobState[]>> = {
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

/** Options of {@link reduceJobEvent}. */
export interface ReduceOptions {
  /**
   * Require `event.previousState` to equal the current state as well (default `true`, the projection
   * rule). `false` checks only the transition, for folding a partial history.
   */
  checkPreviousState?: boolean;
  /** `maxTries` of a job seeded from an event that carries none (default 1). */
  defaultMaxTries?: number;
}

/** Why `event` does not apply to `current` (see {@link canApplyJobEvent}); `undefined` when it does. */
export function jobEventMismatch(
  current: Job | undefined,
  event: JobEvent,
  options: ReduceOptions = {},
): string | undefined {
  if (current === undefined) return event.eventType === "created" ? undefined : "unknown job";
  if (event.eventType === "created") return "job already exists";
  const legal =
    JOB_TRANSITIONS[event.eventType].includes(current.state) &&
    (options.checkPreviousState === false || event.previousState === current.state);
  return legal
    ? undefined
    : `'${event.eventType}' from '${event.previousState ?? "(none)"}' does not apply to a '${current.state}' job`;
}

/** Whether `event` applies to `current` (a legal transition, and the expected previous state). */
export function canApplyJobEvent(
  current: Job | undefined,
  event: JobEvent,
  options: ReduceOptions = {},
): boolean {
  return jobEventMismatch(current, event, options) === undefined;
}

/** The job a `created` (or, without history, `retried`) event seeds. */
export function seedJob(event: JobEvent, defaultMaxTries = 1): Job {
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
    maxTries: event.maxTries ?? defaultMaxTries,
    ...(event.deadline !== undefined && { deadline: event.deadline }),
  };
}

/**
 * Applies one event: the new job, or `current` unchanged when the event does not apply (an illegal
 * transition or, by default, a stale `previousState` — which is what makes terminal states win races).
 */
export function reduceJobEvent(
  current: Job | undefined,
  event: JobEvent,
  options: ReduceOptions = {},
): Job | undefined {
  if (!canApplyJobEvent(current, event, options)) return current;
  if (event.eventType === "created" || current === undefined) return seedJob(event, options.defaultMaxTries);
  return applyUnchecked(current, event);
}

/**
 * Applies an event's field effects without checking the transition. An ending event (`retry` and the
 * terminal ones) sets `lastError` to its `error`, or clears it; `retried` starts a new run with the
 * event's payload (when given) and deadline (none when absent).
 */
export function applyUnchecked(current: Job, event: JobEvent): Job {
  const at = event.timestamp;
  const next: Job = {
    ...current,
    state: JOB_EVENT_STATE[event.eventType],
    updatedAt: at,
    tries: event.tries,
    maxTries: event.maxTries ?? current.maxTries,
  };
  switch (event.eventType) {
    case "created":
      return seedJob(event);
    case "started":
      next.startedAt = at;
      break;
    case "progress":
      if (event.progress !== undefined) next.progress = event.progress;
      break;
    case "logged":
      next.logs = [...(current.logs ?? []), ...(event.logs ?? [])];
      break;
    case "completed":
      if (event.result !== undefined) next.result = event.result;
      next.completedAt = at;
      break;
    case "retry":
      setLastError(next, event.error);
      break;
    case "retried":
      delete next.result;
      delete next.completedAt;
      delete next.startedAt;
      delete next.lastError;
      delete next.progress;
      delete next.logs;
      next.tries = 0;
      if (event.payload !== undefined) next.payload = event.payload;
      if (event.deadline !== undefined) next.deadline = event.deadline;
      else delete next.deadline;
      break;
    default:
      setLastError(next, event.error);
      next.completedAt = at;
  }
  return next;
}

function setLastError(job: Job, error: string | undefined): void {
  if (error !== undefined) job.lastError = error;
  else delete job.lastError;
}
