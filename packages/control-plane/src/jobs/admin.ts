/**
 * The Jobs admin's queries and actions over the projection (runtime spec §3.7). Actions never write
 * the projection: each publishes one lifecycle event, then polls the projection (bounded) until the
 * projector has processed that event's `JOBS` sequence, and answers with the job as the event left it.
 * A job already moved on by a worker (a replayed job started at once) is not an error.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { JobsNotFoundError } from "@trellis/builtin-contracts";
import { JOBS_STREAM, type JobEventType, jobEventsPrefix } from "@trellis/contracts";
import { type BaseError, Result, UnexpectedError } from "@trellis/result";
import { type Job, type JobState, ValidationError } from "@trellis/runtime";
import { type FollowUpFields, followUpEvent, publishJobEvent } from "./events.js";
import { jobKey } from "./model.js";
import type { JobsProjection, ProjectedJob } from "./projection.js";
import { reduceJob } from "./reducer.js";

/** An admin action on one job. */
export type JobAction = "cancel" | "retry" | "replayDLQ" | "dismissDLQ";

interface ActionRule {
  /** States the action is allowed from. */
  from: readonly JobState[];
  eventType: Exclude<JobEventType, "created">;
  fields(projected: ProjectedJob, now: Date): FollowUpFields;
}

/**
 * A re-queued job keeps its payload and `maxTries`; its deadline is moved so the new run has the
 * window the job had when it was created (`deadline − createdAt`), otherwise a job past its deadline
 * would expire again at the next janitor pass.
 */
function requeued({ job }: ProjectedJob, now: Date): FollowUpFields {
  const fields: FollowUpFields = { tries: 0, payload: job.payload, maxTries: job.maxTries };
  if (job.deadline !== undefined) {
    const window = Date.parse(job.deadline) - Date.parse(job.createdAt);
    fields.deadline = new Date(now.getTime() + Math.max(window, 0)).toISOString();
  }
  return fields;
}

const ACTIONS: Readonly<Record<JobAction, ActionRule>> = {
  cancel: {
    from: ["pending", "retry", "active"],
    eventType: "cancelled",
    fields: () => ({ error: "cancelled" }),
  },
  retry: { from: ["failed"], eventType: "retried", fields: requeued },
  replayDLQ: { from: ["dead"], eventType: "retried", fields: requeued },
  dismissDLQ: {
    from: ["dead"],
    eventType: "dismissed",
    fields: ({ job }) => (job.lastError === undefined ? {} : { error: job.lastError }),
  },
};

/** Options of {@link JobsAdmin}. */
export interface JobsAdminOptions {
  projection: JobsProjection;
  js: JetStreamClient;
  /** Reads the job's events in `JOBS` (direct gets). */
  jsm: JetStreamManager;
  now?: () => Date;
  /** How long an action waits for the projection (default 2000 ms). */
  projectionTimeoutMs?: number;
  /** Poll interval while waiting (default 25 ms). */
  pollIntervalMs?: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Jobs admin actions and lookups. */
export class JobsAdmin {
  private readonly now: () => Date;

  constructor(private readonly options: JobsAdminOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The job with `id`, or `NotFoundError`. */
  get(id: string): Result<Job, BaseError> {
    const projected = this.options.projection.get(id);
    return projected === undefined ? Result.err(notFound(id)) : Result.ok(projected.job);
  }

  /**
   * Runs `action` on job `id`: `NotFoundError` for an unknown id, `ValidationError` when the job's
   * state does not allow it, `UnexpectedError` when the projection does not show the result in time or
   * the job changed concurrently so that the event did not apply.
   */
  async act(action: JobAction, id: string): Promise<Result<Job, BaseError>> {
    const { projection, js } = this.options;
    const projected = projection.get(id);
    if (projected === undefined) return Result.err(notFound(id));
    const rule = ACTIONS[action];
    if (!rule.from.includes(projected.job.state)) return Result.err(wrongState(projected.job, rule.from));
    const now = this.now();
    const outgoing = followUpEvent(projected, rule.eventType, now, rule.fields(projected, now));
    const predicted = reduceJob(projected.job, outgoing.event);
    if (!predicted.applied) return Result.err(new UnexpectedError(`Job action refused: ${predicted.reason}`));
    let stored: number;
    try {
      stored = (await publishJobEvent(js, outgoing)).seq;
    } catch (cause) {
      return Result.err(UnexpectedError.from(cause, `Could not publish the '${rule.eventType}' event`));
    }
    const failure = (message: string, actual?: JobState) =>
      Result.err(
        new UnexpectedError(message, {
          context: { jobKey: jobKey(projected.job), expected: predicted.job.state, actual },
        }),
      );
    const deadline = Date.now() + (this.options.projectionTimeoutMs ?? 2000);
    while (projection.lastSequence() < stored) {
      if (Date.now() >= deadline) {
        return failure(`The jobs projection did not show the '${rule.eventType}' event in time`);
      }
      await sleep(this.options.pollIntervalMs ?? 25);
    }
    // Our event applied exactly when no other event of the job was stored between the state we read and it.
    const subject = `${jobEventsPrefix(projected.job.service, projected.job.type)}.${id}.*`;
    const next = await this.options.jsm.direct
      .getMessage(JOBS_STREAM, { seq: projected.lastSequence + 1, next_by_subj: subject })
      .catch(() => null);
    if (next?.seq === stored) return Result.ok(predicted.job);
    const current = projection.get(id);
    if (current?.lastSequence === stored) return Result.ok(current.job);
    return failure(
      `Job '${jobKey(projected.job)}' changed while '${rule.eventType}' was applied`,
      current?.job.state,
    );
  }
}

function notFound(id: string): BaseError {
  return new JobsNotFoundError({ resource: "Job", jobId: id });
}

function wrongState(job: Job, expected: readonly JobState[]): ValidationError {
  const key = jobKey(job);
  const wanted = expected.map((state) => `'${state}'`).join(" or ");
  return new ValidationError(
    [{ path: "/id", message: `Job '${key}' is in state '${job.state}', expected ${wanted}` }],
    {
      context: { field: "state", jobKey: key, expected: [...expected], actual: job.state },
    },
  );
}
