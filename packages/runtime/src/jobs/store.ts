/**
 * Reading and writing one queue's lifecycle events in `JOBS` (runtime spec §3.3, §3.5, §3.6):
 * publishes are JetStream publishes with an ack and `Nats-Msg-Id`, carrying the job's request and
 * trace headers; reads are direct gets by subject (`$JS.API.DIRECT.GET.JOBS.<subject>`, which the
 * service's grants scope to its own namespace). Both go through the runtime's {@link JetStreamPipe}.
 */
import { headers as natsHeaders } from "@nats-io/transport-node";
import { context as otelContext, trace } from "@opentelemetry/api";
import { JOB_EVENT_TYPES, JOBS_STREAM, type JobEventType } from "@trellis/contracts";
import { TransportError } from "../errors/errors.js";
import { HEADERS } from "../headers.js";
import { newUlid, randomHex } from "../ids.js";
import type { Job, JobContext, JobEvent } from "./model.js";
import type { JetStreamPipe, PipeAck, PipeStoredMsg } from "./pipe.js";
import { applyUnchecked, reduceJobEvent, seedJob } from "./state.js";

/** An event read back from `JOBS` with its stream sequence. */
export interface StoredJobEvent {
  seq: number;
  event: JobEvent;
}

/**
 * A fresh job context: a new request id and the active span's trace context, or a synthesized
 * `traceparent` so that no job is ever untraced (runtime spec §3.3).
 */
export function newJobContext(): JobContext {
  const span = trace.getSpan(otelContext.active())?.spanContext();
  if (span && trace.isSpanContextValid(span)) {
    const flags = span.traceFlags.toString(16).padStart(2, "0");
    const tracestate = span.traceState?.serialize();
    return {
      requestId: newUlid(),
      traceId: span.traceId,
      traceparent: `00-${span.traceId}-${span.spanId}-${flags}`,
      ...(tracestate && { tracestate }),
    };
  }
  const traceId = nonZeroHex(16);
  return { requestId: newUlid(), traceId, traceparent: `00-${traceId}-${nonZeroHex(8)}-01` };
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const hex = randomHex(bytes);
    if (!/^0+$/.test(hex)) return hex;
  }
}

const EVENT_TYPES = new Set<string>(JOB_EVENT_TYPES);

const decoder = new TextDecoder();

/** The event in a stored message, or `undefined` when it is not a well-formed lifecycle event. */
export function parseJobEvent(data: Uint8Array): JobEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const event = value as Partial<JobEvent>;
  const wellFormed =
    typeof event.jobId === "string" &&
    typeof event.service === "string" &&
    typeof event.jobType === "string" &&
    typeof event.eventType === "string" &&
    EVENT_TYPES.has(event.eventType) &&
    typeof event.timestamp === "string" &&
    typeof event.tries === "number" &&
    typeof event.context === "object" &&
    event.context !== null;
  return wellFormed ? (event as JobEvent) : undefined;
}

/**
 * Folds the latest event of each type of one job (in stream order) into the job: seeded by the later
 * of its `created` and `retried` events, then every later event whose transition is legal, whatever
 * its `previousState` (intermediate events of earlier attempts are not read). A late event after a
 * terminal one is ignored, as in the projection. Log entries are not part of the result.
 */
export function foldLatestEvents(events: readonly StoredJobEvent[]): Job | undefined {
  const sorted = [...events].sort((a, b) => a.seq - b.seq);
  const created = sorted.find((stored) => stored.event.eventType === "created");
  const retried = sorted.find((stored) => stored.event.eventType === "retried");
  const base = retried && (!created || retried.seq > created.seq) ? retried : created;
  if (!base) return undefined;
  let job: Job | undefined = seedJob((created ?? base).event);
  if (base === retried) job = applyUnchecked(job, retried.event);
  for (const stored of sorted) {
    if (stored.seq > base.seq) job = reduceJobEvent(job, stored.event, { checkPreviousState: false });
  }
  if (job) delete job.logs;
  return job;
}

/** Options of {@link JobEventStore}. */
export interface JobEventStoreOptions {
  /** Publishes and direct gets on `JOBS`. */
  pipe: JetStreamPipe;
  /** The queue's `publishPrefix`. */
  publishPrefix: string;
  /** JetStream publish ack timeout, ms (default: the client's). */
  ackTimeoutMs?: number;
}

/** The lifecycle events of one queue. */
export class JobEventStore {
  constructor(private readonly options: JobEventStoreOptions) {}

  /** `<publishPrefix>.<jobId>.<eventType>`. */
  subject(jobId: string, eventType: JobEventType | "*"): string {
    return `${this.options.publishPrefix}.${jobId}.${eventType}`;
  }

  /**
   * Publishes an event and resolves once `JOBS` stored it. `msgId` de-duplicates retries of the same
   * publish (default: a fresh id per event; `created` uses `<jobId>.created`).
   */
  async publish(event: JobEvent, msgId?: string): Promise<PipeAck> {
    const subject = this.subject(event.jobId, event.eventType);
    const headers = natsHeaders();
    headers.set(HEADERS.requestId, event.context.requestId);
    headers.set(HEADERS.traceparent, event.context.traceparent);
    if (event.context.tracestate) headers.set(HEADERS.tracestate, event.context.tracestate);
    try {
      return await this.options.pipe.publish(subject, JSON.stringify(event), {
        msgId: msgId ?? `${event.jobId}.${event.eventType}.${newUlid()}`,
        headers,
        ...(this.options.ackTimeoutMs !== undefined && { timeoutMs: this.options.ackTimeoutMs }),
      });
    } catch (cause) {
      throw new TransportError(
        "trellis.job.publish_failed",
        `Publishing job event '${event.eventType}' of job '${event.jobId}' failed: ${describe(cause)}`,
        {
          cause,
          context: { jobId: event.jobId, jobType: event.jobType, eventType: event.eventType },
          hint: "Check the connection and that the JOBS stream exists (the control plane creates it).",
        },
      );
    }
  }

  /** Runs `send` (an ack) with the publishes of this event-loop turn (see {@link JetStreamPipe.defer}). */
  defer(send: () => void): void {
    this.options.pipe.defer(send);
  }

  /** Sends the deferred acks and publishes now. */
  flush(): void {
    this.options.pipe.flush();
  }

  /** The latest event on `subject` (a job's events, or one type of them). */
  async last(subject: string): Promise<StoredJobEvent | undefined> {
    let stored: PipeStoredMsg | null;
    try {
      stored = await this.options.pipe.lastBySubject(JOBS_STREAM, subject);
    } catch (cause) {
      throw new TransportError(
        "trellis.job.read_failed",
        `Reading '${subject}' from JOBS failed: ${describe(cause)}`,
        {
          cause,
        },
      );
    }
    if (!stored) return undefined;
    const event = parseJobEvent(stored.data);
    return event ? { seq: stored.seq, event } : undefined;
  }

  /**
   * The job as its events describe it, or `undefined` when it has none. One direct get when the latest
   * event is `created`; otherwise the latest event of every type, fetched together and folded with
   * {@link foldLatestEvents}.
   */
  async read(jobId: string): Promise<Job | undefined> {
    const latest = await this.last(this.subject(jobId, "*"));
    if (!latest) return undefined;
    if (latest.event.eventType === "created") return seedJob(latest.event);
    const others = await Promise.all(
      JOB_EVENT_TYPES.filter((type) => type !== latest.event.eventType).map((type) =>
        this.last(this.subject(jobId, type)),
      ),
    );
    return foldLatestEvents([latest, ...others.filter((stored) => stored !== undefined)]);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
