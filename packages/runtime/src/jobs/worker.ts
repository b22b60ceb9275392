/**
 * The worker of one job queue (runtime spec §3.6): binds to the queue's durable consumer on
 * `JOBS_WORK` (created by the control plane, never by the service), runs up to `concurrency` jobs at
 * once, and maps each outcome onto lifecycle events and acks:
 *
 * - latest event terminal (cancelled while pending, completed duplicate, expired, dead…) → ack, skip;
 * - `started` (`tries` = delivery count, `previousState` = the latest state), then the handler;
 * - success → `completed` → ack (only once `completed` is stored);
 * - `JobError.fatal`, an invalid payload or an invalid result → `failed` → ack;
 * - any other error or throw → `retry` → nak with the queue's backoff for this delivery (JetStream
 *   applies `backoff` to ack timeouts only); after `maxDeliver` deliveries JetStream stops and
 *   publishes the max-deliveries advisory, which the Jobs admin turns into `dead`;
 * - cancelled while running → the handler's signal aborts, the result is discarded, ack;
 * - shutdown → in-flight jobs get a grace period, the rest are interrupted and nak'd (no event).
 *
 * `started`, `progress` and `logged` are published without waiting for their acks, so they never
 * serialize the loop; they are all awaited before the outcome's event is published. Reads, publishes
 * and the acks of finished jobs go through the runtime's `JetStreamPipe` (`pipe.ts`): one reply subscription,
 * and one socket write per event-loop turn for all the jobs in flight.
 */
import type { ConsumerMessages, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { type BaseError, Result } from "@trellis/result";
import { settlesWithin } from "../events/handling.js";
import { ConcurrencyLimiter } from "../rpc/limiter.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { SchemaSet } from "../validation/schemas.js";
import { JobError, JobsInfrastructureMissingError } from "./errors.js";
import type {
  Job,
  JobContext,
  JobEvent,
  JobLogEntry,
  JobProgress,
  JobQueueBinding,
  JobState,
} from "./model.js";
import type { JobRef } from "./ref.js";
import { isTerminalJobState, seedJob } from "./state.js";
import { type JobEventStore, parseJobEvent } from "./store.js";

/** The running job a handler receives. */
export interface ActiveJob<TPayload = unknown, TResult = unknown> {
  /** The job's id. */
  readonly id: string;
  /** The payload, validated against the queue's schema. */
  readonly payload: TPayload;
  /** The job's request and trace context. */
  readonly context: Readonly<JobContext>;
  /** A handle on this job. */
  readonly ref: JobRef<TPayload, TResult>;
  /** This delivery's number (1 for the first attempt). */
  readonly tries: number;
  /** The business deadline, when the job has one (ISO 8601). */
  readonly deadline?: string;
  /** Aborts when the job is cancelled (reason `"cancelled"`) or the worker shuts down (`"shutdown"`). */
  readonly signal: AbortSignal;
  /** Whether the job was cancelled while running (its result will be discarded). */
  readonly cancelled: boolean;
  /** Tells JetStream the job is still being worked on: resets its ack deadline. */
  heartbeat(): void;
  /** Publishes a `progress` event (also a heartbeat). Throws when the queue disables progress or the job is no longer running. */
  progress(progress: JobProgress): void;
  /** Publishes a `logged` event (also a heartbeat). Throws when the queue disables logs or the job is no longer running. */
  log(level: JobLogEntry["level"], message: string): void;
  /** Deliveries before this one. */
  redeliveryCount(): number;
  /** Whether this is not the first delivery. */
  isRedelivery(): boolean;
}

/** Runs one job; returns its result or the error that failed the attempt. */
export type JobRunner = (job: ActiveJob) => Promise<Result<unknown, BaseError>>;

/** Options of {@link JobQueueWorker}. */
export interface JobQueueWorkerOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  /** `JOBS_WORK`. */
  workStream: string;
  namespace: string;
  binding: JobQueueBinding;
  store: JobEventStore;
  /** Validators of the contract's schemas (payload and result). */
  schemas: SchemaSet;
  /** A handle on a job of this queue. */
  ref: (jobId: string) => JobRef;
  run: JobRunner;
  logger: Logger;
  metrics?: Metrics;
}

/** Cancels remembered for jobs not running here yet (bounded). */
const EARLY_CANCELS_LIMIT = 10_000;
/** Delay before a job whose state could not be read is delivered again, ms. */
const READ_FAILURE_DELAY_MS = 1000;

/** One delivery of one job being processed. */
class Attempt implements ActiveJob {
  readonly controller = new AbortController();
  /** The `cancelled` event that cancelled the job while running. */
  cancelEvent: JobEvent | undefined;
  /** Shutdown gave up on it: it was nak'd and nothing more may be published or acked. */
  interrupted = false;
  /** The outcome is being published: progress and logs are refused. */
  finishing = false;
  /** Whether `started` was published (so a cancel that raced it may need restating). */
  startedPublished = false;
  /** When the handler last showed it is alive (start, heartbeat, progress, log), ms since the epoch. */
  lastBeat = Date.now();
  private readonly inFlight = new Set<Promise<unknown>>();
  private publishFailure: unknown;
  payload: unknown;

  constructor(
    private readonly worker: JobQueueWorker,
    readonly msg: JsMsg,
    readonly work: JobEvent,
    readonly ref: JobRef,
  ) {
    this.payload = work.payload;
  }

  get id(): string {
    return this.work.jobId;
  }
  get context(): Readonly<JobContext> {
    return this.work.context;
  }
  get tries(): number {
    return this.msg.info.deliveryCount;
  }
  get deadline(): string | undefined {
    return this.work.deadline;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get cancelled(): boolean {
    return this.cancelEvent !== undefined;
  }
  /** Whether the handler may still report: not cancelled, interrupted or finishing. */
  get running(): boolean {
    return !this.cancelled && !this.interrupted && !this.finishing;
  }

  heartbeat(): void {
    if (!this.running) return;
    this.lastBeat = Date.now();
    this.msg.working();
  }

  progress(progress: JobProgress): void {
    this.report("progress", { progress });
  }

  log(level: JobLogEntry["level"], message: string): void {
    this.report("logged", { logs: [{ timestamp: new Date().toISOString(), level, message }] });
  }

  redeliveryCount(): number {
    return this.tries - 1;
  }

  isRedelivery(): boolean {
    return this.tries > 1;
  }

  private report(eventType: "progress" | "logged", fields: Partial<JobEvent>): void {
    const binding = this.worker.binding;
    if (eventType === "progress" && !binding.progress)
      throw new Error(`Job queue '${binding.queueType}' does not allow progress`);
    if (eventType === "logged" && !binding.logs)
      throw new Error(`Job queue '${binding.queueType}' does not allow logs`);
    if (!this.running) throw new Error(`Job '${this.id}' is no longer running`);
    this.lastBeat = Date.now();
    this.msg.working();
    this.publish(this.event(eventType, "active", "active", fields));
  }

  /** A lifecycle event of this job. */
  event(
    eventType: JobEvent["eventType"],
    state: JobState,
    previousState: JobState,
    fields: Partial<JobEvent> = {},
  ): JobEvent {
    return {
      jobId: this.id,
      service: this.worker.namespace,
      jobType: this.worker.binding.queueType,
      eventType,
      state,
      previousState,
      context: this.work.context,
      tries: this.tries,
      maxTries: this.worker.binding.maxDeliver,
      ...fields,
      timestamp: new Date().toISOString(),
    };
  }

  /** Publishes without waiting; {@link settle} waits for every such publish. */
  publish(event: JobEvent): void {
    const pending = this.worker.store.publish(event).catch((error: unknown) => {
      this.publishFailure ??= error;
    });
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
  }

  /** Waits for the pipelined publishes, then publishes `event` and waits for its ack. */
  async settle(event: JobEvent): Promise<void> {
    this.finishing = true;
    await Promise.all(this.inFlight);
    if (this.publishFailure !== undefined) throw this.publishFailure;
    await this.worker.store.publish(event);
  }
}

/** Runs the handler of one queue against its work-queue consumer. */
export class JobQueueWorker {
  readonly binding: JobQueueBinding;
  readonly namespace: string;
  readonly store: JobEventStore;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private cancelSubscription: Subscription | undefined;
  private readonly attempts = new Map<string, Attempt>();
  private readonly processing = new Set<Promise<void>>();
  private readonly earlyCancels = new Set<string>();
  /** A delivered message waiting for a free slot. */
  private held: JsMsg | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: JobQueueWorkerOptions) {
    this.binding = options.binding;
    this.namespace = options.namespace;
    this.store = options.store;
  }

  /** Binds to the consumer and starts taking work. Throws `JobsInfrastructureMissingError` when the consumer is missing. */
  async start(): Promise<void> {
    const { js, nc, binding, workStream, logger } = this.options;
    if (!Number.isInteger(binding.concurrency) || binding.concurrency < 1) {
      throw new JobsInfrastructureMissingError(
        `Job queue '${binding.queueType}' has an invalid concurrency ${binding.concurrency}`,
      );
    }
    let messages: ConsumerMessages;
    try {
      const consumer = await js.consumers.get(workStream, binding.consumerName);
      this.cancelSubscription = nc.subscribe(this.store.subject("*", "cancelled"), {
        callback: (error, msg) => {
          if (!error) this.onCancel(msg.data);
        },
      });
      messages = await consumer.consume({ max_messages: binding.concurrency });
    } catch (cause) {
      this.cancelSubscription?.unsubscribe();
      throw new JobsInfrastructureMissingError(
        `Job queue '${binding.queueType}' cannot bind to consumer '${binding.consumerName}' of stream '${workStream}': ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause, context: { jobType: binding.queueType, consumer: binding.consumerName } },
      );
    }
    this.messages = messages;
    const limiter = new ConcurrencyLimiter(binding.concurrency);
    this.loop = (async () => {
      for await (const msg of messages) {
        this.held = msg;
        await limiter.acquire();
        if (this.held !== msg) {
          // stop() already handed it back.
          limiter.release();
          continue;
        }
        this.held = undefined;
        if (this.stopping) {
          limiter.release();
          msg.nak();
          continue;
        }
        const processing = this.process(msg)
          .catch((cause: unknown) => {
            logger.error(
              { err: cause, jobType: binding.queueType },
              "Job processing failed; it will be redelivered.",
            );
          })
          .finally(() => {
            limiter.release();
            this.processing.delete(processing);
          });
        this.processing.add(processing);
      }
    })().catch((cause: unknown) => {
      logger.error({ err: cause, jobType: binding.queueType }, "Job worker loop failed.");
    });
    logger.info(
      { jobType: binding.queueType, consumer: binding.consumerName, concurrency: binding.concurrency },
      "Job worker started.",
    );
  }

  /**
   * Stops taking work, lets running jobs finish for up to `graceMs`, then interrupts the rest: their
   * signals abort with `"shutdown"` and they are nak'd for another worker (no lifecycle event).
   */
  stop(graceMs: number): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      await this.messages?.close();
      this.held?.nak();
      this.held = undefined;
      const finished = await settlesWithin(Promise.allSettled([...this.processing]), graceMs);
      if (!finished) {
        for (const attempt of this.attempts.values()) {
          attempt.interrupted = true;
          attempt.controller.abort("shutdown");
          attempt.msg.nak();
        }
        this.options.logger.warn(
          { jobType: this.binding.queueType, interrupted: this.attempts.size },
          "Job worker stopped with jobs still running; they were handed back for redelivery.",
        );
      }
      // An interrupted handler that ignores its signal keeps its slot: do not wait for it.
      if (this.loop) await settlesWithin(this.loop, finished ? graceMs : 0);
      this.cancelSubscription?.unsubscribe();
      // The acks of the last outcomes must leave before the service drains the connection.
      this.store.flush();
    })();
    return this.stopped;
  }

  private onCancel(data: Uint8Array): void {
    const event = parseJobEvent(data);
    if (event?.eventType !== "cancelled") return;
    const attempt = this.attempts.get(event.jobId);
    if (attempt) {
      if (attempt.cancelEvent || attempt.interrupted) return;
      attempt.cancelEvent = event;
      attempt.controller.abort("cancelled");
      return;
    }
    if (this.earlyCancels.size >= EARLY_CANCELS_LIMIT) {
      const oldest = this.earlyCancels.values().next();
      if (!oldest.done) this.earlyCancels.delete(oldest.value);
    }
    this.earlyCancels.add(event.jobId);
  }

  private async process(msg: JsMsg): Promise<void> {
    const { logger, binding } = this.options;
    const work = parseJobEvent(msg.data);
    if (
      !work ||
      (work.eventType !== "created" && work.eventType !== "retried") ||
      work.payload === undefined
    ) {
      logger.warn(
        { jobType: binding.queueType, seq: msg.info.streamSequence },
        "Malformed work item dropped.",
      );
      msg.ack();
      return;
    }
    const attempt = new Attempt(this, msg, work, this.options.ref(work.jobId));
    // Registered before reading, so a cancel published meanwhile reaches it.
    this.attempts.set(work.jobId, attempt);
    try {
      await this.attempt(attempt);
    } finally {
      if (this.attempts.get(work.jobId) === attempt) this.attempts.delete(work.jobId);
    }
  }

  private async attempt(attempt: Attempt): Promise<void> {
    const { msg, work } = attempt;
    const { binding, schemas, logger } = this.options;
    if (this.earlyCancels.delete(work.jobId)) {
      msg.ack();
      return;
    }
    let current: Job | undefined;
    try {
      current = await this.store.read(work.jobId);
    } catch (error) {
      logger.warn(
        { err: error, jobType: binding.queueType, jobId: work.jobId },
        "Job state unreadable; nak.",
      );
      if (!attempt.interrupted) msg.nak(READ_FAILURE_DELAY_MS);
      return;
    }
    const latest = current ?? seedJob(work);
    if (attempt.interrupted) return;
    if (isTerminalJobState(latest.state) || attempt.cancelled) {
      this.store.defer(() => msg.ack());
      return;
    }
    attempt.publish(attempt.event("started", "active", latest.state));
    attempt.startedPublished = true;

    // The work item was parsed for this attempt alone: validation may apply defaults to it in place.
    const payload = schemas.validate(binding.payload.schema, work.payload);
    if (payload.isErr()) {
      await this.finish(attempt, "failed", { error: `invalid payload: ${payload.error.message}` });
      return;
    }
    attempt.payload = payload.value;

    attempt.lastBeat = Date.now();
    const stopKeepAlive = this.keepAlive(attempt);
    const outcome = await this.options
      .run(attempt)
      .catch((cause: unknown) => Result.err(asError(cause)))
      .finally(stopKeepAlive);
    if (attempt.interrupted) return;
    if (attempt.cancelled) {
      await this.finishCancelled(attempt);
      return;
    }
    if (outcome.isOk()) {
      if (binding.result) {
        const result = schemas.validate(binding.result.schema, outcome.value);
        if (result.isErr()) {
          await this.finish(attempt, "failed", { error: `invalid result: ${result.error.message}` });
          return;
        }
      }
      await this.finish(attempt, "completed", outcome.value === undefined ? {} : { result: outcome.value });
      return;
    }
    const error = outcome.error;
    const message = describeError(error);
    this.options.metrics?.error({
      type: error.name,
      surface: "job",
      direction: "worker",
      operation: binding.queueType,
      phase: "handler",
    });
    if (error instanceof JobError && !error.retryable) {
      await this.finish(attempt, "failed", { error: message });
      return;
    }
    logger.warn(
      { err: error, jobType: binding.queueType, jobId: work.jobId, tries: attempt.tries },
      "Job attempt failed; retrying after the backoff.",
    );
    await this.finish(attempt, "retry", { error: message });
  }

  /**
   * With a backoff, JetStream's ack deadline of delivery n is `backoff[n-1]` (often seconds), not the
   * queue's `ackWaitMs`. While the handler runs, the worker therefore extends the deadline itself
   * (every half deadline) for as long as the handler showed life within `ackWaitMs`; a handler silent
   * for longer is presumed hung and JetStream redelivers the job. A crashed worker extends nothing.
   */
  private keepAlive(attempt: Attempt): () => void {
    const { backoffMs, ackWaitMs } = this.binding;
    if (backoffMs.length === 0) return () => undefined;
    const deadline = backoffMs[Math.min(attempt.tries, backoffMs.length) - 1] ?? ackWaitMs;
    if (deadline >= ackWaitMs) return () => undefined;
    const timer = setInterval(
      () => {
        if (attempt.running && Date.now() - attempt.lastBeat < ackWaitMs) attempt.msg.working();
      },
      Math.max(10, Math.floor(deadline / 2)),
    );
    return () => clearInterval(timer);
  }

  /** Publishes the outcome after the pipelined events, then acks (or naks a retry with its backoff). */
  private async finish(
    attempt: Attempt,
    outcome: "completed" | "failed" | "retry",
    fields: Partial<JobEvent>,
  ): Promise<void> {
    await attempt.settle(attempt.event(outcome, outcome, "active", fields));
    if (attempt.interrupted) return;
    const { msg } = attempt;
    if (outcome !== "retry") {
      this.store.defer(() => msg.ack());
      return;
    }
    const delay = this.binding.backoffMs[attempt.tries - 1];
    this.store.defer(() => (delay === undefined ? msg.nak() : msg.nak(delay)));
  }

  /**
   * Acks a job cancelled while it ran. A cancel that raced with `started` (published while the job
   * still looked pending) is restated from `active`, so the projection's strict transition check
   * accepts it.
   */
  private async finishCancelled(attempt: Attempt): Promise<void> {
    const cancel = attempt.cancelEvent;
    if (attempt.startedPublished && cancel && cancel.previousState !== "active") {
      await attempt.settle(
        attempt.event("cancelled", "cancelled", "active", { error: cancel.error ?? "cancelled" }),
      );
    }
    if (!attempt.interrupted) this.store.defer(() => attempt.msg.ack());
  }
}

function asError(cause: unknown): BaseError {
  return cause instanceof JobError
    ? cause
    : new JobError(cause instanceof Error ? cause.message : String(cause), { cause });
}

function describeError(error: BaseError): string {
  return error instanceof JobError ? error.message : `${error.name}: ${error.message}`;
}
