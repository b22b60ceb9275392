/**
 * The Jobs admin in the control plane on the real stack (nats-server with the auth callout, the control
 * plane on a SQLite file, real HTTP), driven by lifecycle events published straight to `JOBS` and by a
 * hand-run queue consumer on `JOBS_WORK` (a worker stand-in), and read through `Jobs.*` as the admin.
 *
 * 1. The projector reduces events into `Jobs.Get/List` (filters, order, paging) and ignores illegal ones.
 * 2. Cancel / Retry refuse wrong states (`ValidationError`) and unknown ids (`NotFoundError`).
 * 3. Max deliveries → `dead` (advisory) → `ListDLQ`; `DismissDLQ` hides it; `ReplayDLQ` runs it again
 *    to completion with the same id.
 * 4. The janitor expires an overdue job and a late `completed` does not change it.
 * 5. Worker presence, metrics, health, and a rebuild from the stream equal to the live projection.
 */
import {
  AckPolicy,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JobsNotFoundError } from "@trellis/builtin-contracts";
import { JOBS_WORK_STREAM, type JobEventType, jobEventSubject } from "@trellis/contracts";
import { JOB_EVENT_STATE, type Job, type JobEvent, ValidationError } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trellisCli } from "../../cli/src/session/contract.js";
import { JobsProjection } from "../src/jobs/projection.js";
import { compareProjections, rebuildJobsProjection } from "../src/jobs/rebuild.js";
import { openDatabase } from "../src/store/database.js";
import { signIn } from "./support/platform-sign-in.js";
import { connectTrellisAccount, eventually, ok } from "./support/services.js";

const SERVICE = "billing";
const QUEUE = "refund";
const context = {
  requestId: "01JREQUEST0000000000000000",
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
};

let platform: PlatformHandle;
let admin: Awaited<ReturnType<typeof signIn<typeof trellisCli>>>;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let jobCounter = 0;

beforeAll(async () => {
  platform = await startPlatform();
  const credentials = platform.admin;
  if (!credentials) throw new Error("no dev admin");
  admin = await signIn(platform, trellisCli, credentials.username, credentials.password);
  nc = await connectTrellisAccount(platform);
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
}, 60_000);

afterAll(async () => {
  await admin?.nc.close();
  await nc?.close();
  await platform?.stop();
});

function newJobId(): string {
  jobCounter += 1;
  return `01JJOB${String(jobCounter).padStart(20, "0")}`;
}

/** Publishes one lifecycle event to `JOBS`, acknowledged. */
async function publish(
  jobId: string,
  eventType: JobEventType,
  fields: Partial<JobEvent> = {},
  queue = { service: SERVICE, jobType: QUEUE },
): Promise<JobEvent> {
  const event: JobEvent = {
    jobId,
    service: queue.service,
    jobType: queue.jobType,
    eventType,
    state: JOB_EVENT_STATE[eventType],
    context,
    tries: 0,
    timestamp: new Date().toISOString(),
    ...fields,
  };
  await js.publish(jobEventSubject(queue.service, queue.jobType, jobId, eventType), JSON.stringify(event), {
    msgID: `${jobId}.${eventType}.${event.tries}.${event.timestamp}`,
  });
  return event;
}

async function create(
  jobId: string,
  fields: Partial<JobEvent> = {},
  queue?: { service: string; jobType: string },
) {
  return publish(jobId, "created", { payload: { cents: 100 }, maxTries: 2, ...fields }, queue);
}

/** The projected job once `accept` holds for it. */
async function jobWhen(jobId: string, accept: (job: Job) => boolean, what: string): Promise<Job> {
  return eventually(what, async () => {
    const reply = await admin.rpc.jobs.get({ id: jobId });
    return reply.isOk() && accept(reply.value.job) ? reply.value.job : undefined;
  });
}

function inState(jobId: string, state: Job["state"]): Promise<Job> {
  return jobWhen(jobId, (job) => job.state === state, `job ${jobId} to be ${state}`);
}

describe("projection and queries", () => {
  it("reduces a job's lifecycle into Jobs.Get", async () => {
    const id = newJobId();
    await create(id, { deadline: "2099-01-01T00:00:00.000Z" });
    await inState(id, "pending");
    await publish(id, "started", { previousState: "pending", tries: 1, maxTries: 2 });
    await publish(id, "progress", {
      previousState: "active",
      tries: 1,
      progress: { step: "charge", current: 1, total: 2 },
    });
    const line = { timestamp: new Date().toISOString(), level: "info" as const, message: "charging" };
    await publish(id, "logged", { previousState: "active", tries: 1, logs: [line] });
    await publish(id, "completed", { previousState: "active", tries: 1, result: { refunded: true } });
    const job = await inState(id, "completed");
    expect(job).toMatchObject({
      id,
      service: SERVICE,
      type: QUEUE,
      payload: { cents: 100 },
      result: { refunded: true },
      tries: 1,
      maxTries: 2,
      context,
      deadline: "2099-01-01T00:00:00.000Z",
      progress: { step: "charge", current: 1, total: 2 },
      logs: [line],
    });
    expect(job.startedAt).toBeDefined();
    expect(job.completedAt).toBeDefined();
  });

  it("ignores an illegal transition and an unparseable event", async () => {
    const id = newJobId();
    await create(id);
    await publish(id, "completed", { previousState: "active", result: 1 });
    await nc.publish(jobEventSubject(SERVICE, QUEUE, id, "started"), "not json");
    await publish(id, "started", { previousState: "pending", tries: 1 });
    const job = await inState(id, "active");
    expect(job.result).toBeUndefined();
  });

  it("lists with filters, newest update first, and pages", async () => {
    const other = { service: "mail", jobType: "send" };
    const ids = [newJobId(), newJobId(), newJobId()];
    const since = new Date().toISOString();
    // Distinct update times, so "newest first" never falls back to the id order.
    const at = (ms: number) => new Date(Date.parse(since) + ms).toISOString();
    for (const [i, id] of ids.entries()) await create(id, { timestamp: at(i) }, other);
    await publish(
      ids[0] as string,
      "started",
      { previousState: "pending", tries: 1, timestamp: at(10) },
      other,
    );
    await inState(ids[0] as string, "active");
    await inState(ids[2] as string, "pending");

    const all = ok(await admin.rpc.jobs.list({ service: "mail", limit: 10 }), "Jobs.List");
    expect(all.count).toBe(3);
    expect(all.entries.map((job) => job.id)).toEqual([ids[0], ids[2], ids[1]]);
    const pending = ok(
      await admin.rpc.jobs.list({ service: "mail", state: ["pending"], limit: 1 }),
      "Jobs.List",
    );
    expect(pending).toMatchObject({ count: 2, offset: 0, limit: 1, nextOffset: 1 });
    const second = ok(
      await admin.rpc.jobs.list({ service: "mail", state: ["pending"], limit: 1, offset: 1 }),
      "Jobs.List",
    );
    expect(second.entries.map((job) => job.id)).toEqual([ids[1]]);
    expect(second.nextOffset).toBeUndefined();
    const typed = ok(await admin.rpc.jobs.list({ type: "send", since, limit: 10 }), "Jobs.List");
    expect(typed.count).toBe(3);
    const future = ok(
      await admin.rpc.jobs.list({ service: "mail", since: "2099-01-01T00:00:00Z", limit: 10 }),
      "Jobs.List",
    );
    expect(future.count).toBe(0);
    const invalid = await admin.rpc.jobs.list({ limit: 0 });
    expect(invalid.isErr() && invalid.error).toBeInstanceOf(ValidationError);
  });
});

describe("admin actions", () => {
  it("cancels a pending job and refuses to cancel a completed one", async () => {
    const id = newJobId();
    await create(id);
    await inState(id, "pending");
    const { job } = ok(await admin.rpc.jobs.cancel({ id }), "Jobs.Cancel");
    expect(job).toMatchObject({ id, state: "cancelled", lastError: "cancelled" });

    const done = newJobId();
    await create(done);
    await publish(done, "started", { previousState: "pending", tries: 1 });
    await publish(done, "completed", { previousState: "active", tries: 1, result: null });
    await inState(done, "completed");
    const refused = await admin.rpc.jobs.cancel({ id: done });
    expect(refused.isErr()).toBe(true);
    const error = refused.isErr() ? refused.error : undefined;
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toContain(
      `Job '${SERVICE}/${QUEUE}/${done}' is in state 'completed'`,
    );
    expect((error as ValidationError).context).toMatchObject({ field: "state", actual: "completed" });
  });

  it("retries only a failed job", async () => {
    const id = newJobId();
    await create(id);
    const pendingRetry = await admin.rpc.jobs.retry({ id });
    await inState(id, "pending");
    await publish(id, "started", { previousState: "pending", tries: 1 });
    await publish(id, "failed", { previousState: "active", tries: 1, error: "card declined" });
    await inState(id, "failed");
    const { job } = ok(await admin.rpc.jobs.retry({ id }), "Jobs.Retry");
    expect(job).toMatchObject({ id, state: "pending", tries: 0, payload: { cents: 100 } });
    expect(job.lastError).toBeUndefined();
    const again = await admin.rpc.jobs.retry({ id });
    expect(again.isErr() && again.error).toBeInstanceOf(ValidationError);
    expect(pendingRetry.isErr() ? pendingRetry.error : undefined).toBeInstanceOf(ValidationError);
  });

  it("answers NotFoundError for an unknown id", async () => {
    for (const reply of [
      await admin.rpc.jobs.get({ id: "01JNOPE0000000000000000000" }),
      await admin.rpc.jobs.cancel({ id: "01JNOPE0000000000000000000" }),
      await admin.rpc.jobs.replayDLQ({ id: "01JNOPE0000000000000000000" }),
    ]) {
      expect(reply.isErr()).toBe(true);
      const error = reply.isErr() ? reply.error : undefined;
      expect(error).toBeInstanceOf(JobsNotFoundError);
      expect((error as InstanceType<typeof JobsNotFoundError>).data).toEqual({
        resource: "Job",
        jobId: "01JNOPE0000000000000000000",
      });
    }
  });
});

describe("dead letters", () => {
  const queue = { service: SERVICE, jobType: "export" };
  let worker: Consumer;

  beforeAll(async () => {
    await jsm.consumers.add(JOBS_WORK_STREAM, {
      durable_name: `${queue.service}-${queue.jobType}`,
      filter_subject: `trellis.work.${queue.service}.${queue.jobType}`,
      ack_policy: AckPolicy.Explicit,
      max_deliver: 2,
      ack_wait: 30_000_000_000,
    });
    worker = await js.consumers.get(JOBS_WORK_STREAM, `${queue.service}-${queue.jobType}`);
  });

  /** Takes the next work item for `jobId` (a worker stand-in). */
  async function nextWork(jobId: string) {
    const msg = await worker.next({ expires: 5000 });
    if (msg === null) throw new Error("no work item");
    expect(JSON.parse(new TextDecoder().decode(msg.data)).jobId).toBe(jobId);
    return msg;
  }

  /** Creates a job and fails every delivery (started, nak) until JetStream gives up. */
  async function exhaust(jobId: string): Promise<void> {
    await create(jobId, { maxTries: 2 }, queue);
    for (let delivery = 1; delivery <= 2; delivery += 1) {
      const msg = await nextWork(jobId);
      await publish(
        jobId,
        "started",
        { previousState: delivery === 1 ? "pending" : "retry", tries: delivery },
        queue,
      );
      await publish(jobId, "retry", { previousState: "active", tries: delivery, error: "flaky" }, queue);
      msg.nak();
    }
    // A worker keeps pulling: JetStream emits the advisory when it would deliver a third time.
    expect(await worker.next({ expires: 1000 })).toBeNull();
  }

  it("dead-letters a job after max deliveries, lists and dismisses it", async () => {
    const id = newJobId();
    await exhaust(id);
    const dead = await inState(id, "dead");
    expect(dead.lastError).toBe(
      `max deliveries exceeded: stream=JOBS_WORK consumer=${queue.service}-${queue.jobType} deliveries=2`,
    );
    expect(dead.tries).toBe(2);
    await eventually("the exhausted work item to be deleted", async () => {
      const left = await jsm.streams.getMessage(JOBS_WORK_STREAM, {
        last_by_subj: "trellis.work.billing.export",
      });
      return left === null ? true : undefined;
    });
    const dlq = ok(await admin.rpc.jobs.listDLQ({ limit: 50 }), "Jobs.ListDLQ");
    expect(dlq.entries.map((job) => job.id)).toContain(id);

    const cancel = await admin.rpc.jobs.cancel({ id });
    expect(cancel.isErr() && cancel.error).toBeInstanceOf(ValidationError);
    const { job } = ok(await admin.rpc.jobs.dismissDLQ({ id }), "Jobs.DismissDLQ");
    expect(job).toMatchObject({ state: "dismissed", lastError: dead.lastError });
    const after = ok(await admin.rpc.jobs.listDLQ({ limit: 50 }), "Jobs.ListDLQ");
    expect(after.entries.map((entry) => entry.id)).not.toContain(id);
    expect(ok(await admin.rpc.jobs.get({ id }), "Jobs.Get").job.state).toBe("dismissed");
    for (const reply of [
      await admin.rpc.jobs.dismissDLQ({ id }),
      await admin.rpc.jobs.replayDLQ({ id }),
      await admin.rpc.jobs.retry({ id }),
    ]) {
      expect(reply.isErr() && reply.error).toBeInstanceOf(ValidationError);
    }
  });

  it("replays a dead job to completion with the same id", async () => {
    const id = newJobId();
    await exhaust(id);
    await inState(id, "dead");
    const { job } = ok(await admin.rpc.jobs.replayDLQ({ id }), "Jobs.ReplayDLQ");
    expect(job).toMatchObject({ id, state: "pending", tries: 0 });

    const msg = await nextWork(id);
    expect(JSON.parse(new TextDecoder().decode(msg.data)).eventType).toBe("retried");
    await publish(id, "started", { previousState: "pending", tries: 1 }, queue);
    await publish(id, "completed", { previousState: "active", tries: 1, result: { rows: 3 } }, queue);
    msg.ack();
    const done = await inState(id, "completed");
    expect(done).toMatchObject({ id, result: { rows: 3 }, tries: 1 });
  });
});

describe("deadlines", () => {
  it("expires an overdue job and keeps it expired after a late completed", async () => {
    const id = newJobId();
    await create(id, { deadline: new Date(Date.now() + 200).toISOString() });
    await publish(id, "started", { previousState: "pending", tries: 1 });
    await inState(id, "active");
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await platform.controlPlane.jobs.sweep()).toBeGreaterThanOrEqual(1);
    const expired = await inState(id, "expired");
    expect(expired.lastError).toBe("job exceeded deadline");

    await publish(id, "completed", { previousState: "active", tries: 1, result: "late" });
    const marker = newJobId();
    await create(marker);
    await inState(marker, "pending");
    const after = ok(await admin.rpc.jobs.get({ id }), "Jobs.Get").job;
    expect(after).toEqual(expired);
  });
});

describe("presence, metrics, health and rebuild", () => {
  it("lists services with their fresh workers", async () => {
    const beat = (instanceId: string, timestamp: Date, service = "reports") =>
      js.publish(
        `trellis.jobs.workers.${service}.daily.${instanceId}.heartbeat`,
        JSON.stringify({
          service,
          jobType: "daily",
          instanceId,
          concurrency: 2,
          version: "1.0.0",
          timestamp: timestamp.toISOString(),
        }),
      );
    const now = Date.now();
    await beat("w1", new Date(now));
    await beat("w1", new Date(now - 60_000));
    await beat("w0", new Date(now - 120_000));
    await beat("w9", new Date(now - 120_000), "stale");
    const services = await eventually("worker presence", async () => {
      const page = ok(await admin.rpc.jobs.listServices({ limit: 10 }), "Jobs.ListServices");
      return page.entries.some((entry) => entry.name === "stale") ? page : undefined;
    });
    expect(services.entries.find((entry) => entry.name === "reports")).toEqual({
      name: "reports",
      healthy: true,
      workers: [
        {
          service: "reports",
          jobType: "daily",
          instanceId: "w1",
          concurrency: 2,
          version: "1.0.0",
          timestamp: new Date(now).toISOString(),
        },
      ],
    });
    expect(services.entries.find((entry) => entry.name === "stale")).toEqual({
      name: "stale",
      healthy: false,
      workers: [],
    });
  });

  it("reports health and job metrics", async () => {
    const health = ok(await admin.rpc.jobs.health({}), "Jobs.Health");
    expect(health.status).toBe("ok");
    expect(health.checks.map((check) => check.name)).toEqual([
      "jobs-projector",
      "jobs-worker-presence-projector",
      "jobs-advisories",
      "jobs-janitor",
    ]);
    const text = await (await fetch(`${platform.url}/metrics`)).text();
    expect(text).toMatch(/trellis_jobs_created_total\{service="billing",job_type="refund"\} \d+/);
    expect(text).toMatch(
      /trellis_jobs_completed_total\{service="billing",job_type="export",outcome="dead"\} 2/,
    );
    expect(text).toMatch(
      /trellis_jobs_completed_total\{service="billing",job_type="refund",outcome="expired"\} 1/,
    );
    expect(text).toMatch(
      /trellis_job_duration_seconds_count\{service="billing",job_type="refund",outcome="completed"\} \d+/,
    );
    expect(text).toMatch(/trellis_jobs_in_progress\{service="billing",job_type="refund"\} \d+/);
    expect(text).toMatch(/trellis_workers_active\{service="reports",job_type="daily"\} 1/);
    expect(text).toMatch(/trellis_jobs_queue_depth\{consumer="billing-export"\} 0/);
  });

  it("rebuilds from the stream a projection equal to the live one", async () => {
    const db = openDatabase(":memory:");
    try {
      const rebuilt = new JobsProjection(db);
      const summary = await rebuildJobsProjection(nc, rebuilt);
      const live = new JobsProjection(platform.controlPlane.context.store.db);
      expect(summary.lastSequence).toBe(live.lastSequence());
      expect(rebuilt.all().length).toBeGreaterThan(10);
      expect(compareProjections(live, rebuilt)).toEqual({ onlyInFirst: [], onlyInSecond: [], changed: [] });
    } finally {
      db.close();
    }
  });

  it("projects everything again after its projection was emptied and the control plane restarted", async () => {
    const before = new JobsProjection(platform.controlPlane.context.store.db).all();
    platform.controlPlane.context.store.db.exec(
      "DELETE FROM jobs_projection; DELETE FROM projection_metadata WHERE name = 'jobs.last_sequence'",
    );
    await platform.restartControlPlane();
    const after = await eventually("the projection to be rebuilt", () => {
      const jobs = new JobsProjection(platform.controlPlane.context.store.db).all();
      return jobs.length === before.length ? jobs : undefined;
    });
    expect(after).toEqual(before);
  });
});
