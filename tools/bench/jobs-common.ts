/**
 * What the processes of the jobs benchmark (`jobs.ts`, `jobs-worker.ts`, `jobs-producer.ts`) share:
 * the service contract with one queue per measured concurrency, the raw JetStream and BullMQ names,
 * the IPC messages and the wall clock that create-to-start latencies are measured on.
 */
import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";

/** The systems compared. */
export const SYSTEMS = ["raw", "trellis", "bullmq"] as const;
export type System = (typeof SYSTEMS)[number];

/** The concurrencies measured; each has its own queue in every system. */
export const CONCURRENCIES = [1, 16, 64] as const;

/** The queue of a concurrency: `c1`, `c16`, `c64`. */
export function queueName(concurrency: number): QueueName {
  const name = `c${concurrency}`;
  if (!QUEUE_NAMES.includes(name as QueueName)) throw new Error(`no queue for concurrency ${concurrency}`);
  return name as QueueName;
}
const QUEUE_NAMES = ["c1", "c16", "c64"] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** A job's payload: the producer's wall-clock time just before it created the job (ms), and its index. */
export const Tick = z.object({ t: z.number(), i: z.int().min(0) });
export type Tick = z.output<typeof Tick>;

/**
 * The deployed service: one queue per concurrency, default settings otherwise (no result schema, the
 * control plane's default backoff and ack wait).
 */
export const jobsBenchContract = defineServiceContract({ schemas: { Tick } }, (ref) => ({
  id: "bench.jobs@v1",
  displayName: "Jobs benchmark",
  description: "No-op jobs at concurrency 1, 16 and 64, for npm run bench:jobs.",
  jobs: {
    c1: { payload: ref.schema("Tick"), concurrency: 1 },
    c16: { payload: ref.schema("Tick"), concurrency: 16 },
    c64: { payload: ref.schema("Tick"), concurrency: 64 },
  },
}));

/** The deployment (and so the jobs namespace) of the Trellis side. */
export const DEPLOYMENT = "bench-jobs";
/** Lifecycle events of a Trellis queue: `<prefix>.<jobId>.<eventType>`. */
export function trellisEventPrefix(concurrency: number): string {
  return `trellis.jobs.${DEPLOYMENT}.${queueName(concurrency)}`;
}
/** The raw JetStream work-queue stream and its subjects (`bench.raw.c<n>`), one consumer per queue. */
export const RAW_STREAM = "BENCH_RAW";
export function rawSubject(concurrency: number): string {
  return `bench.raw.${queueName(concurrency)}`;
}
export function rawConsumer(concurrency: number): string {
  return `bench-raw-${queueName(concurrency)}`;
}
/** The BullMQ queue of a concurrency. */
export function bullQueue(concurrency: number): string {
  return `bench-${queueName(concurrency)}`;
}

/** Wall-clock time in ms with sub-ms resolution, comparable across the processes of one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Where the children connect; passed as JSON in `BENCH_JOBS_ENDPOINTS`. */
export interface Endpoints {
  natsUrl: string;
  /** Creds of the TRELLIS account user (raw JetStream side). */
  natsCreds: string;
  /** The control plane (Trellis side). */
  trellisUrl: string;
  /** Session key seeds of the worker's and the producer's service instances. */
  workerSeed: string;
  producerSeed: string;
  /** Local redis-server port (BullMQ side), when BullMQ is measured. */
  redisPort?: number;
}

export function endpointsFromEnv(): Endpoints {
  const raw = process.env.BENCH_JOBS_ENDPOINTS;
  if (!raw) throw new Error("BENCH_JOBS_ENDPOINTS is not set: this script is forked by tools/bench/jobs.ts");
  return JSON.parse(raw) as Endpoints;
}

/** How a phase creates its jobs. */
export type Mode = "burst" | "paced";

/** Parent → worker. */
export type WorkerCommand = { type: "expect"; concurrency: number; count: number } | { type: "stop" };

/** Worker → parent. */
export type WorkerReply =
  | { type: "ready"; pid: number }
  | { type: "expecting" }
  | {
      type: "finished";
      /** Create-to-start latencies (ms), in start order. */
      latencies: number[];
      /** When the last job completed (raw, BullMQ: seen by the worker); the producer sees Trellis's. */
      completedAt?: number;
    }
  | { type: "error"; message: string };

/** Parent → producer. */
export type ProducerCommand =
  | {
      type: "run";
      concurrency: number;
      count: number;
      mode: Mode;
      /** Burst: creates in flight. */
      window: number;
      /** Paced: one create every `paceMs`. */
      paceMs: number;
    }
  | { type: "stop" };

/** Producer → parent. */
export type ProducerReply =
  | { type: "ready"; pid: number }
  | {
      type: "produced";
      /** When the first create began and the last one was acknowledged. */
      startedAt: number;
      createdAt: number;
      /** Trellis: when the `completed` event of the last job arrived. */
      completedAt?: number;
    }
  | { type: "error"; message: string };

/** Sends over the IPC channel (children only). */
export function sendToParent(message: WorkerReply | ProducerReply): void {
  process.send?.(message);
}

/** Reports a fatal error to the parent and exits. */
export function failChild(error: unknown): never {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  sendToParent({ type: "error", message });
  console.error(message);
  process.exit(1);
}
