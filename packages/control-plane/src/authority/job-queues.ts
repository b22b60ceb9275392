/**
 * The job queue reconciler (runtime spec §3.1, §3.2): ensures the job streams, then one durable
 * consumer per queue on `JOBS_WORK` — `<ns>-<queue>` filtered on `trellis.work.<ns>.<queue>`, explicit
 * acks, `ack_wait`, `max_deliver`, `backoff` and `max_ack_pending = concurrency` from the binding — and
 * returns the binding and the service's exact job grants. Services bind to these consumers and never
 * create them.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JOBS_WORK_STREAM } from "@trellis/contracts";
import { ensureJobStreams } from "../jobs/streams.js";
import {
  type JobQueueMaterialization,
  type JobQueueReconciler,
  type JobsBinding,
  jobQueueGrants,
  jobsBinding,
  OWNER_METADATA_KEY,
  ResourceReconcileError,
} from "./resources.js";

const NANOS_PER_MS = 1_000_000;

/** One queue's binding. */
type JobQueueBinding = JobsBinding["queues"][string];

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  const left = a ?? [];
  const right = b ?? [];
  return left.length === right.length && left.every((value, index) => value === right[index]);
}

/** The consumer configuration of one queue. */
export function jobQueueConsumerConfig(
  deploymentId: string,
  queue: JobQueueBinding,
): Partial<ConsumerConfig> {
  return {
    durable_name: queue.consumerName,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: queue.workSubject,
    ack_wait: queue.ackWaitMs * NANOS_PER_MS,
    max_deliver: queue.maxDeliver,
    max_ack_pending: queue.concurrency,
    ...(queue.backoffMs.length > 0 && { backoff: queue.backoffMs.map((ms) => ms * NANOS_PER_MS) }),
    metadata: { [OWNER_METADATA_KEY]: deploymentId },
  };
}

/**
 * Creates a queue's consumer, or adopts an existing one and updates its filter, ack wait, deliveries,
 * backoff and concurrency. A consumer of that name owned by another deployment is refused.
 */
export async function ensureJobQueueConsumer(
  jsm: JetStreamManager,
  deploymentId: string,
  queue: JobQueueBinding,
): Promise<void> {
  const wanted = jobQueueConsumerConfig(deploymentId, queue);
  const label = `Job queue consumer '${queue.consumerName}' on stream '${JOBS_WORK_STREAM}'`;
  let existing: ConsumerConfig | undefined;
  try {
    existing = (await jsm.consumers.info(JOBS_WORK_STREAM, queue.consumerName)).config;
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.status === 404)) {
      throw new ResourceReconcileError(`${label} could not be inspected: ${describe(error)}`, {
        cause: error,
      });
    }
  }
  if (existing === undefined) {
    try {
      await jsm.consumers.add(JOBS_WORK_STREAM, wanted);
      return;
    } catch (error) {
      throw new ResourceReconcileError(`${label} could not be created: ${describe(error)}`, { cause: error });
    }
  }
  const owner = existing.metadata?.[OWNER_METADATA_KEY];
  if (owner !== undefined && owner !== deploymentId) {
    throw new ResourceReconcileError(`${label} belongs to deployment '${owner}', not '${deploymentId}'`);
  }
  const same =
    existing.filter_subject === wanted.filter_subject &&
    (existing.filter_subjects ?? []).length === 0 &&
    existing.ack_wait === wanted.ack_wait &&
    existing.max_deliver === wanted.max_deliver &&
    existing.max_ack_pending === wanted.max_ack_pending &&
    sameList(existing.backoff, wanted.backoff) &&
    owner === deploymentId;
  if (same) return;
  try {
    await jsm.consumers.update(JOBS_WORK_STREAM, queue.consumerName, {
      filter_subject: queue.workSubject,
      ...((existing.filter_subjects ?? []).length > 0 && { filter_subjects: [] }),
      ack_wait: wanted.ack_wait,
      max_deliver: wanted.max_deliver,
      max_ack_pending: wanted.max_ack_pending,
      backoff: wanted.backoff ?? [],
      metadata: { ...existing.metadata, [OWNER_METADATA_KEY]: deploymentId },
    });
  } catch (error) {
    throw new ResourceReconcileError(`${label} could not be updated: ${describe(error)}`, { cause: error });
  }
}

/** Options of {@link JetStreamJobQueues}. */
export interface JetStreamJobQueuesOptions {
  /** A TRELLIS-account connection. */
  nc: NatsConnection;
  /** JetStream replicas of the job streams (default 1). */
  replicas?: number;
}

/** The job queue reconciler on JetStream. */
export class JetStreamJobQueues implements JobQueueReconciler {
  constructor(private readonly options: JetStreamJobQueuesOptions) {}

  async reconcile(
    deploymentId: string,
    queues: Parameters<JobQueueReconciler["reconcile"]>[1],
  ): Promise<JobQueueMaterialization> {
    const binding = jobsBinding(deploymentId, queues);
    const jsm = await jetstreamManager(this.options.nc);
    await ensureJobStreams(jsm, this.options.replicas ?? 1);
    for (const queue of Object.values(binding.queues)) await ensureJobQueueConsumer(jsm, deploymentId, queue);
    return { binding, ...jobQueueGrants(binding) };
  }
}
