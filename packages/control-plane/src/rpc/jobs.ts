/**
 * `trellis.jobs@v1` served by the control plane (runtime spec §3.7) over the Jobs admin runtime:
 * queries read the SQLite projection; `Cancel`, `Retry`, `ReplayDLQ` and `DismissDLQ` publish a
 * lifecycle event and answer once the projection shows it (see `jobs/admin.ts`).
 */
import type { trellisJobs } from "@trellis/builtin-contracts";
import type { RpcInput, RpcOutput } from "@trellis/contracts";
import { type BaseError, Result } from "@trellis/result";
import type { RpcContext, TrellisService } from "@trellis/runtime";
import type { JobAction } from "../jobs/admin.js";
import type { JobsAdminRuntime } from "../jobs/runtime.js";
import { pageOf } from "./paging.js";

type JobsContract = typeof trellisJobs;
type JobsRpc = keyof JobsContract["API"]["owned"]["rpc"] & string;
type Handler<K extends JobsRpc> = (args: {
  input: RpcInput<JobsContract, K>;
  context: RpcContext;
}) => Promise<Result<RpcOutput<JobsContract, K>, BaseError>>;

/** The service name `Jobs.Health` reports. */
export const JOBS_HEALTH_SERVICE = "trellis.jobs";

/** What {@link mountJobsRpcs} needs. */
export interface JobsRpcOptions {
  /** The running Jobs admin. */
  jobs: JobsAdminRuntime;
  now?: () => Date;
}

/** The `trellis.jobs@v1` handlers, by logical name. */
export function jobsHandlers(options: JobsRpcOptions): { [K in JobsRpc]: Handler<K> } {
  const { jobs } = options;
  const now = options.now ?? (() => new Date());
  const act =
    (action: JobAction) =>
    async ({ input }: { input: { id: string } }) =>
      (await jobs.admin.act(action, input.id)).map((job) => ({ job }));
  return {
    "Jobs.Health": async () => {
      const checks = jobs.health();
      return Result.ok({
        service: JOBS_HEALTH_SERVICE,
        status: checks.every((check) => check.status === "ok") ? "ok" : "degraded",
        timestamp: now().toISOString(),
        checks: checks.map((check) => ({ ...check })),
      });
    },
    "Jobs.ListServices": async ({ input }) => {
      const services = jobs.projection.services(now()).map(({ name, workers }) => ({
        name,
        healthy: workers.length > 0,
        workers,
      }));
      return Result.ok(pageOf(services, input));
    },
    "Jobs.List": async ({ input }) =>
      Result.ok(
        jobs.projection.list({
          ...input,
          ...(input.state !== undefined && { states: input.state }),
        }),
      ),
    "Jobs.Get": async ({ input }) => jobs.admin.get(input.id).map((job) => ({ job })),
    "Jobs.ListDLQ": async ({ input }) => Result.ok(jobs.projection.list({ ...input, states: ["dead"] })),
    "Jobs.Cancel": act("cancel"),
    "Jobs.Retry": act("retry"),
    "Jobs.ReplayDLQ": act("replayDLQ"),
    "Jobs.DismissDLQ": act("dismissDLQ"),
  };
}

/** Mounts `Jobs.*` on `service` (a `TrellisService` of `trellis.jobs@v1`). */
export function mountJobsRpcs(service: TrellisService<JobsContract>, options: JobsRpcOptions): void {
  const handlers = jobsHandlers(options);
  const rpc = service.handle.rpc.jobs;
  rpc.health(handlers["Jobs.Health"]);
  rpc.listServices(handlers["Jobs.ListServices"]);
  rpc.list(handlers["Jobs.List"]);
  rpc.get(handlers["Jobs.Get"]);
  rpc.listDLQ(handlers["Jobs.ListDLQ"]);
  rpc.cancel(handlers["Jobs.Cancel"]);
  rpc.retry(handlers["Jobs.Retry"]);
  rpc.replayDLQ(handlers["Jobs.ReplayDLQ"]);
  rpc.dismissDLQ(handlers["Jobs.DismissDLQ"]);
}
