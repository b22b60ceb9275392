/**
 * `trellis.jobs@v1`: administration of Trellis-managed background jobs — health, the services that
 * run job queues, individual jobs, and the dead-letter queue.
 */
import { defineError, defineServiceContract } from "@trellis/contracts";
import { z } from "zod";
import { trellisAuth } from "./trellis-auth.js";
import { trellisCore } from "./trellis-core.js";

const NonEmpty = z.string().min(1);
const Timestamp = z.iso.datetime({ offset: true });
const NonNegativeInt = z.int().min(0);
const PositiveInt = z.int().min(1);

/** Raised when the addressed job (or another resource) does not exist. */
export const NotFoundError = defineError({
  type: "NotFoundError",
  fields: {
    /** Kind of the missing resource, e.g. `job`. */
    resource: NonEmpty,
    jobId: NonEmpty.optional(),
  },
  message: (data) =>
    data.jobId ? `${data.resource} '${data.jobId}' not found` : `${data.resource} not found`,
});

/** An empty request. */
export const Empty = z.object({});

/** Lifecycle state of a job. */
export const JobState = z.enum([
  "pending",
  "active",
  "retry",
  "completed",
  "failed",
  "cancelled",
  "expired",
  "dead",
  "dismissed",
]);

/** The request and W3C trace context a job was created in. */
export const JobContext = z.object({
  requestId: NonEmpty,
  traceId: z.string().regex(/^[0-9a-f]{32}$/),
  traceparent: z.string().regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/),
  tracestate: NonEmpty.optional(),
});

/** Progress a worker reported for a running job. */
export const JobProgress = z.object({
  step: z.string().optional(),
  message: z.string().optional(),
  current: NonNegativeInt.optional(),
  total: NonNegativeInt.optional(),
});

/** A log line a worker attached to a job. */
export const JobLogEntry = z.object({
  timestamp: Timestamp,
  level: z.enum(["info", "warn", "error"]),
  message: z.string(),
});

/** A background job as the Jobs service tracks it. */
export const Job = z.object({
  id: NonEmpty,
  /** Service that owns the job queue. */
  service: NonEmpty,
  /** Job queue (job type) within that service. */
  type: NonEmpty,
  state: JobState,
  payload: z.unknown(),
  result: z.unknown().optional(),
  context: JobContext,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  startedAt: Timestamp.optional(),
  completedAt: Timestamp.optional(),
  deadline: Timestamp.optional(),
  /** Attempts made so far. */
  tries: NonNegativeInt,
  /** Attempts allowed before the job is dead-lettered. */
  maxTries: PositiveInt,
  lastError: z.string().optional(),
  progress: JobProgress.optional(),
  logs: z.array(JobLogEntry).optional(),
});

/** Addresses one job by id. */
const JobIdRequest = z.object({ id: NonEmpty });
/** Returns one job. */
const JobResponse = z.object({ job: Job });

/** Paging fields shared by list requests. */
const PageRequest = { offset: NonNegativeInt.optional(), limit: PositiveInt };
/** Paging fields shared by list responses; `nextOffset` is present when more entries follow. */
const PageResponse = {
  count: NonNegativeInt,
  offset: NonNegativeInt,
  limit: PositiveInt,
  nextOffset: NonNegativeInt.optional(),
};

export const JobsHealthResponse = z.object({
  service: NonEmpty,
  status: z.unknown(),
  timestamp: Timestamp,
  checks: z.array(z.record(z.string(), z.unknown())),
});

export const JobsListServicesRequest = z.object({ ...PageRequest });
export const JobsListServicesResponse = z.object({
  entries: z.array(
    z.object({
      name: NonEmpty,
      healthy: z.boolean(),
      /** Worker instances currently serving the service's job queues. */
      workers: z.array(
        z.object({
          service: NonEmpty,
          jobType: NonEmpty,
          instanceId: NonEmpty,
          concurrency: PositiveInt.optional(),
          version: NonEmpty.optional(),
          timestamp: Timestamp,
        }),
      ),
    }),
  ),
  ...PageResponse,
});

export const JobsListRequest = z.object({
  service: NonEmpty.optional(),
  type: NonEmpty.optional(),
  state: z.array(JobState).optional(),
  /** Only jobs updated at or after this time. */
  since: Timestamp.optional(),
  ...PageRequest,
});
export const JobsListResponse = z.object({ entries: z.array(Job), ...PageResponse });

export const JobsGetRequest = JobIdRequest;
export const JobsGetResponse = JobResponse;
export const JobsCancelRequest = JobIdRequest;
export const JobsCancelResponse = JobResponse;
export const JobsRetryRequest = JobIdRequest;
export const JobsRetryResponse = JobResponse;

export const JobsListDLQRequest = z.object({
  service: NonEmpty.optional(),
  type: NonEmpty.optional(),
  since: Timestamp.optional(),
  ...PageRequest,
});
export const JobsListDLQResponse = JobsListResponse;
export const JobsReplayDLQRequest = JobIdRequest;
export const JobsReplayDLQResponse = JobResponse;
export const JobsDismissDLQRequest = JobIdRequest;
export const JobsDismissDLQResponse = JobResponse;

/** The `trellis.jobs@v1` contract module. */
export const trellisJobs = defineServiceContract(
  {
    schemas: {
      Empty,
      Job,
      JobContext,
      JobLogEntry,
      JobProgress,
      JobState,
      JobsHealthResponse,
      JobsListServicesRequest,
      JobsListServicesResponse,
      JobsListRequest,
      JobsListResponse,
      JobsGetRequest,
      JobsGetResponse,
      JobsCancelRequest,
      JobsCancelResponse,
      JobsRetryRequest,
      JobsRetryResponse,
      JobsListDLQRequest,
      JobsListDLQResponse,
      JobsReplayDLQRequest,
      JobsReplayDLQResponse,
      JobsDismissDLQRequest,
      JobsDismissDLQResponse,
    },
    errors: { NotFoundError },
  },
  (ref) => ({
    id: "trellis.jobs@v1",
    displayName: "Trellis Jobs",
    description: "Administration API for background jobs managed by Trellis.",
    docs: {
      summary: "Background job administration.",
      markdown:
        "Reports the health of the Jobs service and the services running job queues, lists and reads " +
        "jobs, cancels and retries them, and manages the dead-letter queue.",
    },
    capabilities: {
      "admin.read": {
        displayName: "Read jobs administration data",
        description: "See Jobs service health, job services, jobs and dead-lettered jobs.",
      },
      "admin.mutate": {
        displayName: "Change jobs administration data",
        description: "Cancel or retry jobs, and replay or dismiss dead-lettered jobs.",
        consequence: "Alters how and whether background work runs.",
      },
    },
    uses: {
      required: {
        auth: trellisAuth.use({ rpc: { call: ["Auth.Requests.Validate"] } }),
        core: trellisCore.use({ rpc: { call: ["Trellis.Bindings.Get", "Trellis.Catalog"] } }),
      },
    },
    rpc: {
      "Jobs.Health": {
        version: "v1",
        input: ref.schema("Empty"),
        output: ref.schema("JobsHealthResponse"),
        capabilities: { call: ["admin.read"] },
        errors: [ref.error("UnexpectedError")],
        docs: {
          summary: "Read Jobs service health.",
          markdown: "Returns the health of the Jobs service together with its worker checks.",
        },
      },
      "Jobs.ListServices": {
        version: "v1",
        input: ref.schema("JobsListServicesRequest"),
        output: ref.schema("JobsListServicesResponse"),
        capabilities: { call: ["admin.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "List services with job queues.",
          markdown:
            "Pages through the services that own or work on background job queues, with their workers.",
        },
      },
      "Jobs.List": {
        version: "v1",
        input: ref.schema("JobsListRequest"),
        output: ref.schema("JobsListResponse"),
        capabilities: { call: ["admin.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "List jobs.",
          markdown: "Pages through jobs, filtered by service, job type, state and update time.",
        },
      },
      "Jobs.Get": {
        version: "v1",
        input: ref.schema("JobsGetRequest"),
        output: ref.schema("JobsGetResponse"),
        capabilities: { call: ["admin.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError"), ref.error("NotFoundError")],
        docs: { summary: "Read one job.", markdown: "Returns a single background job by its id." },
      },
      "Jobs.Cancel": {
        version: "v1",
        input: ref.schema("JobsCancelRequest"),
        output: ref.schema("JobsCancelResponse"),
        capabilities: { call: ["admin.mutate"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError"), ref.error("NotFoundError")],
        docs: { summary: "Cancel a job.", markdown: "Asks for a single background job to be cancelled." },
      },
      "Jobs.Retry": {
        version: "v1",
        input: ref.schema("JobsRetryRequest"),
        output: ref.schema("JobsRetryResponse"),
        capabilities: { call: ["admin.mutate"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError"), ref.error("NotFoundError")],
        docs: { summary: "Retry a job.", markdown: "Puts a failed job back into retry processing." },
      },
      "Jobs.ListDLQ": {
        version: "v1",
        input: ref.schema("JobsListDLQRequest"),
        output: ref.schema("JobsListDLQResponse"),
        capabilities: { call: ["admin.read"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError")],
        docs: {
          summary: "List dead-lettered jobs.",
          markdown: "Pages through the jobs that currently sit in dead-letter queues.",
        },
      },
      "Jobs.ReplayDLQ": {
        version: "v1",
        input: ref.schema("JobsReplayDLQRequest"),
        output: ref.schema("JobsReplayDLQResponse"),
        capabilities: { call: ["admin.mutate"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError"), ref.error("NotFoundError")],
        docs: {
          summary: "Replay a dead-lettered job.",
          markdown: "Takes one job out of the dead-letter queue and hands it back for processing.",
        },
      },
      "Jobs.DismissDLQ": {
        version: "v1",
        input: ref.schema("JobsDismissDLQRequest"),
        output: ref.schema("JobsDismissDLQResponse"),
        capabilities: { call: ["admin.mutate"] },
        errors: [ref.error("UnexpectedError"), ref.error("ValidationError"), ref.error("NotFoundError")],
        docs: {
          summary: "Dismiss a dead-lettered job.",
          markdown: "Marks one dead-lettered job as dismissed so it is no longer offered for replay.",
        },
      },
    },
  }),
);
