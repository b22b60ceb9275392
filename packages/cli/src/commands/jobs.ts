/**
 * `trellis jobs …`: the Jobs admin of the signed-in control plane (`trellis.jobs@v1`, runtime spec
 * §3.7), called as the CLI's saved session — list and read jobs (with progress and logs), see which
 * services have workers online, cancel and retry jobs, and manage the dead-letter queue.
 */
import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import { JobStateSchema, JobsNotFoundError } from "@trellis/builtin-contracts";
import type { BaseError, Result } from "@trellis/result";
import { type Job, type JobState, ValidationError } from "@trellis/runtime";
import type { CommandContext } from "../context.js";
import { CliError } from "../errors.js";
import { ExitCode, exitCodesHelp } from "../exit-codes.js";
import { type CliClient, cliErrorOf, withSavedSession } from "../session/login.js";

const FAILED = "not logged in, Trellis is unreachable, the job does not exist or is in the wrong state";

/** A page of jobs as the list RPCs return it. */
interface JobPage {
  entries: Job[];
  count: number;
  offset: number;
  limit: number;
  nextOffset?: number;
}

function parseCount(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new CliError(
        "invalid-option",
        `${name} must be a whole number from ${min} to ${max}, got '${value}'`,
      );
    }
    return n;
  };
}

const parseLimit = parseCount("--limit", 1, 500);
const parseOffset = parseCount("--offset", 0, Number.MAX_SAFE_INTEGER);

function parseSince(value: string): string {
  if (
    !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) ||
    !Number.isFinite(Date.parse(value))
  ) {
    throw new CliError(
      "invalid-option",
      `--since must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got '${value}'`,
    );
  }
  return value;
}

/** Unwraps an RPC result, turning the Jobs admin's refusals into CLI errors. */
function unwrap<T>(result: Result<T, BaseError>, trellisUrl: string, id?: string): T {
  if (result.isOk()) return result.value;
  const error = result.error;
  if (error instanceof JobsNotFoundError) {
    throw new CliError("not-found", `no job '${id ?? ""}' at ${trellisUrl}`, {
      exitCode: ExitCode.Failed,
      details: { jobId: id },
    });
  }
  if (error instanceof ValidationError) {
    const state = error.context?.field === "state";
    const message = error.issues.map((issue) => issue.message).join("; ") || error.message;
    throw new CliError(state ? "invalid-state" : "invalid-request", message, {
      exitCode: ExitCode.Failed,
      details: { issues: error.issues, ...(state && { context: error.context }) },
    });
  }
  throw cliErrorOf(error, trellisUrl);
}

/** Calls the control plane as the saved session. */
function call<T>(fn: (client: CliClient, trellisUrl: string) => Promise<T>): Promise<T> {
  return withSavedSession((client, session) => fn(client, session.trellisUrl));
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + " ".repeat(width - text.length);
}

/** Rows as aligned columns (the last one is not padded). */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : pad(cell, widths[i] ?? 0))).join("  "),
  );
}

function pageLines(page: JobPage, empty: string): string[] {
  if (page.entries.length === 0)
    return [page.count === 0 ? empty : `No jobs at offset ${page.offset} (${page.count} in all).`];
  const rows = [["ID", "QUEUE", "STATE", "TRIES", "UPDATED"]];
  for (const job of page.entries) {
    rows.push([
      job.id,
      `${job.service}/${job.type}`,
      job.state,
      `${job.tries}/${job.maxTries}`,
      job.updatedAt,
    ]);
  }
  const shown = `${page.offset + 1}–${page.offset + page.entries.length} of ${page.count}`;
  const more = page.nextOffset === undefined ? "" : ` (next page: --offset ${page.nextOffset})`;
  return [...table(rows), `${shown}${more}`];
}

/** `--service` and `--type`, the filters both job lists have. */
function withQueueFilters<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
) {
  return command
    .option("--service <service>", "only jobs of this service")
    .option("--type <type>", "only jobs of this job type (queue)");
}

/** `--since` and the paging options both job lists have. */
function withSinceAndPaging<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  command: Command<A, O, G>,
) {
  return command
    .option("--since <time>", "only jobs updated at or after this RFC 3339 time", parseSince)
    .option("--limit <n>", "jobs per page (1–500)", parseLimit, 50)
    .option("--offset <n>", "skip this many jobs", parseOffset, 0);
}

/** The list request of the options above. */
function listRequest(options: {
  service?: string;
  type?: string;
  since?: string;
  limit: number;
  offset: number;
}) {
  return {
    limit: options.limit,
    offset: options.offset,
    ...(options.service !== undefined && { service: options.service }),
    ...(options.type !== undefined && { type: options.type }),
    ...(options.since !== undefined && { since: options.since }),
  };
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? "undefined";
}

/** A job in full, with its progress and logs. */
export function jobLines(job: Job): string[] {
  const fields: [string, string | undefined][] = [
    ["Job", job.id],
    ["Queue", `${job.service}/${job.type}`],
    ["State", job.state],
    ["Tries", `${job.tries} of ${job.maxTries}`],
    ["Created", job.createdAt],
    ["Updated", job.updatedAt],
    ["Started", job.startedAt],
    ["Completed", job.completedAt],
    ["Deadline", job.deadline],
    ["Last error", job.lastError],
    ["Request id", job.context.requestId],
    ["Trace id", job.context.traceId],
    ["Payload", json(job.payload)],
    ["Result", "result" in job ? json(job.result) : undefined],
  ];
  if (job.progress !== undefined) {
    const { step, message, current, total } = job.progress;
    const count = current === undefined ? "" : total === undefined ? `${current}` : `${current}/${total}`;
    fields.push([
      "Progress",
      [step, message, count].filter((part) => part !== undefined && part !== "").join(" — ") || "-",
    ]);
  }
  const lines = table(
    fields.filter((field): field is [string, string] => field[1] !== undefined).map(([k, v]) => [`${k}:`, v]),
  );
  const logs = job.logs ?? [];
  if (logs.length > 0) {
    lines.push(`Logs (${logs.length}):`);
    lines.push(...table(logs.map((entry) => [`  ${entry.timestamp}`, entry.level, entry.message])));
  }
  return lines;
}

function ago(timestamp: string, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - Date.parse(timestamp)) / 1000));
  return `${seconds}s ago`;
}

/** Adds `jobs` and its subcommands to `program`. */
export function registerJobsCommands(program: Command, context: CommandContext): void {
  const jobs = program
    .command("jobs")
    .description("see and administer background jobs (as the signed-in CLI session)")
    .addHelpText("after", exitCodesHelp({ failed: FAILED }));

  const list = withQueueFilters(
    jobs.command("list").description("list jobs, most recently updated first"),
  ).addOption(new Option("--state <state...>", "only jobs in these states").choices(JobStateSchema.options));
  withSinceAndPaging(list).action(async (options) => {
    const page = await call(async (client, url) =>
      unwrap(
        await client.rpc.jobs.list({
          ...listRequest(options),
          ...(options.state !== undefined && { state: options.state as JobState[] }),
        }),
        url,
      ),
    );
    context.output().report({ text: pageLines(page, "No jobs."), json: page });
  });

  jobs
    .command("get")
    .description("show one job with its progress and logs")
    .argument("<id>", "job id")
    .action(async (id) => {
      const { job } = await call(async (client, url) => unwrap(await client.rpc.jobs.get({ id }), url, id));
      context.output().report({ text: jobLines(job), json: { job } });
    });

  jobs
    .command("services")
    .description("list the services with job workers: workers online and when each was last seen")
    .option("--limit <n>", "services per page (1–500)", parseLimit, 100)
    .option("--offset <n>", "skip this many services", parseOffset, 0)
    .action(async (options) => {
      const page = await call(async (client, url) =>
        unwrap(await client.rpc.jobs.listServices({ limit: options.limit, offset: options.offset }), url),
      );
      const now = new Date();
      const text: string[] = [];
      for (const service of page.entries) {
        const online = service.workers.length;
        text.push(
          `${service.name}  ${service.healthy ? `online (${online} worker${online === 1 ? "" : "s"})` : "offline"}`,
        );
        text.push(
          ...table(
            service.workers.map((worker) => [
              `  ${worker.jobType}`,
              worker.instanceId,
              worker.concurrency === undefined ? "-" : `concurrency ${worker.concurrency}`,
              worker.version ?? "-",
              `last seen ${worker.timestamp} (${ago(worker.timestamp, now)})`,
            ]),
          ),
        );
      }
      context
        .output()
        .report({ text: text.length > 0 ? text : ["No services have reported job workers."], json: page });
    });

  const action = (
    parent: Command,
    name: string,
    description: string,
    run: (client: CliClient, id: string) => PromiseLike<Result<{ job: Job }, BaseError>>,
  ) =>
    parent
      .command(name)
      .description(description)
      .argument("<id>", "job id")
      .action(async (id) => {
        const { job } = await call(async (client, url) => unwrap(await run(client, id), url, id));
        context
          .output()
          .report({ text: [`Job ${id} (${job.service}/${job.type}) is now ${job.state}.`], json: { job } });
      });

  action(jobs, "cancel", "cancel a pending, retrying or active job", (client, id) =>
    client.rpc.jobs.cancel({ id }),
  );
  action(jobs, "retry", "run a failed job again", (client, id) => client.rpc.jobs.retry({ id }));

  const dlq = jobs.command("dlq").description("the dead-letter queue: jobs that ran out of deliveries");
  withSinceAndPaging(
    withQueueFilters(dlq.command("list").description("list dead-lettered jobs, most recent first")),
  ).action(async (options) => {
    const page = await call(async (client, url) =>
      unwrap(await client.rpc.jobs.listDLQ(listRequest(options)), url),
    );
    context.output().report({ text: pageLines(page, "The dead-letter queue is empty."), json: page });
  });
  action(dlq, "replay", "run a dead-lettered job again, with the same id", (client, id) =>
    client.rpc.jobs.replayDLQ({ id }),
  );
  action(dlq, "dismiss", "take a dead-lettered job out of the queue (it stays visible)", (client, id) =>
    client.rpc.jobs.dismissDLQ({ id }),
  );
}
