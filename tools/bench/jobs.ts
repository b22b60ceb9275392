/**
 * Jobs benchmark: create → complete throughput and create-to-start latency of no-op jobs at
 * concurrency 1, 16 and 64, for three systems in the same run:
 *
 * - **trellis**: the real platform (`startPlatform()`: nats-server in operator mode with the auth
 *   callout, the control plane in this process, with its Jobs admin projecting every lifecycle
 *   event). A service deployment whose contract declares one queue per concurrency
 *   (`jobs-common.ts`); the worker is one instance (`TrellisService.connect`, `service.jobs.c<n>.handle`)
 *   and the producer another (`service.jobs.c<n>.create`), each in its own process.
 * - **raw**: a JetStream work-queue loop on the same nats-server (stream `BENCH_RAW`, one durable
 *   consumer per queue with `max_ack_pending` = concurrency): publish with ack, consume, ack.
 * - **bullmq**: BullMQ on a local redis-server that this script starts on a free port (no
 *   persistence) and stops by PID; Debian's `redis-server` is installed with apt-get when missing.
 *
 * Each system has a worker process and a producer process (`jobs-worker.ts`, `jobs-producer.ts`,
 * forked under `--import tsx`). Per concurrency and system there are two phases:
 *
 * - **burst** (throughput): the producer creates `BENCH_JOBS` jobs with `BENCH_JOBS_WINDOW` creates in
 *   flight; jobs/s = jobs ÷ (last completion − first create). Complete means: Trellis, the `completed`
 *   event is stored (seen by the producer); raw, acked by the worker; BullMQ, the worker's `completed`.
 * - **paced** (create-to-start latency with no backlog): `BENCH_JOBS_PACED` jobs, one every
 *   `BENCH_JOBS_PACE_MS`; latency = handler entry (worker) − the producer's timestamp taken just before
 *   the create call, on the wall clock of this machine.
 *
 * After every Trellis phase the script waits until the Jobs admin's projector has caught up (its
 * consumer has nothing pending), so its catch-up work does not land in the next phase; the time that
 * took is reported.
 *
 * Run from the repository root: `npm run bench:jobs` (= `tsx --tsconfig tools/bench/tsconfig.jobs.json
 * tools/bench/jobs.ts`; the tsconfig maps every `@trellis/*` package to its sources, so no build is
 * needed). `--quick`: 500 burst and 50 paced jobs per phase, 100 to warm up (the smoke test's run;
 * its figures mean little).
 *
 * Environment: BENCH_JOBS (burst jobs, default 20000), BENCH_JOBS_PACED (default 2000),
 * BENCH_JOBS_PACE_MS (default 2), BENCH_JOBS_WINDOW (default 256), BENCH_JOBS_WARMUP (default 3000),
 * BENCH_JOBS_CONCURRENCY (default "1,16,64"), BENCH_JOBS_SYSTEMS (default "raw,trellis,bullmq"),
 * BENCH_JSON (write the results to this file), BENCH_WORKER_NODE_ARGS / BENCH_PRODUCER_NODE_ARGS
 * (extra node flags for the children, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`), and the what-if
 * BENCH_JOBS_ADMIN=off (stop the control plane's Jobs admin loops: no projection of the events).
 * CPU per job is read from /proc (Linux) for every process of the bench; "other cores" is the CPU that
 * processes outside the bench used during a phase (a run is trusted when it stays about 0).
 * Exits non-zero only on errors; a missed aim is reported, not fatal.
 */
import { type ChildProcess, execFileSync, fork, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { JOBS_ADMIN_CONSUMERS } from "@trellis/contracts";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import {
  connectServicesAdmin,
  deployContract,
  provisionInstance,
} from "../../packages/control-plane/test/support/services.js";
import {
  CONCURRENCIES,
  DEPLOYMENT,
  type Endpoints,
  type Mode,
  type ProducerCommand,
  type ProducerReply,
  RAW_STREAM,
  rawConsumer,
  rawSubject,
  SYSTEMS,
  type System,
  type WorkerCommand,
  type WorkerReply,
} from "./jobs-common.js";
import { natsServerVersion, percentile, procCpuUs, systemBusyUs } from "./machine.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");
const TSCONFIG = join(here, "tsconfig.jobs.json");

function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer`);
  return parsed;
}

function envNumber(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name} must be a positive number`);
  return parsed;
}

function envList<T extends string | number>(name: string, allowed: readonly T[]): T[] {
  const value = process.env[name];
  if (value === undefined || value === "") return [...allowed];
  return value.split(",").map((part) => {
    const item = allowed.find((candidate) => String(candidate) === part.trim());
    if (item === undefined) throw new Error(`${name}: '${part}' is not one of ${allowed.join(", ")}`);
    return item;
  });
}

function nodeArgs(name: string): string[] {
  return (process.env[name] ?? "").split(" ").filter((arg) => arg !== "");
}

const QUICK = process.argv.includes("--quick");
const JOBS = envInt("BENCH_JOBS", QUICK ? 500 : 20_000);
const PACED_JOBS = envInt("BENCH_JOBS_PACED", QUICK ? 50 : 2000);
const PACE_MS = envNumber("BENCH_JOBS_PACE_MS", 2);
const WINDOW = envInt("BENCH_JOBS_WINDOW", 256);
const WARMUP_JOBS = envInt("BENCH_JOBS_WARMUP", QUICK ? 100 : 3000);
const CONCURRENCY = envList<number>("BENCH_JOBS_CONCURRENCY", CONCURRENCIES);
const SYSTEMS_RUN = envList<System>("BENCH_JOBS_SYSTEMS", SYSTEMS);
const PHASE_TIMEOUT_MS = envInt("BENCH_JOBS_PHASE_TIMEOUT_MS", 300_000);
/** `BENCH_JOBS_ADMIN=off`: stop the control plane's Jobs admin loops (a what-if: no projection). */
const JOBS_ADMIN = process.env.BENCH_JOBS_ADMIN !== "off";
const CHILD_READY_TIMEOUT_MS = 90_000;
/** Cores of foreign load in a phase above which the run is flagged as noisy. */
const NOISE_CORES = 0.1;
/** The aims at concurrency 64: Trellis throughput ≥ BullMQ's, create-to-start p50 under 1 ms. */
const AIM_CONCURRENCY = 64;
const AIM_P50_MS = 1;

// ---------------------------------------------------------------------------------------------------
// Resources, released at the end, on failure and on SIGINT/SIGTERM.

let platform: PlatformHandle | undefined;
let inspector: NatsConnection | undefined;
let redis: RedisHandle | undefined;
const children = new Set<ChildProcess>();
let cleaning: Promise<void> | undefined;

function killByPid(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const child of children) {
      if (child.connected) child.send({ type: "stop" });
    }
    const deadline = Date.now() + 5000;
    while ([...children].some((child) => child.exitCode === null && child.signalCode === null)) {
      if (Date.now() >= deadline) {
        for (const child of children) killByPid(child.pid, "SIGKILL");
        break;
      }
      await sleep(50);
    }
    await redis?.stop();
    await inspector?.close().catch(() => undefined);
    await platform?.stop().catch((err: unknown) => console.error("stopping the platform failed:", err));
  })();
  return cleaning;
}

let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\n${signal}: stopping the children, redis-server, the control plane and nats-server…`);
    const forced = setTimeout(() => {
      for (const child of children) killByPid(child.pid, "SIGKILL");
      if (redis) killByPid(redis.pid, "SIGKILL");
      if (platform) killByPid(platform.nats.pid, "SIGKILL");
      process.exit(130);
    }, 8000);
    forced.unref();
    void cleanup().finally(() => process.exit(130));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------
// redis-server

interface RedisHandle {
  pid: number;
  port: number;
  version: string;
  stop(): Promise<void>;
}

function findRedisServer(): string | undefined {
  const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
  const path = found.stdout.trim();
  return found.status === 0 && path !== "" ? path : undefined;
}

/** Finds redis-server, installing Debian's package with apt-get when it is missing (as root). */
function ensureRedisServer(): string {
  const existing = findRedisServer();
  if (existing) return existing;
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"]).status === 0;
  if (!isRoot || !hasApt) {
    throw new Error(
      "redis-server is not installed and cannot be installed here (needs root and apt-get). Install it " +
        "(Debian: apt-get install redis-server) or leave BullMQ out: BENCH_JOBS_SYSTEMS=raw,trellis",
    );
  }
  console.log("redis-server not found: installing Debian's redis-server package.");
  console.log("  $ apt-get update");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  if (update.status !== 0) throw new Error(`apt-get update failed (exit ${update.status})`);
  console.log("  $ apt-get install -y --no-install-recommends redis-server");
  const install = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "redis-server"], {
    stdio: "inherit",
    env,
  });
  if (install.status !== 0) throw new Error(`apt-get install redis-server failed (exit ${install.status})`);
  const installed = findRedisServer();
  if (!installed) throw new Error("redis-server is still not on PATH after apt-get install");
  console.log(`  installed ${installed}; this script starts its own instance and never the system service.`);
  return installed;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let answer = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("utf8");
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
    });
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
  });
}

/** Starts redis-server on a free loopback port, without persistence, in a temp dir. */
async function startRedis(binary: string): Promise<RedisHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "trellis-bench-redis-"));
  const child = spawn(
    binary,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--daemonize",
      "no",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("redis-server did not start");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      killByPid(pid, "SIGTERM");
      const timer = setTimeout(() => killByPid(pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await redisPing(port))) {
    if (child.exitCode !== null || Date.now() >= deadline) {
      await stop();
      throw new Error(`redis-server did not come up on port ${port}: ${stderr}`);
    }
    await sleep(50);
  }
  const version = /v=(\S+)/.exec(execFileSync(binary, ["--version"], { encoding: "utf8" }))?.[1] ?? "unknown";
  return { pid, port, version, stop };
}

// ---------------------------------------------------------------------------------------------------
// Children

/** A forked child with typed IPC: waits for replies by type. */
class Child<Command, Reply extends { type: string }> {
  private readonly inbox: Reply[] = [];
  private readonly waiters: {
    type: string;
    resolve: (reply: Reply) => void;
    reject: (error: Error) => void;
  }[] = [];
  private failure: Error | undefined;

  private constructor(
    readonly label: string,
    readonly process: ChildProcess,
  ) {
    process.on("message", (message: Reply) => {
      if (message.type === "error") {
        this.fail(new Error(`${label} failed: ${(message as unknown as { message: string }).message}`));
        return;
      }
      const index = this.waiters.findIndex((waiter) => waiter.type === message.type);
      if (index >= 0) this.waiters.splice(index, 1)[0]?.resolve(message);
      else this.inbox.push(message);
    });
    process.once("exit", (code, signal) => {
      children.delete(process);
      this.fail(new Error(`${label} exited (${code ?? signal})`));
    });
  }

  static fork<C, R extends { type: string }>(
    script: string,
    system: System,
    endpoints: Endpoints,
    extraNodeArgs: string[],
  ): Child<C, R> {
    const child = fork(join(here, script), [system], {
      cwd: repoRoot,
      execArgv: ["--import", "tsx", ...extraNodeArgs],
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: TSCONFIG,
        BENCH_JOBS_ENDPOINTS: JSON.stringify(endpoints),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.add(child);
    return new Child<C, R>(`${script} ${system}`, child);
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error(`${this.label} has no PID`);
    return pid;
  }

  send(command: Command): void {
    this.process.send(command as object);
  }

  next<T extends Reply["type"]>(type: T, timeoutMs: number): Promise<Extract<Reply, { type: T }>> {
    const queued = this.inbox.findIndex((message) => message.type === type);
    if (queued >= 0) return Promise.resolve(this.inbox.splice(queued, 1)[0] as Extract<Reply, { type: T }>);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`${this.label}: no '${type}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        type,
        resolve: (reply: Reply) => {
          clearTimeout(timer);
          resolve(reply as Extract<Reply, { type: T }>);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

type WorkerChild = Child<WorkerCommand, WorkerReply>;
type ProducerChild = Child<ProducerCommand, ProducerReply>;

interface SystemProcesses {
  system: System;
  worker: WorkerChild;
  producer: ProducerChild;
}

async function startSystem(system: System, endpoints: Endpoints): Promise<SystemProcesses> {
  const worker = Child.fork<WorkerCommand, WorkerReply>(
    "jobs-worker.ts",
    system,
    endpoints,
    nodeArgs("BENCH_WORKER_NODE_ARGS"),
  );
  const producer = Child.fork<ProducerCommand, ProducerReply>(
    "jobs-producer.ts",
    system,
    endpoints,
    nodeArgs("BENCH_PRODUCER_NODE_ARGS"),
  );
  await Promise.all([
    worker.next("ready", CHILD_READY_TIMEOUT_MS),
    producer.next("ready", CHILD_READY_TIMEOUT_MS),
  ]);
  return { system, worker, producer };
}

// ---------------------------------------------------------------------------------------------------
// Phases

interface CpuSample {
  at: number;
  worker: number | null;
  producer: number | null;
  nats: number | null;
  redis: number | null;
  bench: number | null;
  system: number | null;
}

function sampleCpu(processes: SystemProcesses): CpuSample {
  return {
    at: performance.now(),
    worker: procCpuUs(processes.worker.pid),
    producer: procCpuUs(processes.producer.pid),
    nats: platform ? procCpuUs(platform.nats.pid) : null,
    redis: redis ? procCpuUs(redis.pid) : null,
    bench: procCpuUs(process.pid),
    system: systemBusyUs(),
  };
}

interface PhaseResult {
  system: System;
  concurrency: number;
  mode: Mode;
  jobs: number;
  /** First create to last completion, s. */
  seconds: number;
  jobsPerSecond: number;
  /** Creates acknowledged per second (first create to last ack). */
  createsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU µs per job of each process; `bench` is this process (the control plane, for Trellis). */
  cpuUsPerJob: Record<"worker" | "producer" | "nats" | "redis" | "bench", number | null>;
  /** Cores used by processes other than the bench's during the phase. */
  otherCores: number | null;
  /** Trellis: how long the Jobs admin's projector needed after the phase to catch up, s. */
  projectorCatchUpSeconds?: number;
}

function delta(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : b - a;
}

async function runPhase(
  processes: SystemProcesses,
  concurrency: number,
  mode: Mode,
  jobs: number,
): Promise<PhaseResult> {
  const { system, worker, producer } = processes;
  worker.send({ type: "expect", concurrency, count: jobs });
  await worker.next("expecting", 10_000);
  const before = sampleCpu(processes);
  producer.send({ type: "run", concurrency, count: jobs, mode, window: WINDOW, paceMs: PACE_MS });
  const [produced, finished] = await Promise.all([
    producer.next("produced", PHASE_TIMEOUT_MS),
    worker.next("finished", PHASE_TIMEOUT_MS),
  ]);
  const after = sampleCpu(processes);
  const completedAt = system === "trellis" ? produced.completedAt : finished.completedAt;
  if (completedAt === undefined) throw new Error(`${system}: no completion time`);
  const seconds = (completedAt - produced.startedAt) / 1000;
  const latencies = Float64Array.from(finished.latencies).sort();
  const perJob = (a: number | null, b: number | null) => {
    const used = delta(a, b);
    return used === null ? null : used / jobs;
  };
  const wallUs = (after.at - before.at) * 1000;
  const known = [
    delta(before.worker, after.worker),
    delta(before.producer, after.producer),
    delta(before.nats, after.nats),
    delta(before.redis, after.redis),
    delta(before.bench, after.bench),
  ].reduce<number>((sum, value) => sum + (value ?? 0), 0);
  const busy = delta(before.system, after.system);
  return {
    system,
    concurrency,
    mode,
    jobs,
    seconds,
    jobsPerSecond: jobs / seconds,
    createsPerSecond: jobs / ((produced.createdAt - produced.startedAt) / 1000),
    p50Ms: percentile(latencies, 0.5),
    p90Ms: percentile(latencies, 0.9),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    cpuUsPerJob: {
      worker: perJob(before.worker, after.worker),
      producer: perJob(before.producer, after.producer),
      nats: perJob(before.nats, after.nats),
      redis: perJob(before.redis, after.redis),
      bench: perJob(before.bench, after.bench),
    },
    otherCores: busy === null ? null : Math.max(0, busy - known) / wallUs,
  };
}

/** Waits until the Jobs admin's projector has no pending or unacknowledged event; returns the wait, s. */
async function projectorCaughtUp(jsm: JetStreamManager): Promise<number> {
  const started = performance.now();
  const { stream, consumer } = JOBS_ADMIN_CONSUMERS.projector;
  for (;;) {
    const info = await jsm.consumers.info(stream, consumer);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return (performance.now() - started) / 1000;
    if (performance.now() - started > PHASE_TIMEOUT_MS) {
      throw new Error(`the jobs projector did not catch up within ${PHASE_TIMEOUT_MS} ms`);
    }
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------------
// Output

function fmt(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined || Number.isNaN(value) ? "—" : value.toFixed(digits);
}

function table(headers: string[], rows: string[][], rightFrom: number): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => (i >= rightFrom ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `| ${widths.map((width, i) => (i >= rightFrom ? `${"-".repeat(width - 1)}:` : "-".repeat(width))).join(" | ")} |`;
  return [line(headers), rule, ...rows.map(line)].join("\n");
}

function packageVersion(name: string): string {
  try {
    const json = JSON.parse(readFileSync(join(repoRoot, "node_modules", name, "package.json"), "utf8")) as {
      version: string;
    };
    return json.version;
  } catch {
    return "unknown";
  }
}

function report(results: PhaseResult[]): void {
  const bursts = results.filter((r) => r.mode === "burst");
  const paced = results.filter((r) => r.mode === "paced");
  console.log(`\nThroughput (burst of ${JOBS} jobs, ${WINDOW} creates in flight; CPU µs per job):\n`);
  console.log(
    table(
      [
        "system",
        "conc",
        "jobs/s",
        "creates/s",
        "worker",
        "producer",
        "nats-server",
        "redis",
        "bench/CP",
        "other cores",
        "projector catch-up s",
      ],
      bursts.map((r) => [
        r.system,
        String(r.concurrency),
        fmt(r.jobsPerSecond),
        fmt(r.createsPerSecond),
        fmt(r.cpuUsPerJob.worker, 1),
        fmt(r.cpuUsPerJob.producer, 1),
        fmt(r.cpuUsPerJob.nats, 1),
        r.system === "bullmq" ? fmt(r.cpuUsPerJob.redis, 1) : "—",
        fmt(r.cpuUsPerJob.bench, 1),
        fmt(r.otherCores, 2),
        fmt(r.projectorCatchUpSeconds, 1),
      ]),
      1,
    ),
  );
  console.log(`\nCreate-to-start latency (paced: ${PACED_JOBS} jobs, one every ${PACE_MS} ms; ms):\n`);
  console.log(
    table(
      ["system", "conc", "p50", "p90", "p99", "max", "other cores"],
      paced.map((r) => [
        r.system,
        String(r.concurrency),
        fmt(r.p50Ms, 3),
        fmt(r.p90Ms, 3),
        fmt(r.p99Ms, 3),
        fmt(r.maxMs, 2),
        fmt(r.otherCores, 2),
      ]),
      1,
    ),
  );
  const find = (system: System, concurrency: number, mode: Mode) =>
    results.find((r) => r.system === system && r.concurrency === concurrency && r.mode === mode);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "—" : `${((a / b) * 100).toFixed(0)}%`;
  const rows = CONCURRENCY.map((c) => {
    const trellis = find("trellis", c, "burst")?.jobsPerSecond;
    const trellisP50 = find("trellis", c, "paced")?.p50Ms;
    return [
      String(c),
      ratio(trellis, find("bullmq", c, "burst")?.jobsPerSecond),
      ratio(trellis, find("raw", c, "burst")?.jobsPerSecond),
      fmt(trellisP50, 3),
      fmt(find("bullmq", c, "paced")?.p50Ms, 3),
      fmt(find("raw", c, "paced")?.p50Ms, 3),
    ];
  });
  console.log("\nRatios:\n");
  console.log(
    table(
      [
        "conc",
        "Trellis/BullMQ jobs/s",
        "Trellis/raw jobs/s",
        "Trellis p50 ms",
        "BullMQ p50 ms",
        "raw p50 ms",
      ],
      rows,
      1,
    ),
  );
  const trellis64 = find("trellis", AIM_CONCURRENCY, "burst");
  const bull64 = find("bullmq", AIM_CONCURRENCY, "burst");
  const paced64 = find("trellis", AIM_CONCURRENCY, "paced");
  console.log("");
  if (trellis64 && bull64) {
    const pass = trellis64.jobsPerSecond >= bull64.jobsPerSecond;
    console.log(
      `Aim: at concurrency ${AIM_CONCURRENCY}, Trellis jobs/s ≥ BullMQ's: ${fmt(trellis64.jobsPerSecond)} vs ${fmt(bull64.jobsPerSecond)} → ${pass ? "PASS" : "MISS"}`,
    );
  }
  if (paced64) {
    const pass = paced64.p50Ms < AIM_P50_MS;
    console.log(
      `Aim: at concurrency ${AIM_CONCURRENCY}, Trellis create-to-start p50 < ${AIM_P50_MS} ms (not backlogged): ${fmt(paced64.p50Ms, 3)} ms → ${pass ? "PASS" : "MISS"}`,
    );
  }
  const noisy = results.filter((r) => r.otherCores !== null && r.otherCores > NOISE_CORES);
  if (noisy.length > 0) {
    const phases = noisy.map((r) => `${r.system}×${r.concurrency} ${r.mode} (${fmt(r.otherCores, 2)})`);
    console.log(
      `\nWARNING: other processes were busy during ${phases.join(", ")}: the figures and verdicts are skewed; re-run on an idle machine.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const started = performance.now();
  const redisBinary = SYSTEMS_RUN.includes("bullmq") ? ensureRedisServer() : undefined;
  console.log(
    `Jobs benchmark${QUICK ? " (--quick)" : ""}: ${SYSTEMS_RUN.join(", ")} × concurrency ${CONCURRENCY.join(", ")}; ` +
      `burst ${JOBS} jobs (window ${WINDOW}), paced ${PACED_JOBS} jobs every ${PACE_MS} ms, warm-up ${WARMUP_JOBS}`,
  );
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; ` +
      `nats-server ${natsServerVersion()}; @nats-io/jetstream ${packageVersion("@nats-io/jetstream")}; ` +
      `bullmq ${packageVersion("bullmq")}; ioredis ${packageVersion("ioredis")}`,
  );

  platform = await startPlatform();
  const admin = await connectServicesAdmin(platform);
  const workerInstance = await deployContract(admin, {
    deploymentId: DEPLOYMENT,
    namespaces: ["Bench"],
    mode: "mutable-dev",
  });
  const producerInstance = await provisionInstance(admin, DEPLOYMENT);
  await admin.nc.close();
  if (!JOBS_ADMIN) {
    await platform.controlPlane.jobs.stop();
    console.log("what-if: the control plane's Jobs admin (projector, advisories, janitor) is stopped");
  }
  const creds = platform.topology.users.trellisAuth.creds;
  inspector = await connect({
    servers: platform.natsUrl,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    name: "bench-jobs-inspector",
  });
  const jsm = await jetstreamManager(inspector);
  await jsm.streams.add({
    name: RAW_STREAM,
    subjects: ["bench.raw.>"],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
  });
  for (const concurrency of CONCURRENCIES) {
    await jsm.consumers.add(RAW_STREAM, {
      durable_name: rawConsumer(concurrency),
      filter_subject: rawSubject(concurrency),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: concurrency,
      ack_wait: 30_000_000_000,
    });
  }
  if (redisBinary) {
    redis = await startRedis(redisBinary);
    console.log(
      `redis-server ${redis.version} on 127.0.0.1:${redis.port} (pid ${redis.pid}, no persistence)`,
    );
  }
  const endpoints: Endpoints = {
    natsUrl: platform.natsUrl,
    natsCreds: creds,
    trellisUrl: platform.url,
    workerSeed: workerInstance.seed,
    producerSeed: producerInstance.seed,
    ...(redis && { redisPort: redis.port }),
  };

  const systems: SystemProcesses[] = [];
  for (const system of SYSTEMS_RUN) systems.push(await startSystem(system, endpoints));
  console.log(
    `platform (nats-server pid ${platform.nats.pid}, control plane in pid ${process.pid}), ` +
      systems
        .map((p) => `${p.system} worker pid ${p.worker.pid} / producer pid ${p.producer.pid}`)
        .join(", ") +
      `; up in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const warmConcurrency = Math.max(...CONCURRENCY);
  for (const processes of systems) {
    await runPhase(processes, warmConcurrency, "burst", WARMUP_JOBS);
    await runPhase(processes, warmConcurrency, "paced", Math.min(WARMUP_JOBS, 100));
    if (processes.system === "trellis" && JOBS_ADMIN) await projectorCaughtUp(jsm);
  }
  console.log("warm-up done");

  const results: PhaseResult[] = [];
  for (const concurrency of CONCURRENCY) {
    for (const processes of systems) {
      for (const [mode, jobs] of [
        ["burst", JOBS],
        ["paced", PACED_JOBS],
      ] as const) {
        const result = await runPhase(processes, concurrency, mode, jobs);
        if (processes.system === "trellis" && JOBS_ADMIN) {
          result.projectorCatchUpSeconds = await projectorCaughtUp(jsm);
        }
        results.push(result);
        console.log(
          `  ${processes.system} × ${concurrency} ${mode}: ${fmt(result.jobsPerSecond)} jobs/s, p50 ${fmt(result.p50Ms, 3)} ms, p99 ${fmt(result.p99Ms, 3)} ms` +
            (result.projectorCatchUpSeconds === undefined
              ? ""
              : `, projector caught up ${fmt(result.projectorCatchUpSeconds, 1)} s later`),
        );
      }
    }
  }
  report(results);
  if (process.env.BENCH_JSON) {
    writeFileSync(
      process.env.BENCH_JSON,
      `${JSON.stringify({ quick: QUICK, jobs: JOBS, pacedJobs: PACED_JOBS, paceMs: PACE_MS, window: WINDOW, results }, null, 2)}\n`,
    );
  }
  console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

main()
  .catch((error: unknown) => {
    // After Ctrl-C the children's exits are expected, not errors.
    if (!interrupted) console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
