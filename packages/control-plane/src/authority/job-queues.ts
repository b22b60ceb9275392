/**
 * The job queue reconciler (runtime spec §3.1, §3.2): ensures the job streams, then one durable
 * consumer per queue on `JOBS_WORK` — `<ns>-<queue>` filtered on `trellis.work.<ns>.<queue>`, explicit
 * acks, `ack_wait`, `max_deliver`, `backoff` and `max_ack_pending = concurrency` from the binding — and
 * returns the binding and the service's exact job grants. Services bind to these consumers and never
 * create them.
 */
import { DeliverPolicy, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JOBS_WORK_STREAM } from "@trellis/contracts";
import { ensureJobStreams } from "../jobs/streams.js";
import {
  type DurableConsumerConfig,
  durableConsumerConfig,
  ensureOwnedConsumer,
  type JobQueueMaterialization,
  type JobQueueReconciler,
  type JobsBinding,
  jobQueueGrants,
  jobsBinding,
} from "./resources.js";

/** One queue's binding. */
type JobQueueBinding = JobsBinding["queues"][string];

/** The consumer configuration of one queue. */
export function jobQueueConsumerConfig(deploymentId: string, queue: JobQueueBinding): DurableConsumerConfig {
  return durableConsumerConfig(deploymentId, queue, {
    deliver_policy: DeliverPolicy.All,
    filter_subject: queue.workSubject,
  });
}

/**
 * Creates a queue's consumer, or adopts an existing one and updates its filter, ack wait, deliveries,
 * backoff and concurrency. A consumer of that name owned by another deployment is refused.
 */
export function ensureJobQueueConsumer(
  jsm: JetStreamManager,
  deploymentId: string,
  queue: JobQueueBinding,
): Promise<void> {
  const label = `Job queue consumer '${queue.consumerName}' on stream '${JOBS_WORK_STREAM}'`;
  return ensureOwnedConsumer(
    jsm,
    JOBS_WORK_STREAM,
    deploymentId,
    label,
    jobQueueConsumerConfig(deploymentId, queue),
  );
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
