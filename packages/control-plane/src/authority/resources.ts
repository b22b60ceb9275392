/**
 * The NATS objects reconciliation creates for a deployment (runtime spec §2, §3.1, §5.1), on the
 * TRELLIS account: KV buckets for `resources.kv` aliases and durable consumers for `eventConsumers`
 * groups on the `trellis` event stream. Every object is created, or adopted and updated in place; each
 * carries `trellis.deployment` metadata so a name shared by two deployments (after sanitizing) is
 * refused instead of silently shared. Job queues go through {@link JobQueueReconciler}
 * (`JetStreamJobQueues`, `job-queues.ts`).
 */
import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type EventConsumerGroup,
  eventConsumerGrants,
  JOBS_STREAM,
  JOBS_WORK_STREAM,
  type JobQueue,
  jobEventsPrefix,
  jobQueueConsumerName,
  jobWorkSubject,
  type KvResource,
} from "@trellis/contracts";
import { BaseError } from "@trellis/result";
import type { ResourceBindings } from "./reconciler.js";

/** Metadata key naming the deployment that owns a bucket or consumer. */
export const OWNER_METADATA_KEY = "trellis.deployment";

/** A resource could not be created, adopted or updated; the message says which and why. */
export class ResourceReconcileError extends BaseError {}

/** Replaces every character outside `[A-Za-z0-9_-]` with `_` (stream, bucket and consumer names). */
export function sanitizeName(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_");
}

/** The KV bucket of a deployment's `resources.kv` alias: `svc_<deploymentId>_<alias>`, sanitized. */
export function kvBucketName(deploymentId: string, alias: string): string {
  return sanitizeName(`svc_${deploymentId}_${alias}`);
}

/** The durable consumer of a deployment's event consumer group: `<deploymentId>-<group>`, sanitized. */
export function eventConsumerName(deploymentId: string, group: string): string {
  return sanitizeName(`${deploymentId}-${group}`);
}

/** Default redelivery backoff of event consumers and job queues (ms). */
export const DEFAULT_BACKOFF_MS: readonly number[] = [5000, 30000, 120000, 600000, 1800000];

const NANOS_PER_MS = 1_000_000;

/** A KV binding with the manifest defaults applied (`history` 1, `ttlMs` 0). */
export type KvBinding = NonNullable<ResourceBindings["kv"]>[string];

/** An event consumer binding with the manifest defaults applied. */
export type EventConsumerBinding = NonNullable<ResourceBindings["eventConsumers"]>[string];

/** The jobs binding of a deployment. */
export type JobsBinding = NonNullable<ResourceBindings["jobs"]>;

/** The binding of a KV resource: its bucket and the definition's limits with defaults. */
export function kvBinding(deploymentId: string, alias: string, definition: KvResource): KvBinding {
  return {
    bucket: kvBucketName(deploymentId, alias),
    history: definition.history ?? 1,
    ttlMs: definition.ttlMs ?? 0,
    ...(definition.maxValueBytes !== undefined && { maxValueBytes: definition.maxValueBytes }),
  };
}

/**
 * The binding of an event consumer group with defaults applied (`replay` new, `concurrency` 1,
 * `ackWaitMs` 300000, `maxDeliver` 6, backoff truncated to `maxDeliver − 1` entries).
 */
export function eventConsumerBinding(
  deploymentId: string,
  group: string,
  definition: EventConsumerGroup,
  filterSubjects: readonly string[],
  stream: string,
): EventConsumerBinding {
  const maxDeliver = definition.maxDeliver ?? 6;
  return {
    stream,
    consumerName: eventConsumerName(deploymentId, group),
    filterSubjects: [...new Set(filterSubjects)].sort(),
    replay: definition.replay ?? "new",
    ordering: "strict",
    concurrency: definition.concurrency ?? 1,
    ackWaitMs: definition.ackWaitMs ?? 300_000,
    maxDeliver,
    backoffMs: [...(definition.backoffMs ?? DEFAULT_BACKOFF_MS)].slice(0, Math.max(0, maxDeliver - 1)),
  };
}

function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.status === 404;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function owner(metadata: Record<string, string> | undefined): string | undefined {
  return metadata?.[OWNER_METADATA_KEY];
}

/**
 * Creates the bucket, or adopts an existing one and updates its history, TTL, value size limit and
 * direct gets when they differ. Refuses a stream of that name that is not this bucket's KV stream or that another
 * deployment owns.
 */
export async function ensureKvBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  deploymentId: string,
  binding: KvBinding,
  replicas: number,
): Promise<void> {
  const stream = `KV_${binding.bucket}`;
  // Direct gets: the service's grants cover `$JS.API.DIRECT.GET`, not `STREAM.MSG.GET`.
  const wanted: Pick<StreamConfig, "max_msgs_per_subject" | "max_age" | "max_msg_size" | "allow_direct"> = {
    max_msgs_per_subject: binding.history,
    max_age: binding.ttlMs * NANOS_PER_MS,
    max_msg_size: binding.maxValueBytes ?? -1,
    allow_direct: true,
  };
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(stream)).config;
  } catch (error) {
    if (!isNotFound(error)) {
      throw new ResourceReconcileError(
        `KV bucket '${binding.bucket}' could not be inspected: ${describe(error)}`,
        {
          cause: error,
        },
      );
    }
  }
  try {
    if (existing === undefined) {
      await new Kvm(nc).create(binding.bucket, {
        history: binding.history,
        ttl: binding.ttlMs,
        maxValueSize: binding.maxValueBytes ?? -1,
        allow_direct: true,
        replicas,
        metadata: { [OWNER_METADATA_KEY]: deploymentId },
      });
      return;
    }
  } catch (error) {
    throw new ResourceReconcileError(
      `KV bucket '${binding.bucket}' could not be created: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
  const subjects = existing.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== `$KV.${binding.bucket}.>`) {
    throw new ResourceReconcileError(
      `Stream '${stream}' exists but is not the KV bucket '${binding.bucket}' (subjects ${JSON.stringify(subjects)})`,
    );
  }
  const owningDeployment = owner(existing.metadata);
  if (owningDeployment !== undefined && owningDeployment !== deploymentId) {
    throw new ResourceReconcileError(
      `KV bucket '${binding.bucket}' belongs to deployment '${owningDeployment}', not '${deploymentId}'`,
    );
  }
  const same =
    existing.max_msgs_per_subject === wanted.max_msgs_per_subject &&
    existing.max_age === wanted.max_age &&
    existing.max_msg_size === wanted.max_msg_size &&
    existing.allow_direct === true &&
    owningDeployment === deploymentId;
  if (same) return;
  try {
    // The duplicate window may not exceed the TTL (the server picks it that way on creation).
    const shorterWindow =
      wanted.max_age > 0 && existing.duplicate_window > wanted.max_age
        ? { duplicate_window: wanted.max_age }
        : {};
    await jsm.streams.update(stream, {
      ...wanted,
      ...shorterWindow,
      metadata: { ...existing.metadata, [OWNER_METADATA_KEY]: deploymentId },
    });
  } catch (error) {
    throw new ResourceReconcileError(
      `KV bucket '${binding.bucket}' could not be updated: ${describe(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** What a deployment's durable consumer takes from its binding. */
export interface DurableConsumerSettings {
  consumerName: string;
  ackWaitMs: number;
  maxDeliver: number;
  concurrency: number;
  backoffMs: readonly number[];
}

/** How a durable consumer starts and what it reads: one filter subject or several. */
export type ConsumerSelection = Pick<ConsumerConfig, "deliver_policy"> &
  ({ filter_subject: string } | { filter_subjects: string[] });

/** A durable consumer's configuration. */
export type DurableConsumerConfig = Partial<ConsumerConfig> & { durable_name: string };

/** The configuration of a deployment's durable consumer: explicit acks, its owner in the metadata. */
export function durableConsumerConfig(
  deploymentId: string,
  settings: DurableConsumerSettings,
  selection: ConsumerSelection,
): DurableConsumerConfig {
  return {
    durable_name: settings.consumerName,
    ack_policy: AckPolicy.Explicit,
    ...selection,
    ack_wait: settings.ackWaitMs * NANOS_PER_MS,
    max_deliver: settings.maxDeliver,
    max_ack_pending: settings.concurrency,
    ...(settings.backoffMs.length > 0 && { backoff: settings.backoffMs.map((ms) => ms * NANOS_PER_MS) }),
    metadata: { [OWNER_METADATA_KEY]: deploymentId },
  };
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  const left = a ?? [];
  const right = b ?? [];
  return left.length === right.length && left.every((value, index) => value === right[index]);
}

/**
 * Whether `existing` reads what `wanted` does, and the filter fields that make it so: a single
 * `filter_subject`, or `filter_subjects` (compared as a set).
 */
function filterChange(
  existing: ConsumerConfig,
  wanted: Partial<ConsumerConfig>,
): { same: boolean; update: Partial<ConsumerConfig> } {
  const subjects = existing.filter_subjects ?? [];
  if (wanted.filter_subjects !== undefined) {
    const filters = [...subjects, ...(existing.filter_subject ? [existing.filter_subject] : [])];
    return {
      same: sameList([...filters].sort(), wanted.filter_subjects),
      update: {
        filter_subjects: wanted.filter_subjects,
        ...(existing.filter_subject ? { filter_subject: "" } : {}),
      },
    };
  }
  return {
    same: existing.filter_subject === wanted.filter_subject && subjects.length === 0,
    update: { filter_subject: wanted.filter_subject, ...(subjects.length > 0 && { filter_subjects: [] }) },
  };
}

/**
 * Creates a deployment's durable consumer on `stream`, or adopts an existing one and updates its
 * filter, ack wait, deliveries, backoff and concurrency when they differ. A consumer of that name
 * owned by another deployment is refused, as is one `refuse` names a reason for.
 */
export async function ensureOwnedConsumer(
  jsm: JetStreamManager,
  stream: string,
  deploymentId: string,
  label: string,
  wanted: DurableConsumerConfig,
  refuse?: (existing: ConsumerConfig) => string | undefined,
): Promise<void> {
  let existing: ConsumerConfig | undefined;
  try {
    existing = (await jsm.consumers.info(stream, wanted.durable_name)).config;
  } catch (error) {
    if (!isNotFound(error)) {
      throw new ResourceReconcileError(`${label} could not be inspected: ${describe(error)}`, {
        cause: error,
      });
    }
  }
  if (existing === undefined) {
    try {
      await jsm.consumers.add(stream, wanted);
      return;
    } catch (error) {
      throw new ResourceReconcileError(`${label} could not be created: ${describe(error)}`, { cause: error });
    }
  }
  const owningDeployment = owner(existing.metadata);
  if (owningDeployment !== undefined && owningDeployment !== deploymentId) {
    throw new ResourceReconcileError(
      `${label} belongs to deployment '${owningDeployment}', not '${deploymentId}'`,
    );
  }
  const refused = refuse?.(existing);
  if (refused !== undefined) throw new ResourceReconcileError(`${label} ${refused}`);
  const filters = filterChange(existing, wanted);
  const same =
    filters.same &&
    existing.ack_wait === wanted.ack_wait &&
    existing.max_deliver === wanted.max_deliver &&
    existing.max_ack_pending === wanted.max_ack_pending &&
    sameList(existing.backoff, wanted.backoff) &&
    owningDeployment === deploymentId;
  if (same) return;
  try {
    await jsm.consumers.update(stream, wanted.durable_name, {
      ...filters.update,
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

/**
 * Creates the durable consumer of an event consumer group, or adopts an existing one and updates its
 * filter subjects, ack wait, deliveries, backoff and concurrency. Its replay policy cannot change on
 * NATS: a consumer created with another one is refused (delete it to have it re-created).
 */
export function ensureEventConsumer(
  jsm: JetStreamManager,
  deploymentId: string,
  binding: EventConsumerBinding,
): Promise<void> {
  const wanted = durableConsumerConfig(deploymentId, binding, {
    deliver_policy: binding.replay === "all" ? DeliverPolicy.All : DeliverPolicy.New,
    filter_subjects: binding.filterSubjects,
  });
  const label = `Event consumer '${binding.consumerName}' on stream '${binding.stream}'`;
  return ensureOwnedConsumer(jsm, binding.stream, deploymentId, label, wanted, (existing) =>
    existing.deliver_policy === wanted.deliver_policy
      ? undefined
      : `exists with deliver policy '${existing.deliver_policy}' but the group replays '${binding.replay}'; NATS cannot change it (delete the consumer to have it re-created)`,
  );
}

// ---------------------------------------------------------------------------------------------
// Job queues

/** What a job queue reconciler produced for one deployment. */
export interface JobQueueMaterialization {
  /** The jobs binding handed to the service. */
  binding: JobsBinding;
  /** Publish grants the service needs for its queues. */
  publish: string[];
  /** Subscribe grants the service needs for its queues. */
  subscribe: string[];
}

/** Creates the NATS objects of a deployment's job queues and computes their binding and grants. */
export interface JobQueueReconciler {
  /** Reconciles the queues (`queueType → definition`) of one deployment. */
  reconcile(
    deploymentId: string,
    queues: Readonly<Record<string, JobQueue>>,
  ): Promise<JobQueueMaterialization>;
}

/**
 * The jobs binding of a deployment (runtime spec §3.1, canonical names): namespace = the sanitized
 * deployment id, `trellis.jobs.<ns>.<queue>` publish prefix, `trellis.work.<ns>.<queue>` work subject,
 * `<ns>-<queue>` consumer, every default applied (`maxDeliver` 5, backoff truncated to `maxDeliver − 1`,
 * `ackWaitMs` 300000, progress, logs and dlq on, concurrency 1). The namespace `workers` is refused:
 * `trellis.jobs.workers.>` carries worker heartbeats.
 */
export function jobsBinding(deploymentId: string, queues: Readonly<Record<string, JobQueue>>): JobsBinding {
  const namespace = sanitizeName(deploymentId);
  if (namespace === "workers") {
    throw new ResourceReconcileError(
      `Deployment '${deploymentId}' cannot run job queues: its jobs namespace 'workers' is reserved for worker heartbeats`,
    );
  }
  const entries = Object.entries(queues).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    namespace,
    workStream: JOBS_WORK_STREAM,
    queues: Object.fromEntries(
      entries.map(([queueType, queue]) => {
        const maxDeliver = queue.maxDeliver ?? 5;
        return [
          queueType,
          {
            queueType,
            publishPrefix: jobEventsPrefix(namespace, queueType),
            workSubject: jobWorkSubject(namespace, queueType),
            consumerName: jobQueueConsumerName(namespace, queueType),
            payload: queue.payload,
            ...(queue.result !== undefined && { result: queue.result }),
            maxDeliver,
            backoffMs: [...(queue.backoffMs ?? DEFAULT_BACKOFF_MS)].slice(0, Math.max(0, maxDeliver - 1)),
            ackWaitMs: queue.ackWaitMs ?? 300_000,
            ...(queue.defaultDeadlineMs !== undefined && { defaultDeadlineMs: queue.defaultDeadlineMs }),
            progress: queue.progress ?? true,
            logs: queue.logs ?? true,
            dlq: queue.dlq ?? true,
            concurrency: queue.concurrency ?? 1,
          },
        ];
      }),
    ),
  };
}

/**
 * The service-local job grants of runtime spec §3.1, narrowed to exact subjects of the namespace:
 * publish its lifecycle events and worker heartbeats, read its own events by subject
 * (`$JS.API.DIRECT.GET.JOBS.trellis.jobs.<ns>.>`), and per queue the consumer's info, pulls and acks;
 * subscribe to each queue's events (`<publishPrefix>.*.*`). Services never publish work items directly
 * (they come from `JOBS`), and the body form of direct get — which could read any service's jobs — is
 * not granted.
 */
export function jobQueueGrants(binding: JobsBinding): { publish: string[]; subscribe: string[] } {
  const queues = Object.values(binding.queues);
  return {
    publish: [
      `trellis.jobs.${binding.namespace}.>`,
      `trellis.jobs.workers.${binding.namespace}.>`,
      `$JS.API.DIRECT.GET.${JOBS_STREAM}.trellis.jobs.${binding.namespace}.>`,
      ...queues.flatMap((queue) => eventConsumerGrants(JOBS_WORK_STREAM, queue.consumerName)),
    ],
    subscribe: queues.map((queue) => `${queue.publishPrefix}.*.*`),
  };
}
