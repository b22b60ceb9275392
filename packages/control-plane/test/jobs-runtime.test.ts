/**
 * The jobs runtime on the real stack (nats-server with the auth callout, the control plane on SQLite,
 * services bootstrapped over HTTP): a deployment whose contract declares the `tasks` queue, services
 * creating and handling jobs in-process, and a worker child process (`tsx`) that the tests kill or stop
 * with SIGTERM. Reconciliation — not the tests — creates the streams and the queue's consumer.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Result } from "@trellis/result";
import { type Job, type JobRef, TransportError, TrellisService, ValidationError } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { jobsTestContract, mountTasks } from "./support/jobs-service.js";
import {
  connectServicesAdmin,
  deployContract,
  eventually,
  type ProvisionedInstance,
  provisionInstance,
  type ServicesAdmin,
} from "./support/services.js";

type TasksService = TrellisService<typeof jobsTestContract>;

const DEPLOYMENT = "jobs-e2e";
const PREFIX = `trellis.jobs.${DEPLOYMENT}.tasks`;
const CONSUMER = `${DEPLOYMENT}-tasks`;
const WORKER_SCRIPT = fileURLToPath(new URL("./support/jobs-worker.ts", import.meta.url));
const WORKER_TSCONFIG = fileURLToPath(new URL("./support/jobs-worker.tsconfig.json", import.meta.url));
const REPOSITORY = fileURLToPath(new URL("../../../", import.meta.url));

let platform: PlatformHandle;
let admin: ServicesAdmin;
let inspector: NatsConnection;
let jsm: JetStreamManager;
const instances: ProvisionedInstance[] = [];
/** Services started by the current test, stopped after it. */
const running = new Set<TasksService>();
/** Worker child processes, stopped by PID. */
const children = new Set<ChildProcess>();
/** Tries of every handler run in this process, by job id. */
const runs = new Map<string, number[]>();
/** Abort reasons seen by handlers in this process, by job id. */
const aborts = new Map<string, unknown>();

/** Connects a service of the deployment (instance `index`), optionally handling `tasks`, and starts it. */
async function startTasks(
  index: number,
  options: { handle?: boolean; shutdownGraceMs?: number } = {},
): Promise<TasksService> {
  const instance = instances[index];
  if (!instance) throw new Error(`no instance ${index}`);
  const service = await TrellisService.connect({
    trellisUrl: platform.url,
    contract: jobsTestContract,
    name: "jobs-e2e",
    sessionKeySeed: instance.seed,
    logger: false,
    heartbeat: false,
    jobs: { shutdownGraceMs: options.shutdownGraceMs ?? 5000, presenceIntervalMs: 200 },
    bootstrap: { retryAfterMaxMs: 500, maxBackoffMs: 1000, signal: AbortSignal.timeout(60_000) },
  });
  running.add(service);
  if (options.handle) {
    mountTasks(service, {
      onRun: (job) => runs.set(job.id, [...(runs.get(job.id) ?? []), job.tries]),
      onAbort: (jobId, reason) => aborts.set(jobId, reason),
    });
  }
  await service.start();
  return service;
}

async function stopService(service: TasksService): Promise<void> {
  await service.stop();
  running.delete(service);
}

/** A worker child process on instance `index`; resolves once it reports ready. */
async function startWorkerProcess(
  index: number,
  shutdownGraceMs: number,
): Promise<{ child: ChildProcess; lines: Record<string, unknown>[]; exited: Promise<number | null> }> {
  const instance = instances[index];
  if (!instance) throw new Error(`no instance ${index}`);
  // `node --import tsx` runs the script in this one process (the `tsx` CLI would fork a child that a
  // SIGKILL of its PID leaves running).
  const child = spawn(process.execPath, ["--import", "tsx", WORKER_SCRIPT], {
    env: {
      ...process.env,
      TSX_TSCONFIG_PATH: WORKER_TSCONFIG,
      TRELLIS_URL: platform.url,
      TRELLIS_SESSION_KEY_SEED: instance.seed,
      JOBS_SHUTDOWN_GRACE_MS: String(shutdownGraceMs),
    },
    cwd: REPOSITORY,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      children.delete(child);
      resolve(code);
    });
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (line.trim().startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  await eventually(
    "the worker process to be ready",
    () => {
      if (child.exitCode !== null) throw new Error(`worker exited early (${child.exitCode}): ${stderr}`);
      return lines.some((line) => line.ready === true) ? true : undefined;
    },
    { timeoutMs: 30_000 },
  );
  return { child, lines, exited };
}

/** Every lifecycle event of a job in stream order (subject type and body). */
async function eventsOf(
  jobId: string,
): Promise<{ type: string; body: Record<string, unknown>; headers: Record<string, string> }[]> {
  const events: { type: string; body: Record<string, unknown>; headers: Record<string, string> }[] = [];
  for (let seq = 1; ; ) {
    const message = await jsm.direct.getMessage("JOBS", { seq, next_by_subj: `${PREFIX}.${jobId}.*` });
    if (!message) return events;
    const headers: Record<string, string> = {};
    for (const key of message.header.keys()) headers[key] = message.header.get(key);
    events.push({ type: message.subject.split(".").at(-1) ?? "", body: message.json(), headers });
    seq = message.seq + 1;
  }
}

async function typesOf(jobId: string): Promise<string[]> {
  return (await eventsOf(jobId)).map((event) => event.type);
}

async function create(
  service: TasksService,
  payload: Parameters<TasksService["jobs"]["tasks"]["create"]>[0],
) {
  const created = await service.jobs.tasks.create(payload);
  if (created.isErr()) throw created.error;
  return created.value;
}

async function waitFor(ref: JobRef, timeoutMs = 15_000): Promise<Job> {
  const waited = await ref.wait({ timeoutMs });
  if (waited.isErr()) throw waited.error;
  return waited.value;
}

async function consumerState() {
  return (await jsm.consumers.info("JOBS_WORK", CONSUMER)).num_ack_pending;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Restarts nats-server on its store and waits until JetStream answers the inspector again. */
async function restartNats(): Promise<void> {
  await platform.nats.restart();
  await eventually(
    "JetStream to answer after the restart",
    () =>
      jsm.streams
        .info("JOBS")
        .then(() => true)
        .catch(() => undefined),
    { timeoutMs: 30_000 },
  );
}

beforeAll(async () => {
  platform = await startPlatform();
  admin = await connectServicesAdmin(platform);
  instances.push(
    await deployContract(admin, { deploymentId: DEPLOYMENT, namespaces: ["Jobs"], mode: "mutable-dev" }),
  );
  for (let i = 0; i < 4; i++) instances.push(await provisionInstance(admin, DEPLOYMENT));
  inspector = await connect({
    servers: platform.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(platform.topology.users.trellisAuth.creds)),
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
  });
  jsm = await jetstreamManager(inspector);
});

afterEach(async () => {
  for (const service of running) await service.stop().catch(() => undefined);
  running.clear();
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await admin?.nc.close();
  await inspector?.close();
  await platform?.stop();
});

describe("reconciliation", () => {
  it("creates the queue's consumer with the binding's settings and grants exact job subjects", async () => {
    const service = await startTasks(0);
    const consumer = (await jsm.consumers.info("JOBS_WORK", CONSUMER)).config;
    expect(consumer.filter_subject).toBe(`trellis.work.${DEPLOYMENT}.tasks`);
    expect(consumer.max_ack_pending).toBe(4);
    expect(consumer.max_deliver).toBe(3);
    expect(consumer.backoff).toEqual([200e6, 400e6]);
    const materialized = platform.controlPlane.context.store.materialized.get(DEPLOYMENT);
    const grants = materialized?.grants.nats.map((grant) => `${grant.direction} ${grant.subject}`) ?? [];
    expect(grants).toEqual(
      expect.arrayContaining([
        `publish trellis.jobs.${DEPLOYMENT}.>`,
        `publish trellis.jobs.workers.${DEPLOYMENT}.>`,
        `publish $JS.API.DIRECT.GET.JOBS.trellis.jobs.${DEPLOYMENT}.>`,
        `publish $JS.API.CONSUMER.MSG.NEXT.JOBS_WORK.${CONSUMER}`,
        `publish $JS.ACK.JOBS_WORK.${CONSUMER}.>`,
        `subscribe ${PREFIX}.*.*`,
      ]),
    );
    expect(
      grants.filter((grant) => grant.includes("$JS.API.>") || grant === "publish $JS.API.DIRECT.GET.JOBS"),
    ).toEqual([]);
    // Another namespace's job events cannot be read.
    await expect(
      service.client.nc.request("$JS.API.DIRECT.GET.JOBS.trellis.jobs.other.q.x.*", undefined, {
        timeout: 1000,
      }),
    ).rejects.toThrow();
  });
});

describe("creating and running jobs", () => {
  it("runs a job with progress and logs; its lifecycle events are stored in order with the job's context", async () => {
    const service = await startTasks(0, { handle: true });
    expect(() => service.jobs.tasks.handle(() => Result.ok({ tries: 1 }))).toThrow(/already has a handler/);
    const ref = await create(service, { action: "progress", label: "hello" });
    const job = await waitFor(ref);
    expect(job).toMatchObject({
      id: ref.id,
      state: "completed",
      tries: 1,
      result: { tries: 1, label: "hello" },
    });
    expect(job.progress).toEqual({ step: "two", current: 2, total: 2 });

    const events = await eventsOf(ref.id);
    expect(events.map((event) => event.type)).toEqual([
      "created",
      "started",
      "progress",
      "logged",
      "progress",
      "completed",
    ]);
    const [created, started, , logged, , completed] = events;
    expect(created?.body).toMatchObject({
      state: "pending",
      tries: 0,
      maxTries: 3,
      payload: { action: "progress", label: "hello" },
    });
    expect(started?.body).toMatchObject({ state: "active", previousState: "pending", tries: 1 });
    expect(logged?.body.logs).toEqual([expect.objectContaining({ level: "info", message: "halfway there" })]);
    expect(completed?.body).toMatchObject({
      state: "completed",
      previousState: "active",
      result: { tries: 1, label: "hello" },
    });
    const context = created?.body.context as { requestId: string; traceparent: string; traceId: string };
    expect(context.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(context.traceId).toBe(context.traceparent.slice(3, 35));
    for (const event of events) {
      expect(event.body.context).toEqual(context);
      expect(event.headers["request-id"]).toBe(context.requestId);
      expect(event.headers.traceparent).toBe(context.traceparent);
    }
    expect(await consumerState()).toBe(0);
  });

  it("refuses an invalid payload at create: a ValidationError and nothing is stored", async () => {
    const service = await startTasks(0);
    expect(() => service.jobs.tasks.handle(() => Result.ok({ tries: 1 }))).toThrow(
      /before the service starts/,
    );
    const before = (await jsm.streams.info("JOBS")).state.messages;
    const created = await service.jobs.tasks.create({ action: "explode" } as never);
    expect(created.isErr() && created.error).toBeInstanceOf(ValidationError);
    expect((await jsm.streams.info("JOBS")).state.messages).toBe(before);
  });

  it("creates one job for a repeated key", async () => {
    const creator = await startTasks(0);
    const first = await creator.jobs.tasks.create({ action: "complete", label: "once" }, { key: "order-42" });
    const second = await creator.jobs.tasks.create(
      { action: "complete", label: "twice" },
      { key: "order-42" },
    );
    if (first.isErr() || second.isErr()) throw new Error("create failed");
    expect(second.value.id).toBe(first.value.id);
    await startTasks(1, { handle: true });
    const job = await waitFor(first.value);
    expect(job.result).toEqual({ tries: 1, label: "once" });
    // Beyond the de-duplication window the key still names the same job.
    const third = await creator.jobs.tasks.create({ action: "complete" }, { key: "order-42" });
    expect(third.isOk() && third.value.id).toBe(first.value.id);
    expect(await typesOf(first.value.id)).toEqual(["created", "started", "completed"]);
    expect(runs.get(first.value.id)).toEqual([1]);
  });

  it("fails a job for good on JobError.fatal and on a payload that fails its schema, without retrying", async () => {
    const service = await startTasks(0, { handle: true });
    const fatal = await create(service, { action: "fatal" });
    expect(await waitFor(fatal)).toMatchObject({
      state: "failed",
      lastError: "this task can never succeed",
      tries: 1,
    });

    // A work item whose payload fails the schema (published around `create`'s validation).
    const id = "01JZZZZZZZZZZZZZZZZZZZZZZZ";
    const context = {
      requestId: id,
      traceId: "1".repeat(32),
      traceparent: `00-${"1".repeat(32)}-${"2".repeat(16)}-01`,
    };
    await jetstream(inspector).publish(
      `${PREFIX}.${id}.created`,
      JSON.stringify({
        jobId: id,
        service: DEPLOYMENT,
        jobType: "tasks",
        eventType: "created",
        state: "pending",
        context,
        tries: 0,
        maxTries: 3,
        payload: { action: 42 },
        timestamp: new Date().toISOString(),
      }),
    );
    const invalid = await waitFor(service.jobs.tasks.ref(id));
    expect(invalid.state).toBe("failed");
    expect(invalid.lastError).toMatch(/^invalid payload/);
    await sleep(700);
    expect(await typesOf(fatal.id)).toEqual(["created", "started", "failed"]);
    expect(await typesOf(id)).toEqual(["created", "started", "failed"]);
    expect(runs.get(fatal.id)).toEqual([1]);
    expect(runs.has(id)).toBe(false);
  });

  it("retries a failing job on the backoff schedule until maxDeliver; the max-deliveries advisory is kept", async () => {
    const service = await startTasks(0, { handle: true });
    const times: number[] = [];
    const ref = await create(service, { action: "retry" });
    await eventually("three attempts", () => ((runs.get(ref.id)?.length ?? 0) >= 3 ? true : undefined));
    await sleep(1000);
    expect(runs.get(ref.id)).toEqual([1, 2, 3]);
    const events = await eventsOf(ref.id);
    const started = events.filter((event) => event.type === "started");
    for (const event of started) times.push(Date.parse(String(event.body.timestamp)));
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(180);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(380);
    expect(events.map((event) => event.type).slice(0, 7)).toEqual([
      "created",
      "started",
      "retry",
      "started",
      "retry",
      "started",
      "retry",
    ]);
    expect(started.map((event) => [event.body.tries, event.body.previousState])).toEqual([
      [1, "pending"],
      [2, "retry"],
      [3, "retry"],
    ]);
    expect(events[2]?.body.error).toBe("try 1 failed");
    expect(events[4]?.body.error).toBe("thrown on the second try");
    const advisory = await eventually("the max-deliveries advisory", () =>
      jsm.streams
        .getMessage("JOBS_ADVISORIES", {
          last_by_subj: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JOBS_WORK.${CONSUMER}`,
        })
        .then(
          (message) =>
            message?.json<{ consumer: string; deliveries: number; stream_seq: number }>() ?? undefined,
        )
        .catch(() => undefined),
    );
    expect(advisory).toMatchObject({ consumer: CONSUMER, deliveries: 3 });
  });
});

describe("cancellation", () => {
  it("a job cancelled while pending never runs; its work item is acked", async () => {
    const creator = await startTasks(0);
    const ref = await create(creator, { action: "complete" });
    const cancelled = await ref.cancel();
    expect(cancelled.isOk() && cancelled.value.state).toBe("cancelled");
    await startTasks(1, { handle: true });
    await eventually("the work item to be acked", async () => {
      const info = await jsm.consumers.info("JOBS_WORK", CONSUMER);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    });
    expect(runs.has(ref.id)).toBe(false);
    expect(await typesOf(ref.id)).toEqual(["created", "cancelled"]);
    // Cancelling a terminal job changes nothing.
    const again = await ref.cancel();
    expect(again.isOk() && again.value.state).toBe("cancelled");
    expect(await typesOf(ref.id)).toEqual(["created", "cancelled"]);
  });

  it("a job cancelled while active has its signal aborted, its result discarded, and stays cancelled", async () => {
    const service = await startTasks(0, { handle: true });
    const ref = await create(service, { action: "wait-cancel" });
    await eventually("the handler to run", () => (runs.has(ref.id) ? true : undefined));
    await eventually("the job to be active", async () => {
      const job = await ref.get();
      return job.isOk() && job.value.state === "active" ? true : undefined;
    });
    const cancelled = await ref.cancel();
    expect(cancelled.isOk() && cancelled.value.state).toBe("cancelled");
    await eventually("the handler to see the cancel", () => (aborts.has(ref.id) ? true : undefined));
    expect(aborts.get(ref.id)).toBe("cancelled");
    expect((await waitFor(ref)).state).toBe("cancelled");
    await eventually("the work item to be acked", async () =>
      (await consumerState()) === 0 ? true : undefined,
    );
    expect(await typesOf(ref.id)).toEqual(["created", "started", "cancelled"]);
  });
});

describe("crashes, shutdown and restarts", () => {
  it("redelivers the job of a worker killed mid-job; it runs again with tries 2 and completes once", {
    timeout: 60_000,
  }, async () => {
    const worker = await startWorkerProcess(2, 30_000);
    const creator = await startTasks(0);
    const ref = await create(creator, { action: "block-once" });
    await eventually("the worker process to run the job", () =>
      worker.lines.some((line) => line.running === ref.id) ? true : undefined,
    );
    worker.child.kill("SIGKILL");
    await worker.exited;
    await startTasks(1, { handle: true });
    const job = await waitFor(ref);
    expect(job).toMatchObject({ state: "completed", result: { tries: 2 } });
    expect(runs.get(ref.id)).toEqual([2]);
    const types = await typesOf(ref.id);
    expect(types.filter((type) => type === "completed")).toHaveLength(1);
    expect(types).toEqual(["created", "started", "started", "completed"]);
  });

  it("on SIGTERM a worker hands its in-flight job back after the grace period (no cancelled event) and exits 0", {
    timeout: 60_000,
  }, async () => {
    const worker = await startWorkerProcess(2, 300);
    const creator = await startTasks(0);
    const ref = await create(creator, { action: "block-once" });
    await eventually("the worker process to run the job", () =>
      worker.lines.some((line) => line.running === ref.id) ? true : undefined,
    );
    await startTasks(1, { handle: true });
    worker.child.kill("SIGTERM");
    expect(await worker.exited).toBe(0);
    const job = await waitFor(ref);
    expect(job).toMatchObject({ state: "completed", result: { tries: 2 } });
    expect(await typesOf(ref.id)).toEqual(["created", "started", "started", "completed"]);
  });

  it("lets an in-flight job finish within the grace period when the service stops", async () => {
    const service = await startTasks(1, { handle: true, shutdownGraceMs: 5000 });
    const ref = await create(service, { action: "sleep", ms: 500 });
    await eventually("the handler to run", () => (runs.has(ref.id) ? true : undefined));
    await stopService(service);
    const reader = await startTasks(0);
    const job = await reader.jobs.tasks.ref(ref.id).get();
    expect(job.isOk() && job.value).toMatchObject({ state: "completed", tries: 1 });
  });

  it("publishes worker presence heartbeats", async () => {
    await startTasks(1, { handle: true });
    const heartbeat = await eventually("a worker heartbeat", () =>
      jsm.direct
        .getMessage("JOBS", { last_by_subj: `trellis.jobs.workers.${DEPLOYMENT}.tasks.*.heartbeat` })
        .then((message) => message?.json<Record<string, unknown>>() ?? undefined),
    );
    expect(heartbeat).toMatchObject({ service: DEPLOYMENT, jobType: "tasks", concurrency: 4 });
  });

  it("JobRef.get and wait read the job after the creating service restarted", async () => {
    const first = await startTasks(3);
    const ref = await create(first, { action: "complete", label: "later" });
    await stopService(first);
    const second = await startTasks(3);
    const later = second.jobs.tasks.ref(ref.id);
    const pending = await later.get();
    expect(pending.isOk() && pending.value).toMatchObject({
      state: "pending",
      payload: { action: "complete", label: "later" },
    });
    const unknown = await second.jobs.tasks.ref("01JAAAAAAAAAAAAAAAAAAAAAAA").get();
    expect(unknown.isErr() && unknown.error.name).toBe("JobNotFoundError");
    const timedOut = await later.wait({ timeoutMs: 200 });
    expect(timedOut.isErr() && timedOut.error).toBeInstanceOf(TransportError);
    await startTasks(1, { handle: true });
    expect(await waitFor(later)).toMatchObject({ state: "completed", result: { tries: 1, label: "later" } });
  });

  it("loses no acknowledged job when nats-server restarts", { timeout: 90_000 }, async () => {
    const creator = await startTasks(0);
    const refs = [];
    for (let i = 0; i < 3; i++) refs.push(await create(creator, { action: "complete", label: `kept-${i}` }));
    await stopService(creator);
    await restartNats();
    const worker = await startTasks(1, { handle: true });
    for (const [i, ref] of refs.entries()) {
      const job = await waitFor(worker.jobs.tasks.ref(ref.id), 30_000);
      expect(job).toMatchObject({ state: "completed", result: { tries: 1, label: `kept-${i}` } });
    }
    // A running worker reconnects and keeps taking work after another restart.
    await restartNats();
    const after = await eventually(
      "a job created after the restart",
      async () => {
        const created = await worker.jobs.tasks.create({ action: "complete", label: "after" });
        return created.isOk() ? created.value : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(await waitFor(after, 30_000)).toMatchObject({ state: "completed", result: { label: "after" } });
  });
});
