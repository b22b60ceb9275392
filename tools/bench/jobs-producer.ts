/**
 * The producer side of `jobs.ts`, in its own process (forked by it): creates the jobs of one phase,
 * each carrying its wall-clock creation time, either as a burst (`window` creates in flight, as fast
 * as they are acknowledged) or paced (one every `paceMs`, on a fixed schedule, without waiting for the
 * previous create), and reports when the first create began and the last one was acknowledged.
 *
 * - `trellis`: `service.jobs.c<n>.create(payload)` on an instance of the bench deployment (payload
 *   validated, `created` event stored with a JetStream ack). It also counts the queue's `completed`
 *   events (a core subscription the service's grants allow) and reports when the last one arrived.
 * - `raw`: `js.publish("bench.raw.c<n>", payload)` with its JetStream ack.
 * - `bullmq`: `queue.add("tick", payload)` with BullMQ's default job options.
 *
 * Usage (by jobs.ts): jobs-producer.ts <raw|trellis|bullmq>, endpoints in BENCH_JOBS_ENDPOINTS.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { TrellisService } from "@trellis/runtime";
import { Queue } from "bullmq";
import {
  bullQueue,
  CONCURRENCIES,
  endpointsFromEnv,
  failChild,
  jobsBenchContract,
  type ProducerCommand,
  queueName,
  rawSubject,
  type System,
  sendToParent,
  type Tick,
  trellisEventPrefix,
  wallNow,
} from "./jobs-common.js";

type Create = (concurrency: number, tick: Tick) => Promise<void>;

interface Producer {
  create: Create;
  /** Trellis: resolves when `count` jobs of the queue have completed since the call. */
  completions?: (concurrency: number, count: number) => Promise<number>;
  stop(): Promise<void>;
}

async function trellisProducer(): Promise<Producer> {
  const endpoints = endpointsFromEnv();
  const service = await TrellisService.connect({
    trellisUrl: endpoints.trellisUrl,
    contract: jobsBenchContract,
    name: "bench-jobs-producer",
    sessionKeySeed: endpoints.producerSeed,
    logger: false,
    heartbeat: false,
    bootstrap: { retryAfterMaxMs: 500, maxBackoffMs: 1000, signal: AbortSignal.timeout(60_000) },
  });
  await service.start();
  const watching = new Map<number, { left: number; done: (at: number) => void }>();
  for (const concurrency of CONCURRENCIES) {
    service.client.nc.subscribe(`${trellisEventPrefix(concurrency)}.*.completed`, {
      callback: (error) => {
        if (error) return failChild(error);
        const watch = watching.get(concurrency);
        if (!watch) return;
        watch.left--;
        if (watch.left === 0) {
          watching.delete(concurrency);
          watch.done(wallNow());
        }
      },
    });
  }
  await service.client.nc.flush();
  return {
    async create(concurrency, tick) {
      const created = await service.jobs[queueName(concurrency)].create(tick);
      if (created.isErr()) throw created.error;
    },
    completions(concurrency, count) {
      return new Promise((resolve) => watching.set(concurrency, { left: count, done: resolve }));
    },
    stop: () => service.stop(),
  };
}

async function rawProducer(): Promise<Producer> {
  const endpoints = endpointsFromEnv();
  const nc = await connect({
    servers: endpoints.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(endpoints.natsCreds)),
    name: "bench-jobs-raw-producer",
    noAsyncTraces: true,
  });
  const js = jetstream(nc);
  return {
    async create(concurrency, tick) {
      await js.publish(rawSubject(concurrency), JSON.stringify(tick));
    },
    stop: () => nc.drain(),
  };
}

async function bullmqProducer(): Promise<Producer> {
  const { redisPort } = endpointsFromEnv();
  if (redisPort === undefined) throw new Error("no redis-server port");
  const queues = new Map<number, Queue>();
  for (const concurrency of CONCURRENCIES) {
    const queue = new Queue(bullQueue(concurrency), { connection: { host: "127.0.0.1", port: redisPort } });
    await queue.waitUntilReady();
    queues.set(concurrency, queue);
  }
  return {
    async create(concurrency, tick) {
      await queues.get(concurrency)?.add("tick", tick);
    },
    stop: async () => {
      await Promise.all([...queues.values()].map((queue) => queue.close()));
    },
  };
}

async function burst(create: Create, concurrency: number, count: number, window: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      await create(concurrency, { t: wallNow(), i });
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
}

async function paced(create: Create, concurrency: number, count: number, paceMs: number): Promise<void> {
  const start = wallNow();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const wait = start + i * paceMs - wallNow();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(create(concurrency, { t: wallNow(), i }));
  }
  await Promise.all(pending);
}

async function main(): Promise<void> {
  const system = process.argv[2] as System | undefined;
  if (!process.send) throw new Error("jobs-producer.ts is forked by tools/bench/jobs.ts (no IPC channel)");
  const producer =
    system === "trellis"
      ? await trellisProducer()
      : system === "raw"
        ? await rawProducer()
        : system === "bullmq"
          ? await bullmqProducer()
          : failChild(new Error(`unknown system '${system}'`));

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.race([producer.stop(), new Promise((resolve) => setTimeout(resolve, 5000))]).catch(
      () => undefined,
    );
    process.exit(0);
  };
  process.on("message", (command: ProducerCommand) => {
    if (command.type === "stop") {
      void shutdown();
      return;
    }
    void (async () => {
      const { concurrency, count } = command;
      const completions = producer.completions?.(concurrency, count);
      const startedAt = wallNow();
      if (command.mode === "burst") await burst(producer.create, concurrency, count, command.window);
      else await paced(producer.create, concurrency, count, command.paceMs);
      const createdAt = wallNow();
      const completedAt = await completions;
      sendToParent({
        type: "produced",
        startedAt,
        createdAt,
        ...(completedAt !== undefined && { completedAt }),
      });
    })().catch(failChild);
  });
  process.once("SIGTERM", () => void shutdown());
  process.on("disconnect", () => void shutdown());
  sendToParent({ type: "ready", pid: process.pid });
}

main().catch(failChild);
