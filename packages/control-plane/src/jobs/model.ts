/**
 * The wire shapes the Jobs admin reads and writes (runtime spec §3.3, §3.7): lifecycle events on
 * `JOBS`, worker heartbeats, and the projected job (the `Job` of `trellis.jobs@v1`). Parsing is lenient
 * about `null` for absent optional fields (other runtimes send them) and strict about everything the
 * reducer relies on; an event whose declared `state` does not match its event type is malformed.
 */
import type { trellisJobs } from "@trellis/builtin-contracts";
import { JOB_EVENT_TYPES, type JobEventType, type RpcOutput } from "@trellis/contracts";
import { z } from "zod";

/** A job as the Jobs admin projects and returns it. */
export type Job = RpcOutput<typeof trellisJobs, "Jobs.Get">["job"];

/** A job's lifecycle state. */
export type JobState = Job["state"];

/** Every job state. */
export const JOB_STATES = [
  "pending",
  "active",
  "retry",
  "completed",
  "failed",
  "cancelled",
  "expired",
  "dead",
  "dismissed",
] as const satisfies readonly JobState[];

/** States no worker or cancellation moves a job out of (§3.4); admins may re-open `failed` and `dead`. */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  "completed",
  "failed",
  "cancelled",
  "expired",
  "dead",
  "dismissed",
]);

/** The state each event type sets (§3.3). */
export const EVENT_STATE: Readonly<Record<JobEventType, JobState>> = {
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

const Timestamp = z.iso.datetime({ offset: true });
const Token = z
  .string()
  .min(1)
  .regex(/^[^\s.*>]+$/, "must be one subject token");
const StateSchema = z.enum(JOB_STATES);

const ContextSchema = z.object({
  requestId: z.string().min(1),
  traceId: z.string().regex(/^[0-9a-f]{32}$/),
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
  tracestate: z.string().min(1).optional(),
});

const ProgressSchema = z.object({
  step: z.string().optional(),
  message: z.string().optional(),
  current: z.int().min(0).optional(),
  total: z.int().min(0).optional(),
});

const LogEntrySchema = z.object({
  timestamp: Timestamp,
  level: z.enum(["info", "warn", "error"]),
  message: z.string(),
});

/**
 * Drops `null` members of an object so that `optional()` fields accept them as absent; `payload` and
 * `result` keep theirs (`null` is a value there).
 */
function withoutNulls(value: unknown): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).filter(([key, member]) => member !== null || key === "payload" || key === "result"),
  );
}

const JobEventSchema = z.preprocess(
  withoutNulls,
  z.object({
    jobId: Token,
    service: Token,
    jobType: Token,
    eventType: z.enum(JOB_EVENT_TYPES),
    state: StateSchema,
    previousState: StateSchema.optional(),
    context: z.preprocess(withoutNulls, ContextSchema),
    tries: z.int().min(0),
    maxTries: z.int().min(1).optional(),
    error: z.string().optional(),
    progress: z.preprocess(withoutNulls, ProgressSchema).optional(),
    logs: z.array(LogEntrySchema).optional(),
    payload: z.unknown().optional(),
    result: z.unknown().optional(),
    deadline: Timestamp.optional(),
    timestamp: Timestamp,
  }),
);

/** One job lifecycle event (`JobEvent`, §3.3). */
export type JobEvent = z.output<typeof JobEventSchema>;

const HeartbeatSchema = z.preprocess(
  withoutNulls,
  z.object({
    service: Token,
    jobType: Token,
    instanceId: Token,
    concurrency: z.int().min(1).optional(),
    version: z.string().min(1).optional(),
    timestamp: Timestamp,
  }),
);

/** A worker heartbeat (§3.3). */
export type WorkerHeartbeat = z.output<typeof HeartbeatSchema>;

/** Parses a lifecycle event; `undefined` when it is not one or is inconsistent. */
export function parseJobEvent(value: unknown): JobEvent | undefined {
  const parsed = JobEventSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const event = parsed.data;
  if (event.state !== EVENT_STATE[event.eventType]) return undefined;
  if (event.eventType === "created" && event.payload === undefined) return undefined;
  return event;
}

/** Parses a lifecycle event from its message, checking that the subject names the same job and type. */
export function parseJobEventMessage(subject: string, data: Uint8Array): JobEvent | undefined {
  const event = parseJobEvent(parseJsonBody(data));
  if (event === undefined) return undefined;
  const expected = `trellis.jobs.${event.service}.${event.jobType}.${event.jobId}.${event.eventType}`;
  return subject === expected ? event : undefined;
}

/** Parses a worker heartbeat; `undefined` when it is not one. */
export function parseWorkerHeartbeat(data: Uint8Array): WorkerHeartbeat | undefined {
  const parsed = HeartbeatSchema.safeParse(parseJsonBody(data));
  return parsed.success ? parsed.data : undefined;
}

/** The JSON value of a message body; `undefined` when it is not JSON. */
export function parseJsonBody(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

/** `<service>/<type>/<id>`, how errors name a job. */
export function jobKey(job: Pick<Job, "service" | "type" | "id">): string {
  return `${job.service}/${job.type}/${job.id}`;
}

/**
 * Epoch nanoseconds of an RFC 3339 timestamp, keeping sub-millisecond digits (up to 9), for ordering
 * and comparing instants rather than strings.
 */
export function epochNanos(timestamp: string): bigint {
  const match = /^(.+T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(timestamp);
  const ms = match ? Date.parse(`${match[1]}${match[3]}`) : Number.NaN;
  if (!match || !Number.isFinite(ms)) throw new RangeError(`'${timestamp}' is not an RFC 3339 timestamp`);
  const fraction = (match[2] ?? "").padEnd(9, "0").slice(0, 9);
  return BigInt(ms) * 1_000_000n + BigInt(fraction);
}
