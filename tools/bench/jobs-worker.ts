/**
 * The worker side of `jobs.ts`, in its own process (forked by it): takes the jobs of every queue
 * (concurrency 1, 16 and 64) of one system and runs a no-op handler that records the job's
 * create-to-start latency (handler entry minus the producer's timestamp in the payload).
 *
 * - `trellis`: `TrellisService.connect` as an instance of the bench deployment, one
 *   `service.jobs.c<n>.handle` per queue (the runtime's own workers). A job is "complete" when its
 *   `completed` event is stored; the producer observes that.
 * - `raw`: a JetStream work-queue loop on `BENCH_RAW`: `consume({max_messages: n})` on a durable
 *   consumer with `max_ack_pending = n`, parse, no-op, `ack()`. Complete = acked.
 * - `bullmq`: `new Worker(queue, processor, {concurrency: n})` on the local redis-server.
 *   Complete = the worker's `completed` event.
 *
 * Usage (by jobs.ts): jobs-worker.ts <raw|trellis|bullmq>, endpoints in BENCH_JOBS_ENDPOINTS.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Result } from "@trellis/result";
import { TrellisService } from "@trellis/runtime";
import { Worker as BullWorker } from "bullmq";
import {
  bullQueue,
  CONCURRENCIES,
  endpointsFromEnv,
  failChild,
  jobsBenchContract,
  queueName,
  RAW_STREAM,
  rawConsumer,
  type System,
  sendToParent,
  type Tick,
  type WorkerCommand,
  wallNow,
} from "./jobs-common.js";

/** The phase being measured: which queue, how many jobs, what was seen so far. */
interface Phase {
  concurrency: number;
  count: number;
  latencies: number[];
  completed: number;
  /** Whether completions are counted here (raw, BullMQ) or by the producer (Trellis). */
  countsCompletions: boolean;
  reported: boolean;
}

let phase: Phase | undefined;

function finishIfDone(current: Phase): void {
  if (current.reported || current.latencies.length < current.count) return;
  if (current.countsCompletions && current.completed < current.count) return;
  current.reported = true;
  sendToParent({
    type: "finished",
    latencies: current.latencies,
    ...(current.countsCompletions && { completedAt: wallNow() }),
  });
}

function started(concurrency: number, t: number): void {
  const now = wallNow();
  const current = phase;
  if (!current || current.concurrency !== concurrency) {
    failChild(new Error(`a job of queue c${concurrency} ran outside its phase`));
  }
  current.latencies.push(now - t);
  finishIfDone(current);
}

function completed(concurrency: number): void {
  const current = phase;
  if (!current || current.concurrency !== concurrency) return;
  current.completed++;
  finishIfDone(current);
}

/** A no-op handler body that still yields once, as an async handler would. */
const noop = (): Promise<void> => Promise.resolve();

async function startTrellis(): Promise<() => Promise<void>> {
  const endpoints = endpointsFromEnv();
  const service = await TrellisService.connect({
    trellisUrl: endpoints.trellisUrl,
    contract: jobsBenchContract,
    name: "bench-jobs-worker",
    sessionKeySeed: endpoints.workerSeed,
    logger: false,
    heartbeat: false,
    bootstrap: { retryAfterMaxMs: 500, maxBackoffMs: 1000, signal: AbortSignal.timeout(60_000) },
  });
  for (const concurrency of CONCURRENCIES) {
    service.jobs[queueName(concurrency)].handle(async ({ job }) => {
      started(concurrency, job.payload.t);
      await noop();
      return Result.ok(undefined);
    });
  }
  await service.start();
  return () => service.stop();
}

async function startRaw(): Promise<() => Promise<void>> {
  const endpoints = endpointsFromEnv();
  const nc: NatsConnection = await connect({
    servers: endpoints.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(endpoints.natsCreds)),
    name: "bench-jobs-raw-worker",
    noAsyncTraces: true,
  });
  const js = jetstream(nc);
  const loops: Promise<void>[] = [];
  const closers: (() => Promise<void>)[] = [];
  for (const concurrency of CONCURRENCIES) {
    const consumer = await js.consumers.get(RAW_STREAM, rawConsumer(concurrency));
    const messages = await consumer.consume({ max_messages: concurrency });
    closers.push(async () => void (await messages.close()));
    loops.push(
      (async () => {
        for await (const msg of messages) {
          // The consumer's max_ack_pending bounds the jobs in flight to the concurrency.
          void (async () => {
            const tick = msg.json<Tick>();
            started(concurrency, tick.t);
            await noop();
            msg.ack();
            completed(concurrency);
          })();
        }
      })(),
    );
  }
  await nc.flush();
  return async () => {
    for (const close of closers) await close();
    await nc.drain();
  };
}

async function startBullmq(): Promise<() => Promise<void>> {
  const { redisPort } = endpointsFromEnv();
  if (redisPort === undefined) throw new Error("no redis-server port");
  const workers: BullWorker[] = [];
  for (const concurrency of CONCURRENCIES) {
    const worker = new BullWorker(
      bullQueue(concurrency),
      async (job) => {
        started(concurrency, (job.data as Tick).t);
        await noop();
      },
      {
        connection: { host: "127.0.0.1", port: redisPort, maxRetriesPerRequest: null },
        concurrency,
      },
    );
    worker.on("completed", () => completed(concurrency));
    worker.on("error", (error) => failChild(error));
    workers.push(worker);
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  return async () => {
    await Promise.all(workers.map((worker) => worker.close()));
  };
}

async function main(): Promise<void> {
  const system = process.argv[2] as System | undefined;
  if (!process.send) throw new Error("jobs-worker.ts is forked by tools/bench/jobs.ts (no IPC channel)");
  const stop =
    system === "trellis"
      ? await startTrellis()
      : system === "raw"
        ? await startRaw()
        : system === "bullmq"
          ? await startBullmq()
          : failChild(new Error(`unknown system '${system}'`));

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.race([stop(), new Promise((resolve) => setTimeout(resolve, 5000))]).catch(() => undefined);
    process.exit(0);
  };
  process.on("message", (command: WorkerCommand) => {
    if (command.type === "expect") {
      phase = {
        concurrency: command.concurrency,
        count: command.count,
        latencies: [],
        completed: 0,
        countsCompletions: system !== "trellis",
        reported: false,
      };
      sendToParent({ type: "expecting" });
    } else if (command.type === "stop") {
      void shutdown();
    }
  });
  process.once("SIGTERM", () => void shutdown());
  process.on("disconnect", () => void shutdown());
  sendToParent({ type: "ready", pid: process.pid });
}

main().catch(failChild);
