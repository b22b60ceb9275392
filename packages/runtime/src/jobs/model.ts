/**
 * The job wire model (runtime spec §3.1, §3.3): lifecycle events as stored in `JOBS`, the job snapshot
 * they reduce to, and the queue binding the control plane hands a service at bootstrap.
 */
import type {
  JobContextSchema,
  JobLogEntrySchema,
  JobProgressSchema,
  JobSchema,
  JobStateSchema,
} from "@trellis/builtin-contracts";
import type { JobEventType, SchemaRef } from "@trellis/contracts";
import type { z } from "zod";

/** Lifecycle state of a job. */
export type JobState = z.output<typeof JobStateSchema>;

/** The request and W3C trace context a job was created in; copied unchanged onto every event. */
export type JobContext = z.output<typeof JobContextSchema>;

/** Progress a worker reports. */
export type JobProgress = z.output<typeof JobProgressSchema>;

/** A log line a worker attaches to a job. */
export type JobLogEntry = z.output<typeof JobLogEntrySchema>;

/** One lifecycle event, the body of `trellis.jobs.<service>.<jobType>.<jobId>.<eventType>`. */
export interface JobEvent {
  jobId: string;
  /** The jobs namespace of the owning service deployment. */
  service: string;
  /** The queue. */
  jobType: string;
  eventType: JobEventType;
  /** The state the event moves the job to. */
  state: JobState;
  /** The state the publisher saw before the event. */
  previousState?: JobState;
  context: JobContext;
  tries: number;
  maxTries?: number;
  error?: string;
  progress?: JobProgress;
  /** New log entries only. */
  logs?: JobLogEntry[];
  payload?: unknown;
  result?: unknown;
  /** ISO 8601 business deadline (enforced by the Jobs admin janitor). */
  deadline?: string;
  /** ISO 8601. */
  timestamp: string;
}

/**
 * A job as its lifecycle events describe it: `trellis.jobs@v1`'s `Job`, with typed payload and result.
 * `tries` counts the deliveries of the current attempt cycle (`tries` of the latest event).
 */
export type Job<TPayload = unknown, TResult = unknown> = Omit<
  z.output<typeof JobSchema>,
  "payload" | "result"
> & {
  payload: TPayload;
  result?: TResult;
};

/** The binding of one queue, every default applied (`Trellis.Bindings.Get`'s `jobs.queues.<queue>`). */
export interface JobQueueBinding {
  queueType: string;
  /** `trellis.jobs.<namespace>.<queue>`. */
  publishPrefix: string;
  /** `trellis.work.<namespace>.<queue>`. */
  workSubject: string;
  /** Durable consumer on `JOBS_WORK`: `<namespace>-<queue>`. */
  consumerName: string;
  payload: SchemaRef;
  result?: SchemaRef;
  maxDeliver: number;
  backoffMs: number[];
  ackWaitMs: number;
  defaultDeadlineMs?: number;
  progress: boolean;
  logs: boolean;
  dlq: boolean;
  concurrency: number;
}

/** The jobs binding of a service deployment. */
export interface JobsBinding {
  /** The jobs namespace (`<service>` in job subjects). */
  namespace: string;
  /** The work-queue stream (`JOBS_WORK`). */
  workStream?: string;
  /** Queues by name. */
  queues: Readonly<Record<string, JobQueueBinding>>;
}

/** A worker presence heartbeat, `trellis.jobs.workers.<service>.<jobType>.<instanceId>.heartbeat`. */
export interface JobWorkerHeartbeat {
  service: string;
  jobType: string;
  instanceId: string;
  concurrency?: number;
  version?: string;
  /** ISO 8601. */
  timestamp: string;
}
