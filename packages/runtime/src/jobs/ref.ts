/**
 * `JobRef` (runtime spec §3.5): a handle on one job that reads its state from `JOBS` every time, so
 * `get`, `wait` and `cancel` work the same in the creating process, in a worker, and after a restart.
 */
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { AsyncResult, Result } from "@trellis/result";
import { TransportError } from "../errors/errors.js";
import { JobNotFoundError } from "./errors.js";
import type { Job, JobEvent } from "./model.js";
import { isTerminalJobState, reduceJobEvent } from "./state.js";
import type { JobEventStore } from "./store.js";

/** Options of {@link JobRef.wait}. */
export interface JobWaitOptions {
  /** Gives up after this long (`trellis.job.wait_timeout`); default: no limit. */
  timeoutMs?: number;
  /** Gives up when aborted (`trellis.job.wait_aborted`). */
  signal?: AbortSignal;
}

/** Errors of reading a job. */
export type JobReadError = JobNotFoundError | TransportError;

/** A handle on one job of a queue. */
export interface JobRef<TPayload = unknown, TResult = unknown> {
  /** The job's id (a ULID). */
  readonly id: string;
  /** The jobs namespace of the owning service. */
  readonly service: string;
  /** The queue. */
  readonly type: string;
  /** The job as its latest lifecycle events describe it. */
  get(): AsyncResult<Job<TPayload, TResult>, JobReadError>;
  /** Resolves with the job once it is terminal (completed, failed, cancelled, expired, dead, dismissed). */
  wait(options?: JobWaitOptions): AsyncResult<Job<TPayload, TResult>, JobReadError>;
  /**
   * Cancels a pending, retrying or active job (`cancelled` event; an active handler's signal aborts and
   * its result is discarded). A terminal job is returned unchanged.
   */
  cancel(): AsyncResult<Job<TPayload, TResult>, JobReadError>;
}

/** How often `wait` reads the job again when no event arrives (events can be missed while disconnected). */
const WAIT_POLL_MS = 5000;

/** Options of {@link StoredJobRef}. */
export interface StoredJobRefOptions {
  nc: NatsConnection;
  store: JobEventStore;
  namespace: string;
  queue: string;
}

/** A {@link JobRef} backed by the queue's events in `JOBS`. */
export class StoredJobRef<TPayload = unknown, TResult = unknown> implements JobRef<TPayload, TResult> {
  readonly service: string;
  readonly type: string;

  constructor(
    private readonly options: StoredJobRefOptions,
    readonly id: string,
  ) {
    this.service = options.namespace;
    this.type = options.queue;
  }

  get(): AsyncResult<Job<TPayload, TResult>, JobReadError> {
    return AsyncResult.from(this.read());
  }

  wait(options: JobWaitOptions = {}): AsyncResult<Job<TPayload, TResult>, JobReadError> {
    return AsyncResult.from(this.waitTerminal(options));
  }

  cancel(): AsyncResult<Job<TPayload, TResult>, JobReadError> {
    return AsyncResult.from(this.cancelJob());
  }

  private async read(): Promise<Result<Job<TPayload, TResult>, JobReadError>> {
    try {
      const job = await this.options.store.read(this.id);
      if (!job) return Result.err(new JobNotFoundError(this.id, { context: { jobType: this.type } }));
      return Result.ok(job as Job<TPayload, TResult>);
    } catch (error) {
      return Result.err(asTransportError(error));
    }
  }

  private async waitTerminal(options: JobWaitOptions): Promise<Result<Job<TPayload, TResult>, JobReadError>> {
    const { signal, timeoutMs } = options;
    // An event that arrives while the job is being read must not be lost: it sets `changed`.
    let changed = false;
    let wake: () => void = () => undefined;
    const subscription = this.options.nc.subscribe(this.options.store.subject(this.id, "*"), {
      callback: () => {
        changed = true;
        wake();
      },
    });
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    try {
      for (;;) {
        changed = false;
        const read = await this.read();
        if (read.isErr() || isTerminalJobState(read.value.state)) return read;
        if (signal?.aborted) {
          return Result.err(
            new TransportError("trellis.job.wait_aborted", `Waiting for job '${this.id}' was aborted`),
          );
        }
        if (deadline !== undefined && Date.now() >= deadline) {
          return Result.err(
            new TransportError(
              "trellis.job.wait_timeout",
              `Job '${this.id}' was not finished after ${timeoutMs} ms (state '${read.value.state}')`,
            ),
          );
        }
        if (changed) continue;
        const pauseMs = Math.min(WAIT_POLL_MS, deadline === undefined ? WAIT_POLL_MS : deadline - Date.now());
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, Math.max(0, pauseMs));
          wake = done;
          signal?.addEventListener("abort", done, { once: true });
        });
      }
    } finally {
      subscription.unsubscribe();
    }
  }

  private async cancelJob(): Promise<Result<Job<TPayload, TResult>, JobReadError>> {
    const read = await this.read();
    if (read.isErr() || isTerminalJobState(read.value.state)) return read;
    const job = read.value;
    const event: JobEvent = {
      jobId: job.id,
      service: job.service,
      jobType: job.type,
      eventType: "cancelled",
      state: "cancelled",
      previousState: job.state,
      context: job.context,
      tries: job.tries,
      maxTries: job.maxTries,
      error: "cancelled",
      timestamp: new Date().toISOString(),
    };
    try {
      await this.options.store.publish(event);
    } catch (error) {
      return Result.err(asTransportError(error));
    }
    return Result.ok((reduceJobEvent(job, event) ?? job) as Job<TPayload, TResult>);
  }
}

function asTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError(
    "trellis.job.read_failed",
    error instanceof Error ? error.message : String(error),
    {
      cause: error,
    },
  );
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The job id of an idempotency `key`: 128 bits of `SHA-256(namespace, queue, key)` written as a ULID
 * (26 Crockford base-32 characters), so the same key always names the same job of that queue.
 */
export function jobIdForKey(namespace: string, queue: string, key: string): string {
  const digest = createHash("sha256").update(`${namespace}\u0000${queue}\u0000${key}`).digest();
  let value = 0n;
  for (const byte of digest.subarray(0, 16)) value = (value << 8n) | BigInt(byte);
  let id = "";
  for (let index = 0; index < 26; index++) {
    id = CROCKFORD[Number(value & 31n)] + id;
    value >>= 5n;
  }
  return id;
}
