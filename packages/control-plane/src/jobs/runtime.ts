/**
 * The Jobs admin runtime in the control plane (runtime spec §3.7): three loops on durable consumers —
 * the projector (`jobs-projector`, lifecycle events of `JOBS` → SQLite), the worker-presence projector
 * (`jobs-worker-presence-projector`, heartbeats) and the advisory handler (`jobs-advisories`,
 * max-deliveries advisories → `dead`) — and the deadline janitor (→ `expired`).
 *
 * - The projector's consumer allows one unacknowledged message (`max_ack_pending: 1`), so events are
 *   applied in stream order even across a failure: a message whose write fails is nak'd and the loop
 *   restarts after a pause; `JOBS` sequences already processed are skipped (see {@link JobsProjection}).
 *   An unparseable event is acknowledged and skipped.
 * - A failing loop is restarted after {@link RESTART_DELAY_MS} and reported by {@link JobsAdminRuntime.health}
 *   instead of stopping the control plane; the durable consumers make it catch up.
 * - The advisory handler waits (nak, 500 ms) until the projector has processed the job's latest event
 *   before deciding, ignores advisories of a run that has since been re-queued, and skips terminal jobs;
 *   then it deletes the exhausted work item from `JOBS_WORK` (it would never be delivered again).
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  JOBS_ADMIN_CONSUMERS,
  JOBS_ADVISORIES_STREAM,
  JOBS_STREAM,
  JOBS_WORK_STREAM,
  jobEventsPrefix,
} from "@trellis/contracts";
import { isTerminalJobState, type JobEvent, type Logger } from "@trellis/runtime";
import { z } from "zod";
import type { SqliteDatabase } from "../store/database.js";
import { JobsAdmin } from "./admin.js";
import { followUpEvent, publishJobEvent } from "./events.js";
import type { JobMetrics } from "./metrics.js";
import { parseJobEvent, parseJobEventMessage, parseJsonBody, parseWorkerHeartbeat } from "./model.js";
import { JobsProjection } from "./projection.js";

/** Lifecycle events only: `trellis.jobs.<service>.<jobType>.<jobId>.<event>` (heartbeats have 7 tokens). */
export const PROJECTOR_FILTER = "trellis.jobs.*.*.*.*";
/** Worker heartbeats. */
export const PRESENCE_FILTER = "trellis.jobs.workers.*.*.*.heartbeat";
/** Pause before a failed loop is started again. */
export const RESTART_DELAY_MS = 1000;
/** Default janitor interval (`TRELLIS_JOBS_JANITOR_INTERVAL_MS` in the spec). */
export const DEFAULT_JANITOR_INTERVAL_MS = 30_000;
/** The error an expired job records. */
export const EXPIRED_ERROR = "job exceeded deadline";

const NANOS_PER_MS = 1_000_000;
const ADVISORY_RETRY_MS = 500;

/** Options of {@link startJobsAdmin}. */
export interface JobsAdminRuntimeOptions {
  /** A TRELLIS-account connection allowed to use the job streams. */
  nc: NatsConnection;
  /** The control-plane database (migration 5). */
  db: SqliteDatabase;
  logger: Logger;
  /** Job metrics fed by the projector. */
  metrics?: JobMetrics;
  /** Janitor pass interval (default {@link DEFAULT_JANITOR_INTERVAL_MS}). */
  janitorIntervalMs?: number;
  /** How long admin actions wait for the projection (default 2000 ms). */
  projectionTimeoutMs?: number;
  now?: () => Date;
}

/** The status of one loop, for `Jobs.Health`. */
export interface JobsLoopStatus {
  name: string;
  status: "starting" | "ok" | "failed";
  error?: string;
}

/** A running Jobs admin. */
export interface JobsAdminRuntime {
  projection: JobsProjection;
  admin: JobsAdmin;
  /** The loops' status. */
  health(): JobsLoopStatus[];
  /** Runs one janitor pass now; resolves to the number of jobs it expired. */
  sweep(): Promise<number>;
  /** Stops the loops (idempotent). */
  stop(): Promise<void>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Creates the durable consumer, or updates the settings this module manages when they differ. With
 * `processedUpTo`, a consumer whose acknowledged floor is past that stream sequence (the projection
 * was emptied or restored from an older copy) is created again, so it delivers from the start.
 */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  wanted: Partial<ConsumerConfig>,
  processedUpTo?: () => number,
) {
  const name = wanted.durable_name as string;
  try {
    const { config, ack_floor } = await jsm.consumers.info(stream, name);
    if (processedUpTo !== undefined && ack_floor.stream_seq > processedUpTo()) {
      await jsm.consumers.delete(stream, name);
      await jsm.consumers.add(stream, wanted);
      return;
    }
    if (
      config.filter_subject !== wanted.filter_subject ||
      config.max_ack_pending !== wanted.max_ack_pending ||
      config.ack_wait !== wanted.ack_wait
    ) {
      await jsm.consumers.update(stream, name, {
        filter_subject: wanted.filter_subject ?? "",
        ...(wanted.max_ack_pending !== undefined && { max_ack_pending: wanted.max_ack_pending }),
        ...(wanted.ack_wait !== undefined && { ack_wait: wanted.ack_wait }),
      });
    }
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.status === 404)) throw error;
    await jsm.consumers.add(stream, wanted);
  }
}

/** One durable consumer processed message by message, restarted after a failure until stopped. */
class ConsumerLoop {
  status: JobsLoopStatus;
  private messages: ConsumerMessages | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly config: Partial<ConsumerConfig> & { durable_name: string },
    private readonly handle: (msg: JsMsg) => Promise<void>,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
    private readonly processedUpTo?: () => number,
  ) {
    this.status = { name: config.durable_name, status: "starting" };
  }

  start(): void {
    this.running = this.run();
  }

  private async run(): Promise<void> {
    const name = this.config.durable_name;
    while (!this.signal.aborted) {
      try {
        await ensureConsumer(this.jsm, this.stream, this.config, this.processedUpTo);
        const consumer = await this.js.consumers.get(this.stream, name);
        this.messages = await consumer.consume({ max_messages: 1 });
        if (this.signal.aborted) break;
        this.status = { name, status: "ok" };
        for await (const msg of this.messages) {
          if (this.signal.aborted) {
            msg.nak();
            break;
          }
          try {
            await this.handle(msg);
          } catch (error) {
            msg.nak();
            throw error;
          }
        }
      } catch (error) {
        if (this.signal.aborted) break;
        this.status = { name, status: "failed", error: describe(error) };
        this.logger.error({ err: error, consumer: name }, "Jobs admin loop failed; restarting it");
      } finally {
        await this.messages?.close().catch(() => undefined);
        this.messages = undefined;
      }
      await sleep(RESTART_DELAY_MS, this.signal);
    }
  }

  async stop(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    await this.running;
  }
}

const AdvisorySchema = z.object({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number().int().positive(),
  deliveries: z.number().int().min(0),
});

/** Starts the projector, presence, advisory and janitor loops over `options.db`. */
export async function startJobsAdmin(options: JobsAdminRuntimeOptions): Promise<JobsAdminRuntime> {
  const { nc, logger, metrics } = options;
  const now = options.now ?? (() => new Date());
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const projection = new JobsProjection(options.db);
  // A `JOBS` stream that was created anew restarts its sequences: the projection starts over with it.
  const { created } = await jsm.streams.info(JOBS_STREAM);
  if (projection.streamCreated() !== created) {
    if (projection.streamCreated() !== undefined) {
      logger.warn({ stream: JOBS_STREAM }, "The JOBS stream was replaced; rebuilding the jobs projection");
    }
    projection.startOver(created);
  }
  const admin = new JobsAdmin({
    projection,
    js,
    jsm,
    now,
    ...(options.projectionTimeoutMs !== undefined && { projectionTimeoutMs: options.projectionTimeoutMs }),
  });
  const abort = new AbortController();
  const ackWait = 30_000 * NANOS_PER_MS;

  const project = async (msg: JsMsg) => {
    const event = parseJobEventMessage(msg.subject, msg.data);
    if (event === undefined) {
      logger.warn({ subject: msg.subject, seq: msg.seq }, "Skipping an unparseable job event");
      projection.skip(msg.seq);
    } else {
      const application = projection.applyEvent(msg.seq, event);
      if (application.outcome === "reduced" && !application.applied) {
        logger.debug(
          { jobId: event.jobId, eventType: event.eventType, reason: application.reason },
          "Job event not applied",
        );
      }
      metrics?.observe(application);
    }
    msg.ack();
  };

  const recordPresence = async (msg: JsMsg) => {
    const heartbeat = parseWorkerHeartbeat(msg.data);
    if (heartbeat === undefined)
      logger.warn({ subject: msg.subject }, "Skipping an unparseable worker heartbeat");
    else projection.recordHeartbeat(heartbeat);
    msg.ack();
  };

  /** Whether the work item belongs to a run the job has left by being re-queued since. */
  const isStaleRun = async (work: JobEvent): Promise<boolean> => {
    const prefix = jobEventsPrefix(work.service, work.jobType);
    const requeue = await jsm.streams.getMessage(JOBS_STREAM, {
      last_by_subj: `${prefix}.${work.jobId}.retried`,
    });
    if (requeue === null) return false;
    const latest = parseJobEvent(parseJsonBody(requeue.data));
    return !(work.eventType === "retried" && latest?.timestamp === work.timestamp);
  };

  const handleAdvisory = async (msg: JsMsg) => {
    const advisory = AdvisorySchema.safeParse(parseJsonBody(msg.data));
    if (!advisory.success || advisory.data.stream !== JOBS_WORK_STREAM) {
      logger.warn({ subject: msg.subject }, "Skipping an unparseable max-deliveries advisory");
      msg.ack();
      return;
    }
    const { consumer, stream_seq: seq, deliveries } = advisory.data;
    const stored = await jsm.streams.getMessage(JOBS_WORK_STREAM, { seq }).catch(() => null);
    const work = stored === null ? undefined : parseJobEvent(parseJsonBody(stored.data));
    if (work === undefined) {
      logger.warn({ consumer, seq }, "Max-deliveries advisory without a readable work item; skipped");
      msg.ack();
      return;
    }
    const prefix = jobEventsPrefix(work.service, work.jobType);
    const latest = await jsm.streams.getMessage(JOBS_STREAM, { last_by_subj: `${prefix}.${work.jobId}.*` });
    if (latest !== null && projection.lastSequence() < latest.seq) {
      msg.nak(ADVISORY_RETRY_MS);
      return;
    }
    const projected = projection.get(work.jobId);
    if (projected !== undefined && !isTerminalJobState(projected.job.state) && !(await isStaleRun(work))) {
      const error = `max deliveries exceeded: stream=${JOBS_WORK_STREAM} consumer=${consumer} deliveries=${deliveries}`;
      const tries = Math.max(projected.job.tries, deliveries);
      await publishJobEvent(js, followUpEvent(projected, "dead", now(), { tries, error }));
    }
    // The consumer will not deliver the item again; a replay publishes a new one.
    await jsm.streams.deleteMessage(JOBS_WORK_STREAM, seq, false).catch(() => false);
    msg.ack();
  };

  const loops = [
    new ConsumerLoop(
      js,
      jsm,
      JOBS_STREAM,
      {
        durable_name: JOBS_ADMIN_CONSUMERS.projector.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: PROJECTOR_FILTER,
        max_ack_pending: 1,
        ack_wait: ackWait,
      },
      project,
      logger,
      abort.signal,
      () => projection.lastSequence(),
    ),
    new ConsumerLoop(
      js,
      jsm,
      JOBS_STREAM,
      {
        durable_name: JOBS_ADMIN_CONSUMERS.workerPresenceProjector.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.LastPerSubject,
        filter_subject: PRESENCE_FILTER,
        max_ack_pending: 1000,
        ack_wait: ackWait,
      },
      recordPresence,
      logger,
      abort.signal,
    ),
    new ConsumerLoop(
      js,
      jsm,
      JOBS_ADVISORIES_STREAM,
      {
        durable_name: JOBS_ADMIN_CONSUMERS.advisories.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 100,
        ack_wait: ackWait,
      },
      handleAdvisory,
      logger,
      abort.signal,
    ),
  ];

  const sweep = async (): Promise<number> => {
    let expired = 0;
    for (const projected of projection.overdue(now())) {
      await publishJobEvent(js, followUpEvent(projected, "expired", now(), { error: EXPIRED_ERROR }));
      expired += 1;
    }
    return expired;
  };
  const janitor: JobsLoopStatus = { name: "jobs-janitor", status: "ok" };
  const janitorLoop = (async () => {
    while (!abort.signal.aborted) {
      await sleep(options.janitorIntervalMs ?? DEFAULT_JANITOR_INTERVAL_MS, abort.signal);
      if (abort.signal.aborted) break;
      try {
        const expired = await sweep();
        if (expired > 0) logger.info({ expired }, "Jobs janitor expired overdue jobs");
        janitor.status = "ok";
        delete janitor.error;
      } catch (error) {
        Object.assign(janitor, { status: "failed", error: describe(error) });
        logger.error({ err: error }, "Jobs janitor pass failed");
      }
    }
  })();

  for (const loop of loops) loop.start();
  let stopping: Promise<void> | undefined;
  return {
    projection,
    admin,
    health: () => [...loops.map((loop) => ({ ...loop.status })), { ...janitor }],
    sweep,
    stop: () => {
      stopping ??= (async () => {
        abort.abort();
        await Promise.all([...loops.map((loop) => loop.stop()), janitorLoop]);
      })();
      return stopping;
    },
  };
}
