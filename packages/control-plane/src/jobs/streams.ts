/**
 * The Trellis-owned job streams (runtime spec §3.2), created by the control plane and never by
 * services: `JOBS` (every lifecycle event, the source of truth), `JOBS_WORK` (a work queue sourced from
 * `JOBS`: each `created` or `retried` event becomes a work item on `trellis.work.<service>.<jobType>`)
 * and `JOBS_ADVISORIES` (max-deliveries advisories of `JOBS_WORK`, kept 7 days).
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import {
  JOBS_ADVISORIES_STREAM,
  JOBS_ADVISORIES_STREAM_SUBJECTS,
  JOBS_STREAM,
  JOBS_STREAM_SUBJECTS,
  JOBS_WORK_STREAM,
  JOBS_WORK_STREAM_SUBJECTS,
} from "@trellis/contracts";
import { BaseError } from "@trellis/result";

/** A job stream could not be created or brought to its configuration. */
export class JobStreamError extends BaseError {}

const NANOS_PER_MS = 1_000_000;
const ADVISORY_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
const DUPLICATE_WINDOW_MS = 2 * 60 * 1000;

/** `trellis.jobs.<service>.<jobType>.<jobId>.<event>` → `trellis.work.<service>.<jobType>`. */
function workTransform(event: "created" | "retried") {
  return { src: `trellis.jobs.*.*.*.${event}`, dest: "trellis.work.{{wildcard(1)}}.{{wildcard(2)}}" };
}

/** The configurations of the three job streams for `replicas` JetStream replicas. */
export function jobStreamConfigs(replicas: number): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs: -1,
    max_bytes: -1,
    duplicate_window: DUPLICATE_WINDOW_MS * NANOS_PER_MS,
  };
  return [
    {
      ...common,
      name: JOBS_STREAM,
      subjects: [JOBS_STREAM_SUBJECTS],
      retention: RetentionPolicy.Limits,
      max_age: 0,
      allow_direct: true,
      num_replicas: replicas,
    },
    {
      ...common,
      name: JOBS_WORK_STREAM,
      subjects: [JOBS_WORK_STREAM_SUBJECTS],
      retention: RetentionPolicy.Workqueue,
      max_age: 0,
      num_replicas: replicas,
      sources: [
        { name: JOBS_STREAM, subject_transforms: [workTransform("created"), workTransform("retried")] },
      ],
    },
    {
      ...common,
      name: JOBS_ADVISORIES_STREAM,
      subjects: [JOBS_ADVISORIES_STREAM_SUBJECTS],
      retention: RetentionPolicy.Limits,
      max_age: ADVISORY_MAX_AGE_MS * NANOS_PER_MS,
      num_replicas: 1,
    },
  ];
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The parts of a stream's configuration this module manages, for comparison. */
function managed(config: Partial<StreamConfig>): string {
  return JSON.stringify([
    config.subjects ?? [],
    config.max_age ?? 0,
    config.allow_direct ?? false,
    (config.sources ?? []).map((source) => [
      source.name,
      (source.subject_transforms ?? []).map((t) => [t.src, t.dest]),
    ]),
  ]);
}

/**
 * Creates `JOBS`, `JOBS_WORK` and `JOBS_ADVISORIES`, or adopts existing ones and updates their
 * subjects, sources, age limit and direct gets when they differ. A stream of one of these names with
 * another retention or storage cannot be converted and is refused. Idempotent; safe to call at every
 * control-plane start and every reconciliation.
 */
export async function ensureJobStreams(jsm: JetStreamManager, replicas: number): Promise<void> {
  for (const wanted of jobStreamConfigs(replicas)) {
    let existing: StreamConfig | undefined;
    try {
      existing = (await jsm.streams.info(wanted.name)).config;
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.status === 404)) {
        throw new JobStreamError(`Stream '${wanted.name}' could not be inspected: ${describe(error)}`, {
          cause: error,
        });
      }
    }
    try {
      if (existing === undefined) {
        await jsm.streams.add(wanted);
        continue;
      }
    } catch (error) {
      // Another control plane may have created it meanwhile: adopt it below.
      existing = await jsm.streams
        .info(wanted.name)
        .then((info) => info.config)
        .catch(() => {
          throw new JobStreamError(`Stream '${wanted.name}' could not be created: ${describe(error)}`, {
            cause: error,
          });
        });
    }
    if (existing.retention !== wanted.retention || existing.storage !== wanted.storage) {
      throw new JobStreamError(
        `Stream '${wanted.name}' exists with retention '${existing.retention}' and storage '${existing.storage}', ` +
          `not '${wanted.retention}' / '${wanted.storage}'; it cannot be converted (delete it to have it re-created)`,
      );
    }
    if (managed(existing) === managed(wanted)) continue;
    try {
      const { retention: _retention, storage: _storage, num_replicas: _replicas, ...changes } = wanted;
      await jsm.streams.update(wanted.name, { ...changes, sources: wanted.sources ?? [] });
    } catch (error) {
      throw new JobStreamError(`Stream '${wanted.name}' could not be updated: ${describe(error)}`, {
        cause: error,
      });
    }
  }
}
