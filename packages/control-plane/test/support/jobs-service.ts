/**
 * The service the jobs tests deploy: one queue, `tasks`, whose handler does what each payload's
 * `action` says. Shared by the in-process services of the tests and the worker child process
 * (`jobs-worker.ts`), which the tests kill or stop with a signal.
 */
import { defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { type ActiveJob, JobError, type TrellisService } from "@trellis/runtime";
import { z } from "zod";

/** What a task does when it runs. */
export const TaskAction = z.enum([
  "complete",
  "progress",
  "retry",
  "fatal",
  "block-once",
  "wait-cancel",
  "sleep",
]);

/** A task: its action, an optional label echoed in the result, and a duration for `sleep`. */
export const Task = z.object({
  action: TaskAction,
  label: z.string().optional(),
  ms: z.int().min(0).max(60_000).optional(),
});

/** What a completed task returns. */
export const TaskResult = z.object({ tries: z.int().min(1), label: z.string().optional() });

/** The contract of the jobs tests: small backoffs so retries are quick. */
export const jobsTestContract = defineServiceContract({ schemas: { Task, TaskResult } }, (ref) => ({
  id: "e2e.jobs@v1",
  displayName: "Jobs test service",
  description: "Runs tasks on a job queue for the jobs runtime tests.",
  jobs: {
    tasks: {
      payload: ref.schema("Task"),
      result: ref.schema("TaskResult"),
      maxDeliver: 3,
      backoffMs: [200, 400],
      concurrency: 4,
    },
  },
}));

/** What the handler reports about each run. */
export interface TaskHooks {
  /** A handler run began. */
  onRun?(job: ActiveJob<z.output<typeof Task>, z.output<typeof TaskResult>>): void;
  /** The run's signal aborted (`"cancelled"` or `"shutdown"`). */
  onAbort?(jobId: string, reason: unknown): void;
}

function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(signal.reason), { once: true }),
  );
}

/** Registers the `tasks` handler. */
export function mountTasks(service: TrellisService<typeof jobsTestContract>, hooks: TaskHooks = {}): void {
  service.jobs.tasks.handle(async ({ job }) => {
    hooks.onRun?.(job);
    const { action, label, ms } = job.payload;
    const done = () => Result.ok({ tries: job.tries, ...(label !== undefined && { label }) });
    switch (action) {
      case "progress":
        job.progress({ step: "one", current: 1, total: 2 });
        job.log("info", "halfway there");
        job.progress({ step: "two", current: 2, total: 2 });
        return done();
      case "retry":
        if (job.tries === 2) throw new Error("thrown on the second try");
        return Result.err(JobError.retryable(`try ${job.tries} failed`));
      case "fatal":
        return Result.err(JobError.fatal("this task can never succeed"));
      case "block-once":
      case "wait-cancel":
        if (action === "wait-cancel" || job.tries === 1) {
          const reason = await aborted(job.signal);
          hooks.onAbort?.(job.id, reason);
        }
        return done();
      case "sleep":
        await new Promise((resolve) => setTimeout(resolve, ms ?? 0));
        return done();
      default:
        return done();
    }
  });
}
