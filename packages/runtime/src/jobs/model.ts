/**
 * The job wire model (runtime spec §3.1, §3.3): lifecycle events as stored in `JOBS`, the job snapshot
 * they reduce to, and the queue binding the control plane hands a service at bootstrap.
 */
import type { JobEventType, SchemaRef } from "@trellis/contracts";

/** Lifecycle state of a job. */
export type JobState =
  | "pending"
  | "active"
  | "retry"
  | "completed"
  | "failed"
  | "cancelled"
  | "expired"
  | "dead"
  | "dismissed";

/** The request and W3C trace context a job was created in; copied unchanged onto every event. */
export interface JobContext {
  /** ULID of the creating request (a fresh one per job). */
  requestId: string;
  /** The 32-hex trace id of `traceparent`. */
  traceId: string;
  /** W3C `traceparent`. */
  traceparent: string;
  /** W3C `tracestate`, when present. */
  tracestate?: string;
}

/** Progress a worker reports. */
export interface JobProgress {
  step?: string;
  message?: string;
  current?: number;
  total?: number;
}

/** A log line a worker attaches to a job. */
export interface JobLogEntry {
  /** ISO 8601. */
  timestamp: string;
  level: "info" | "warn" | "error";
  message: string;
}

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

/** A job as its lifecycle events describe it. */
export interface Job<TPayload = unknown, TResult = unknown> {
  id: string;
  /** The jobs namespace of the owning service deployment. */
  service: string;
  /** The queue. */
  type: string;
  state: JobState;
  context: JobContext;
  payload: TPayload;
  result?: TResult;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  completedAt?: string;
  /** Deliveries of the current attempt cycle (`tries` of the latest event). */
  tries: number;
  /** Deliveries allowed before the job is dead-lettered. */
  maxTries: number;
  lastError?: string;
  deadline?: string;
  progress?: JobProgress;
  logs?: JobLogEntry[];
}

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
