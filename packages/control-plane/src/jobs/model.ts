/**
 * Parsing the wire shapes the Jobs admin reads (runtime spec §3.3, §3.7) — lifecycle events on `JOBS`
 * and worker heartbeats — into `@trellis/runtime`'s job model, whose `Job` is `trellis.jobs@v1`'s.
 * Parsing is lenient about `null` for absent optional fields (other runtimes send them) and strict about
 * everything the reducer relies on; an event whose declared `state` does not match its event type is
 * malformed.
 */
import {
  JobContextSchema,
  JobLogEntrySchema,
  JobProgressSchema,
  JobStateSchema,
} from "@trellis/builtin-contracts";
import { JOB_EVENT_TYPES } from "@trellis/contracts";
import { JOB_EVENT_STATE, type Job, type JobEvent, type JobWorkerHeartbeat } from "@trellis/runtime";
import { z } from "zod";

const Timestamp = z.iso.datetime({ offset: true });
const Token = z
  .string()
  .min(1)
  .regex(/^[^\s.*>]+$/, "must be one subject token");

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

const JobEventSchema: z.ZodType<JobEvent> = z.preprocess(
  withoutNulls,
  z.object({
    jobId: Token,
    service: Token,
    jobType: Token,
    eventType: z.enum(JOB_EVENT_TYPES),
    state: JobStateSchema,
    previousState: JobStateSchema.optional(),
    context: z.preprocess(withoutNulls, JobContextSchema),
    tries: z.int().min(0),
    maxTries: z.int().min(1).optional(),
    error: z.string().optional(),
    progress: z.preprocess(withoutNulls, JobProgressSchema).optional(),
    logs: z.array(JobLogEntrySchema).optional(),
    payload: z.unknown().optional(),
    result: z.unknown().optional(),
    deadline: Timestamp.optional(),
    timestamp: Timestamp,
  }),
);

const HeartbeatSchema: z.ZodType<JobWorkerHeartbeat> = z.preprocess(
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

/** Parses a lifecycle event; `undefined` when it is not one or is inconsistent. */
export function parseJobEvent(value: unknown): JobEvent | undefined {
  const parsed = JobEventSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const event = parsed.data;
  if (event.state !== JOB_EVENT_STATE[event.eventType]) return undefined;
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
export function parseWorkerHeartbeat(data: Uint8Array): JobWorkerHeartbeat | undefined {
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
