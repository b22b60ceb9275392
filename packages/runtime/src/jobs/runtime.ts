/**
 * The jobs of one service (runtime spec §3.5, §3.6): `service.jobs.<queue>.create(payload)`,
 * `.ref(id)` and `.handle(handler)`, the queue workers (started by `service.start()`/`wait()`, stopped
 * gracefully by `service.stop()`) and the worker presence heartbeats
 * (`trellis.jobs.workers.<service>.<jobType>.<instanceId>.heartbeat`, every 10 s).
 */
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AnyContractModule,
  type ContractJobs,
  JOBS_WORK_STREAM,
  type JobQueueTypes,
  jobWorkerHeartbeatSubject,
} from "@trellis/contracts";
import { AsyncResult, type BaseError, Result } from "@trellis/result";
import { type TransportError, ValidationError } from "../errors/errors.js";
import { newUlid } from "../ids.js";
import type { HandlerResult } from "../rpc/server.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import type { SchemaSet } from "../validation/schemas.js";
import { JobsInfrastructureMissingError } from "./errors.js";
import type { JobEvent, JobQueueBinding, JobsBinding, JobWorkerHeartbeat } from "./model.js";
import { JetStreamPipe } from "./pipe.js";
import { type JobRef, jobIdForKey, StoredJobRef } from "./ref.js";
import { JobEventStore, newJobContext } from "./store.js";
import { type ActiveJob, JobQueueWorker, type JobRunner } from "./worker.js";

/** Options of `create`. */
export interface CreateJobOptions {
  /** Business deadline (default: now + the queue's `defaultDeadlineMs`, if any); the Jobs admin expires the job after it. */
  deadline?: Date | string;
  /** Idempotency key: the same key always names the same job of the queue, which is created once. */
  key?: string;
}

/** A job handler: returns `Result.ok(result)`, `Result.err(error)` (retried unless `JobError.fatal`) or throws (retried). */
export type JobHandler<J extends JobQueueTypes, TClient, TDeps> = (args: {
  job: ActiveJob<J["payload"], J["result"]>;
  client: TClient;
  deps: TDeps;
}) => HandlerResult<J["result"]>;

/** One queue of the service. */
export interface ServiceJobQueue<J extends JobQueueTypes, TClient, TDeps> {
  /**
   * Validates the payload and stores the `created` event (JetStream ack); resolves with a handle on the
   * job. With `key`, a job already created under that key is returned instead.
   */
  create(
    payload: J["create"],
    options?: CreateJobOptions,
  ): AsyncResult<
    JobRef<J["payload"], J["result"]>,
    ValidationError | TransportError | JobsInfrastructureMissingError
  >;
  /** A handle on an existing job of this queue (e.g. after a restart). */
  ref(id: string): JobRef<J["payload"], J["result"]>;
  /** Registers the queue's handler (once, before the service starts). */
  handle(handler: JobHandler<J, TClient, TDeps>): void;
}

/** `service.jobs`: the contract's queues by name. */
export type ServiceJobs<M extends AnyContractModule, TClient, TDeps> = {
  readonly [K in keyof ContractJobs<M>]: ServiceJobQueue<
    ContractJobs<M>[K] extends JobQueueTypes ? ContractJobs<M>[K] : JobQueueTypes,
    TClient,
    TDeps
  >;
};

/** Options of {@link JobsRuntime}. */
export interface JobsRuntimeOptions<M extends AnyContractModule> {
  nc: NatsConnection;
  contract: M;
  /** The deployment's jobs binding (from bootstrap); without it the queues cannot be used. */
  binding?: JobsBinding;
  /** Validators of the contract's own schemas. */
  schemas: SchemaSet;
  logger: Logger;
  metrics?: Metrics;
  /** Worker instance id in presence heartbeats (default: a fresh ULID). */
  instanceId?: string;
  /** How long `stop()` lets running jobs finish before handing them back, ms (default 30 000). */
  shutdownGraceMs?: number;
  /** Presence heartbeat period, ms (default 10 000). */
  presenceIntervalMs?: number;
}

interface Queue {
  name: string;
  binding?: JobQueueBinding;
  store?: JobEventStore;
  run?: JobRunner;
  worker?: JobQueueWorker;
}

/** The jobs of one service. */
export class JobsRuntime<M extends AnyContractModule> {
  /** The worker instance id used in presence heartbeats. */
  readonly instanceId: string;
  private readonly queues = new Map<string, Queue>();
  private readonly js: JetStreamClient;
  /** Publishes and direct gets of every queue (one inbox subscription). */
  private readonly pipe: JetStreamPipe;
  private presence: ReturnType<typeof setInterval> | undefined;
  private starting = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: JobsRuntimeOptions<M>) {
    this.instanceId = options.instanceId ?? newUlid();
    this.js = jetstream(options.nc);
    this.pipe = new JetStreamPipe(options.nc);
    for (const name of Object.keys(options.contract.CONTRACT.jobs ?? {})) {
      const binding = options.binding?.queues[name];
      const queue: Queue = { name, ...(binding && { binding }) };
      if (binding) {
        queue.store = new JobEventStore({ pipe: this.pipe, publishPrefix: binding.publishPrefix });
      }
      this.queues.set(name, queue);
    }
  }

  /** The `service.jobs` facade; handlers registered through it receive `client` and `deps`. */
  facade<TClient, TDeps>(client: TClient, deps: TDeps): ServiceJobs<M, TClient, TDeps> {
    const facade: Record<string, ServiceJobQueue<JobQueueTypes, TClient, TDeps>> = {};
    for (const queue of this.queues.values()) {
      facade[queue.name] = {
        create: (payload, options) => AsyncResult.from(this.create(queue, payload, options)),
        ref: (id) => this.ref(queue, id),
        handle: (handler) => this.register(queue, (job) => runHandler(handler, { job, client, deps })),
      };
    }
    return facade as ServiceJobs<M, TClient, TDeps>;
  }

  /**
   * Starts a worker for every queue with a handler, then the presence heartbeats. If one queue cannot
   * start (its consumer is missing), the workers already started are stopped and the error is thrown.
   */
  async start(): Promise<void> {
    if (this.starting) return;
    this.starting = true;
    const started: JobQueueWorker[] = [];
    try {
      for (const queue of this.queues.values()) {
        if (!queue.run) continue;
        const worker = this.worker(queue, queue.run);
        await worker.start();
        queue.worker = worker;
        started.push(worker);
      }
    } catch (error) {
      await Promise.allSettled(started.map((worker) => worker.stop(0)));
      throw error;
    }
    if (started.length === 0) return;
    this.publishPresence();
    this.presence = setInterval(() => this.publishPresence(), this.options.presenceIntervalMs ?? 10_000);
    this.presence.unref();
  }

  /** Stops the workers gracefully (see `JobQueueWorker.stop`) and the presence heartbeats. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.starting = true;
      if (this.presence) clearInterval(this.presence);
      const grace = this.options.shutdownGraceMs ?? 30_000;
      await Promise.allSettled(
        [...this.queues.values()].map((queue) => queue.worker?.stop(grace) ?? Promise.resolve()),
      );
    })();
    return this.stopped;
  }

  private register(queue: Queue, run: JobRunner): void {
    if (queue.run) throw new Error(`Job queue '${queue.name}' already has a handler registered`);
    if (this.starting)
      throw new Error(`Job queue '${queue.name}': handlers must be registered before the service starts`);
    queue.run = run;
  }

  private bound(queue: Queue): { binding: JobQueueBinding; store: JobEventStore } {
    if (!queue.binding || !queue.store || !this.options.binding) {
      throw new JobsInfrastructureMissingError(
        `Job queue '${queue.name}' has no binding; was the deployment reconciled with its job queues?`,
        { context: { jobType: queue.name } },
      );
    }
    return { binding: queue.binding, store: queue.store };
  }

  private ref(queue: Queue, id: string): StoredJobRef {
    const { store } = this.bound(queue);
    return new StoredJobRef(
      { nc: this.options.nc, store, namespace: this.namespace(), queue: queue.name },
      id,
    );
  }

  private namespace(): string {
    return this.options.binding?.namespace ?? "";
  }

  private worker(queue: Queue, run: JobRunner): JobQueueWorker {
    const { binding, store } = this.bound(queue);
    return new JobQueueWorker({
      nc: this.options.nc,
      js: this.js,
      workStream: this.options.binding?.workStream ?? JOBS_WORK_STREAM,
      namespace: this.namespace(),
      binding,
      store,
      schemas: this.options.schemas,
      ref: (jobId) => this.ref(queue, jobId),
      run,
      logger: this.options.logger,
      ...(this.options.metrics && { metrics: this.options.metrics }),
    });
  }

  private async create(
    queue: Queue,
    payload: unknown,
    options: CreateJobOptions = {},
  ): Promise<Result<JobRef, ValidationError | TransportError | JobsInfrastructureMissingError>> {
    let bound: { binding: JobQueueBinding; store: JobEventStore };
    try {
      bound = this.bound(queue);
    } catch (error) {
      return Result.err(error as JobsInfrastructureMissingError);
    }
    const { binding, store } = bound;
    let wire: unknown;
    try {
      wire = JSON.parse(JSON.stringify(payload));
    } catch (cause) {
      return Result.err(
        new ValidationError([{ path: "", message: "the job payload cannot be encoded as JSON" }], { cause }),
      );
    }
    const valid = this.options.schemas.validate(binding.payload.schema, wire);
    if (valid.isErr()) return Result.err(valid.error);
    const now = new Date();
    const deadline = deadlineOf(options.deadline, binding, now);
    if (deadline instanceof ValidationError) return Result.err(deadline);
    const id = options.key === undefined ? newUlid() : jobIdForKey(this.namespace(), queue.name, options.key);
    const ref = this.ref(queue, id);
    try {
      if (options.key !== undefined && (await store.last(store.subject(id, "created"))))
        return Result.ok(ref);
      const created: JobEvent = {
        jobId: id,
        service: this.namespace(),
        jobType: queue.name,
        eventType: "created",
        state: "pending",
        context: newJobContext(),
        tries: 0,
        maxTries: binding.maxDeliver,
        payload: valid.value,
        ...(deadline !== undefined && { deadline }),
        timestamp: now.toISOString(),
      };
      await store.publish(created, `${id}.created`);
    } catch (error) {
      return Result.err(error as TransportError);
    }
    return Result.ok(ref);
  }

  private publishPresence(): void {
    const timestamp = new Date().toISOString();
    for (const queue of this.queues.values()) {
      if (!queue.worker || !queue.binding) continue;
      const heartbeat: JobWorkerHeartbeat = {
        service: this.namespace(),
        jobType: queue.name,
        instanceId: this.instanceId,
        concurrency: queue.binding.concurrency,
        timestamp,
      };
      try {
        this.options.nc.publish(
          jobWorkerHeartbeatSubject(this.namespace(), queue.name, this.instanceId),
          JSON.stringify(heartbeat),
        );
      } catch (error) {
        this.options.logger.warn(
          { err: error, jobType: queue.name },
          "Failed to publish job worker heartbeat",
        );
      }
    }
  }
}

/** The ISO deadline of a new job, or a `ValidationError` for an unusable one. */
function deadlineOf(
  requested: Date | string | undefined,
  binding: JobQueueBinding,
  now: Date,
): string | undefined | ValidationError {
  if (requested === undefined) {
    return binding.defaultDeadlineMs === undefined
      ? undefined
      : new Date(now.getTime() + binding.defaultDeadlineMs).toISOString();
  }
  const at = requested instanceof Date ? requested : new Date(requested);
  if (Number.isNaN(at.getTime())) {
    return new ValidationError([{ path: "/deadline", message: "must be a valid date" }]);
  }
  return at.toISOString();
}

/** Runs a handler; a value that is not a `Result` is an error. */
async function runHandler<A>(
  handler: (args: A) => HandlerResult<unknown>,
  args: A,
): Promise<Result<unknown, BaseError>> {
  const outcome: unknown = await handler(args);
  if (Result.isResult(outcome)) return outcome as Result<unknown, BaseError>;
  throw new Error("The job handler did not return a Result");
}
