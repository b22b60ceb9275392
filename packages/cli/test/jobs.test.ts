/**
 * `trellis jobs …` against the real platform (nats-server with the auth callout, control plane, SQLite),
 * run in-process as the CLI's saved session (signed in with `loginWithPassword` into a temporary
 * `$XDG_CONFIG_HOME`). Jobs are driven by lifecycle events published straight to `JOBS` and a
 * hand-run queue consumer standing in for a worker.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AckPolicy,
  type Consumer,
  type JetStreamClient,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { JOBS_WORK_STREAM, type JobEventType, jobEventSubject } from "@trellis/contracts";
import { JOB_EVENT_STATE, type JobEvent } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loginWithPassword } from "../src/index.js";
import { runCli } from "./support/run.js";

const xdg = mkdtempSync(join(tmpdir(), "trellis-cli-jobs-"));
process.env.XDG_CONFIG_HOME = xdg;

const context = {
  requestId: "01JREQUEST0000000000000000",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
};

let platform: PlatformHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let worker: Consumer;

beforeAll(async () => {
  platform = await startPlatform();
  const admin = platform.admin;
  if (!admin) throw new Error("no dev admin");
  nc = await connect({
    servers: platform.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(platform.topology.users.trellisAuth.creds)),
  });
  js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(JOBS_WORK_STREAM, {
    durable_name: "shop-export",
    filter_subject: "trellis.work.shop.export",
    ack_policy: AckPolicy.Explicit,
    max_deliver: 1,
  });
  worker = await js.consumers.get(JOBS_WORK_STREAM, "shop-export");
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await platform?.stop();
  rmSync(xdg, { recursive: true, force: true });
});

/** Runs the CLI in-process. */
const run = (...args: string[]) => runCli(args);

async function runJson(...args: string[]) {
  const result = await run("--format", "json", ...args);
  if (result.code !== 0) throw new Error(`trellis ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

async function publish(
  jobId: string,
  eventType: JobEventType,
  fields: Partial<JobEvent> = {},
  type = "mail",
) {
  const event: JobEvent = {
    jobId,
    service: "shop",
    jobType: type,
    eventType,
    state: JOB_EVENT_STATE[eventType],
    context,
    tries: 0,
    timestamp: new Date().toISOString(),
    ...fields,
  };
  await js.publish(jobEventSubject("shop", type, jobId, eventType), JSON.stringify(event));
}

/** Waits (bounded) until `trellis jobs get <id>` shows `state`. */
async function until(id: string, state: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const result = await run("--format", "json", "jobs", "get", id);
    if (result.code === 0 && JSON.parse(result.stdout).job.state === state)
      return JSON.parse(result.stdout).job;
    if (Date.now() > deadline)
      throw new Error(`job ${id} did not become ${state}: ${result.stdout}${result.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("before login", () => {
  it("refuses with not-logged-in", async () => {
    const result = await run("--format", "json", "jobs", "list");
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr).error.code).toBe("not-logged-in");
  });
});

describe("trellis jobs", () => {
  beforeAll(async () => {
    const admin = platform.admin as { username: string; password: string };
    await loginWithPassword({ trellisUrl: platform.url, username: admin.username, password: admin.password });
  }, 30_000);

  it("lists and shows a job with its progress and logs", async () => {
    await publish("job-a", "created", { payload: { to: "ada" }, maxTries: 3 });
    await publish("job-a", "started", { previousState: "pending", tries: 1 });
    await publish("job-a", "progress", {
      previousState: "active",
      tries: 1,
      progress: { step: "render", current: 2, total: 5 },
    });
    const log = { timestamp: "2026-01-01T00:00:00.000Z", level: "warn" as const, message: "slow template" };
    await publish("job-a", "logged", { previousState: "active", tries: 1, logs: [log] });
    await publish("job-b", "created", {
      payload: { to: "bob" },
      maxTries: 3,
      timestamp: new Date(Date.now() + 1000).toISOString(),
    });
    const a = await until("job-a", "active");
    expect(a.logs).toEqual([log]);

    const text = await run("jobs", "get", "job-a");
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("State:       active");
    expect(text.stdout).toContain("Queue:       shop/mail");
    expect(text.stdout).toContain("Tries:       1 of 3");
    expect(text.stdout).toContain("Progress:    render — 2/5");
    expect(text.stdout).toContain('Payload:     {"to":"ada"}');
    expect(text.stdout).toMatch(/Logs \(1\):\n {2}2026-01-01T00:00:00.000Z {2}warn {2}slow template/);

    await until("job-b", "pending");
    const page = await runJson("jobs", "list", "--service", "shop", "--state", "pending", "active");
    expect(page.entries.map((job: { id: string }) => job.id)).toEqual(["job-b", "job-a"]);
    const onlyPending = await runJson("jobs", "list", "--type", "mail", "--state", "pending", "--limit", "1");
    expect(onlyPending).toMatchObject({ count: 1, limit: 1 });
    const table = await run("jobs", "list", "--service", "shop", "--limit", "1");
    expect(table.stdout).toMatch(/^ID +QUEUE +STATE +TRIES +UPDATED\njob-b +shop\/mail +pending +0\/3 /);
    expect(table.stdout).toContain("1–1 of 2 (next page: --offset 1)");
  });

  it("cancels and retries, and refuses wrong states and unknown ids", async () => {
    const cancelled = await run("jobs", "cancel", "job-b");
    expect(cancelled).toMatchObject({ code: 0, stdout: "Job job-b (shop/mail) is now cancelled.\n" });

    const refused = await run("--format", "json", "jobs", "retry", "job-b");
    expect(refused.code).toBe(1);
    const error = JSON.parse(refused.stderr).error;
    expect(error.code).toBe("invalid-state");
    expect(error.message).toBe("Job 'shop/mail/job-b' is in state 'cancelled', expected 'failed'");

    await publish("job-a", "failed", { previousState: "active", tries: 1, error: "smtp down" });
    await until("job-a", "failed");
    const retried = await runJson("jobs", "retry", "job-a");
    expect(retried.job).toMatchObject({ id: "job-a", state: "pending", tries: 0 });

    const missing = await run("jobs", "get", "nope");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("error: no job 'nope' at");
    const badOption = await run("jobs", "list", "--state", "sleeping");
    expect(badOption.code).toBe(2);
  });

  it("manages the dead-letter queue", async () => {
    for (const id of ["job-c", "job-d"]) {
      await publish(id, "created", { payload: { rows: 1 }, maxTries: 1 }, "export");
      const msg = await worker.next({ expires: 5000 });
      if (msg === null) throw new Error("no work item");
      await publish(id, "started", { previousState: "pending", tries: 1 }, "export");
      msg.nak();
      expect(await worker.next({ expires: 1000 })).toBeNull();
      await until(id, "dead");
    }
    const dlq = await runJson("jobs", "dlq", "list", "--service", "shop");
    expect(dlq.entries.map((job: { id: string }) => job.id).sort()).toEqual(["job-c", "job-d"]);

    expect((await run("jobs", "dlq", "dismiss", "job-c")).stdout).toBe(
      "Job job-c (shop/export) is now dismissed.\n",
    );
    const replay = await runJson("jobs", "dlq", "replay", "job-d");
    expect(replay.job).toMatchObject({ id: "job-d", state: "pending" });
    const work = await worker.next({ expires: 5000 });
    expect(work && JSON.parse(new TextDecoder().decode(work.data))).toMatchObject({
      jobId: "job-d",
      eventType: "retried",
    });
    await publish("job-d", "started", { previousState: "pending", tries: 1 }, "export");
    await publish("job-d", "completed", { previousState: "active", tries: 1, result: { rows: 1 } }, "export");
    work?.ack();
    await until("job-d", "completed");

    const empty = await run("jobs", "dlq", "list", "--service", "shop");
    expect(empty.stdout).toBe("The dead-letter queue is empty.\n");
  });

  it("shows services with workers online and when they were last seen", async () => {
    const now = new Date();
    await js.publish(
      "trellis.jobs.workers.shop.mail.w1.heartbeat",
      JSON.stringify({
        service: "shop",
        jobType: "mail",
        instanceId: "w1",
        concurrency: 4,
        timestamp: now.toISOString(),
      }),
    );
    const deadline = Date.now() + 10_000;
    let page = await runJson("jobs", "services");
    while (page.entries.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      page = await runJson("jobs", "services");
    }
    expect(page.entries).toEqual([
      {
        name: "shop",
        healthy: true,
        workers: [
          {
            service: "shop",
            jobType: "mail",
            instanceId: "w1",
            concurrency: 4,
            timestamp: now.toISOString(),
          },
        ],
      },
    ]);
    const text = await run("jobs", "services");
    expect(text.stdout).toMatch(
      /^shop {2}online \(1 worker\)\n {2}mail {2}w1 {2}concurrency 4 {2}- {2}last seen \S+ \(\d+s ago\)\n$/,
    );
  });
});
