/**
 * RPC benchmark: raw `@nats-io/transport-node` request/reply against Trellis RPC (session-key proof,
 * input/output validation, proof authentication with a warm session cache), at concurrency 1 and 64,
 * with the caller here and the service in a forked process, against one private nats-server.
 *
 * Run from the repository root: `npm run bench:rpc`
 * (= `tsx --tsconfig tools/bench/tsconfig.json tools/bench/rpc.ts`; the tsconfig maps the `@trellis/*`
 * packages to their sources, so no build is needed).
 *
 * Environment:
 * - BENCH_WARMUP_MS (default 1500) and BENCH_DURATION_MS (default 5000): per kind × concurrency phase;
 * - BENCH_CONCURRENCY (default "1,64"), BENCH_KINDS (default "raw,trellis");
 * - BENCH_JSON: also write the results as JSON to this file;
 * - BENCH_NO_ASYNC_TRACES=1: connect both callers with nats.js `noAsyncTraces`;
 * - BENCH_SERVICE_NODE_ARGS: extra node flags for the service process, e.g. `--cpu-prof`.
 * To profile the caller too, run it directly:
 * `TSX_TSCONFIG_PATH=tools/bench/tsconfig.json node --cpu-prof --import tsx tools/bench/rpc.ts`.
 * Exits non-zero only on errors; a missed aim is reported, not fatal.
 */
import { type ChildProcess, fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { RpcClient, SchemaSet, ServerClock } from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
// The nats-server helper of @trellis/testing, imported from its own module: the package index also
// re-exports the platform harness, which would pull the whole control plane into this process.
import { type NatsServerHandle, startNatsServer } from "../../packages/testing/src/nats-server.js";
import {
  bench,
  type ChildMessage,
  METHOD,
  type ParentMessage,
  RAW_SUBJECT,
  REQUEST_BODY,
} from "./contract.js";
import { percentile, printBenchHeader, procCpuUs, systemBusyUs } from "./machine.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..");

function envInt(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new Error(`${name} must be a positive integer`);
  return parsed;
}

const WARMUP_MS = envInt("BENCH_WARMUP_MS", 1500);
const DURATION_MS = envInt("BENCH_DURATION_MS", 5000);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? "1,64").split(",").map((part) => {
  const n = Number(part.trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error("BENCH_CONCURRENCY must list positive integers");
  return n;
});
const KINDS = (process.env.BENCH_KINDS ?? "raw,trellis").split(",").map((part): Kind => {
  const kind = part.trim();
  if (kind !== "raw" && kind !== "trellis") throw new Error("BENCH_KINDS must list raw and/or trellis");
  return kind;
});
/** Extra node flags for the service process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const SERVICE_NODE_ARGS = (process.env.BENCH_SERVICE_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "");
/** `noAsyncTraces` for both caller connections (nats.js then skips two Error allocations per request). */
const NO_ASYNC_TRACES = process.env.BENCH_NO_ASYNC_TRACES === "1";
const REQUEST_TIMEOUT_MS = 5000;
const CHILD_READY_TIMEOUT_MS = 60_000;

/** The aims the numbers are judged against. */
const AIM_THROUGHPUT_RATIO_AT_64 = 0.25;
const AIM_P50_OVERHEAD_MS_AT_1 = 1;
/** Cores of foreign load in a phase above which the run is flagged as noisy. */
const NOISE_CORES = 0.1;

type Kind = "raw" | "trellis";

interface PhaseResult {
  kind: Kind;
  concurrency: number;
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  clientCpuUsPerReq: number;
  serviceCpuUsPerReq: number;
  /** CPU of the nats-server process per request, when /proc is readable. */
  natsCpuUsPerReq: number | null;
  /** Cores kept busy by other processes (and steal) during the phase: a noise indicator; Linux only. */
  otherCores: number | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------------------------------
// Resources, released at the end, on failure and on SIGINT/SIGTERM.

let natsServer: NatsServerHandle | undefined;
let service: ChildProcess | undefined;
const connections: NatsConnection[] = [];
let cleaning: Promise<void> | undefined;
let interrupted = false;

function childAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function waitChildExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (!childAlive(child)) return Promise.resolve(true);
  return new Promise((done) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      done(!childAlive(child));
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      done(true);
    };
    child.once("exit", onExit);
  });
}

async function stopService(): Promise<void> {
  const child = service;
  if (!child || child.pid === undefined || !childAlive(child)) return;
  try {
    process.kill(child.pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  if (await waitChildExit(child, 3000)) return;
  try {
    process.kill(child.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await waitChildExit(child, 3000);
}

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await stopService().catch(() => undefined);
    await natsServer?.stop().catch(() => undefined);
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    interrupted = true;
    console.error(`\n${signal}: stopping the service and nats-server…`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------------
// The service process.

let nextCpuId = 0;
const cpuWaiters = new Map<
  number,
  { resolve: (usage: NodeJS.CpuUsage) => void; reject: (err: Error) => void }
>();
/** Set when the service process exits before we stopped it. */
let serviceExit: Error | undefined;
let onServiceExit: (err: Error) => void = () => undefined;
/** Rejects when the service process exits before we stopped it, so a phase fails at once. */
const serviceDied = new Promise<never>((_, reject) => {
  onServiceExit = reject;
});
serviceDied.catch(() => undefined);

function forkService(url: string, callerKey: string): Promise<ChildProcess> {
  const child = fork(join(here, "rpc-service.ts"), [url, callerKey], {
    cwd: repoRoot,
    execArgv: ["--import", "tsx", ...SERVICE_NODE_ARGS],
    // The environment carries this process's TSX_TSCONFIG_PATH (`tsx --tsconfig` sets it), so both
    // sides resolve `@trellis/*` the same way.
    env: process.env.TSX_TSCONFIG_PATH
      ? { ...process.env, TSX_TSCONFIG_PATH: resolve(process.env.TSX_TSCONFIG_PATH) }
      : process.env,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  service = child;
  return new Promise((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the service process was not ready within ${CHILD_READY_TIMEOUT_MS} ms`)),
      CHILD_READY_TIMEOUT_MS,
    );
    child.on("message", (message: ChildMessage) => {
      if (message.type === "ready") {
        clearTimeout(timer);
        resolveReady(child);
      } else if (message.type === "cpu") {
        cpuWaiters.get(message.id)?.resolve({ user: message.user, system: message.system });
        cpuWaiters.delete(message.id);
      } else if (message.type === "error") {
        clearTimeout(timer);
        reject(new Error(`the service process failed: ${message.message}`));
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const error = new Error(`the service process exited (code ${code}, signal ${signal})`);
      if (!cleaning) {
        serviceExit = error;
        onServiceExit(error);
      }
      for (const waiter of cpuWaiters.values()) waiter.reject(error);
      cpuWaiters.clear();
      reject(error);
    });
  });
}

function serviceCpu(): Promise<NodeJS.CpuUsage> {
  const child = service;
  if (!child || !childAlive(child)) return Promise.reject(new Error("the service process is not running"));
  const id = nextCpuId++;
  return new Promise((resolveCpu, reject) => {
    const timer = setTimeout(() => {
      cpuWaiters.delete(id);
      reject(new Error("the service process did not report its CPU usage"));
    }, 5000);
    cpuWaiters.set(id, {
      resolve: (usage) => {
        clearTimeout(timer);
        resolveCpu(usage);
      },
      reject: (err) => {
        clearTimeout(timer);
        reject(err);
      },
    });
    const message: ParentMessage = { type: "cpu", id };
    child.send(message);
  });
}

// ---------------------------------------------------------------------------------------------------
// Facts about the machine and the nats-server.

// ---------------------------------------------------------------------------------------------------
// Measuring.

type Call = () => Promise<void>;

async function drive(call: Call, concurrency: number, ms: number, latencies: number[] | null): Promise<void> {
  const deadline = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < deadline) {
      const started = performance.now();
      await call();
      latencies?.push(performance.now() - started);
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  workers.catch(() => undefined); // still awaited below; this only keeps a late failure from going unhandled
  await Promise.race([workers, serviceDied]);
}

async function measure(kind: Kind, call: Call, concurrency: number): Promise<PhaseResult> {
  await drive(call, concurrency, WARMUP_MS, null);
  const latencies: number[] = [];
  const serviceBefore = await serviceCpu();
  const natsBefore = natsServer ? procCpuUs(natsServer.pid) : null;
  const busyBefore = systemBusyUs();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  await drive(call, concurrency, DURATION_MS, latencies);
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const natsAfter = natsServer ? procCpuUs(natsServer.pid) : null;
  const busyAfter = systemBusyUs();
  const serviceAfter = await serviceCpu();

  const requests = latencies.length;
  const sorted = Float64Array.from(latencies).sort();
  const serviceUs = serviceAfter.user - serviceBefore.user + (serviceAfter.system - serviceBefore.system);
  const clientUs = client.user + client.system;
  const natsUs = natsBefore !== null && natsAfter !== null ? natsAfter - natsBefore : null;
  const otherUs =
    busyBefore !== null && busyAfter !== null && natsUs !== null
      ? busyAfter - busyBefore - clientUs - serviceUs - natsUs
      : null;
  return {
    kind,
    concurrency,
    requests,
    seconds,
    reqPerSec: requests / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    clientCpuUsPerReq: clientUs / requests,
    serviceCpuUsPerReq: serviceUs / requests,
    natsCpuUsPerReq: natsUs === null ? null : natsUs / requests,
    otherCores: otherUs === null ? null : Math.max(0, otherUs / (seconds * 1e6)),
  };
}

function rawCall(nc: NatsConnection): Call {
  return async () => {
    const msg = await nc.request(RAW_SUBJECT, encoder.encode(JSON.stringify(REQUEST_BODY)), {
      timeout: REQUEST_TIMEOUT_MS,
    });
    const reply = JSON.parse(decoder.decode(msg.data)) as { text?: unknown };
    if (reply.text !== REQUEST_BODY.text)
      throw new Error(`unexpected raw reply: ${decoder.decode(msg.data)}`);
  };
}

function trellisCall(client: RpcClient, schemas: SchemaSet): Call {
  const descriptor = bench.API.owned.rpc[METHOD];
  if (!descriptor) throw new Error(`the bench contract has no RPC '${METHOD}'`);
  return async () => {
    const result = await client.request<{ text: string; by: string }>(
      METHOD,
      descriptor,
      schemas,
      REQUEST_BODY,
      {
        timeoutMs: REQUEST_TIMEOUT_MS,
      },
    );
    if (result.isErr()) throw result.error;
    if (result.value.text !== REQUEST_BODY.text) throw new Error("unexpected Trellis reply");
  };
}

// ---------------------------------------------------------------------------------------------------
// Reporting.

const fmt = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

function printTable(results: PhaseResult[]): void {
  const rows = [
    [
      "kind",
      "concurrency",
      "requests",
      "req/s",
      "p50 ms",
      "p99 ms",
      "client CPU µs/req",
      "service CPU µs/req",
      "nats-server CPU µs/req",
      "other procs (cores)",
    ],
    ...results.map((r) => [
      r.kind,
      String(r.concurrency),
      String(r.requests),
      fmt(r.reqPerSec, 0),
      fmt(r.p50Ms, 3),
      fmt(r.p99Ms, 3),
      fmt(r.clientCpuUsPerReq, 1),
      fmt(r.serviceCpuUsPerReq, 1),
      r.natsCpuUsPerReq === null ? "n/a" : fmt(r.natsCpuUsPerReq, 1),
      r.otherCores === null ? "n/a" : fmt(r.otherCores, 2),
    ]),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const line = (row: string[]) =>
    `| ${row.map((cell, col) => (col < 2 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join(" | ")} |`;
  console.log(line(rows[0]!));
  console.log(
    `| ${widths.map((w, col) => (col < 2 ? `${"-".repeat(w - 1)}-` : `${"-".repeat(w - 1)}:`)).join(" | ")} |`,
  );
  for (const row of rows.slice(1)) console.log(line(row));
}

interface Comparison {
  concurrency: number;
  throughputRatio: number;
  p50DiffMs: number;
  p99DiffMs: number;
}

function compare(results: PhaseResult[]): Comparison[] {
  return CONCURRENCY.flatMap((concurrency) => {
    const raw = results.find((r) => r.kind === "raw" && r.concurrency === concurrency);
    const trellis = results.find((r) => r.kind === "trellis" && r.concurrency === concurrency);
    if (!raw || !trellis) return [];
    return [
      {
        concurrency,
        throughputRatio: trellis.reqPerSec / raw.reqPerSec,
        p50DiffMs: trellis.p50Ms - raw.p50Ms,
        p99DiffMs: trellis.p99Ms - raw.p99Ms,
      },
    ];
  });
}

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const machine = printBenchHeader(
    "Trellis RPC benchmark",
    `warm-up ${WARMUP_MS} ms, then ${DURATION_MS} ms measured, per kind × concurrency`,
  );
  console.log(`  body:        ${JSON.stringify(REQUEST_BODY)}`);
  const tsconfig = process.env.TSX_TSCONFIG_PATH;
  console.log(
    tsconfig
      ? `  tsconfig:    ${tsconfig}`
      : "  tsconfig:    none given: @trellis/* from the built dist/ (`npm run bench:rpc` runs the sources)",
  );
  if (NO_ASYNC_TRACES) console.log("  callers:     noAsyncTraces");

  natsServer = await startNatsServer({ jetstream: false });
  console.log(`  server:      ${natsServer.url} (pid ${natsServer.pid})`);

  const seed = generateSessionSeed();
  const callerKey = sessionKeyFromSeed(seed);
  const child = await forkService(natsServer.url, callerKey);
  console.log(`  service:     pid ${child.pid}, client pid ${process.pid}`);

  const rawConn = await connect({
    servers: natsServer.url,
    name: "bench-raw-client",
    noAsyncTraces: NO_ASYNC_TRACES,
  });
  connections.push(rawConn);
  const callerConn = await connect({
    servers: natsServer.url,
    name: "bench-trellis-caller",
    noAsyncTraces: NO_ASYNC_TRACES,
    inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}`,
  });
  connections.push(callerConn);
  const client = new RpcClient({ nc: callerConn, seed, clock: new ServerClock() });
  const schemas = SchemaSet.of(bench.CONTRACT);
  const calls: Record<Kind, Call> = { raw: rawCall(rawConn), trellis: trellisCall(client, schemas) };

  const results: PhaseResult[] = [];
  for (const concurrency of CONCURRENCY) {
    for (const kind of KINDS) {
      process.stdout.write(`  running ${kind} × ${concurrency}…`);
      const result = await measure(kind, calls[kind], concurrency);
      process.stdout.write(` ${fmt(result.reqPerSec, 0)} req/s\n`);
      results.push(result);
    }
  }

  console.log("");
  printTable(results);
  console.log("");
  const comparisons = compare(results);
  for (const c of comparisons) {
    console.log(
      `Trellis/raw at concurrency ${c.concurrency}: throughput ${fmt(c.throughputRatio * 100, 1)}%, ` +
        `p50 ${signed(c.p50DiffMs)} ms, p99 ${signed(c.p99DiffMs)} ms`,
    );
  }
  const at64 = comparisons.find((c) => c.concurrency === 64);
  const at1 = comparisons.find((c) => c.concurrency === 1);
  const aims = [
    at64 && {
      aim: `concurrency 64: Trellis ≥ ${AIM_THROUGHPUT_RATIO_AT_64 * 100}% of raw throughput`,
      pass: at64.throughputRatio >= AIM_THROUGHPUT_RATIO_AT_64,
      value: `${fmt(at64.throughputRatio * 100, 1)}%`,
    },
    at1 && {
      aim: `concurrency 1: Trellis adds < ${AIM_P50_OVERHEAD_MS_AT_1} ms to p50`,
      pass: at1.p50DiffMs < AIM_P50_OVERHEAD_MS_AT_1,
      value: `${signed(at1.p50DiffMs)} ms`,
    },
  ].filter((aim) => aim !== undefined);
  console.log("");
  for (const aim of aims) console.log(`${aim.pass ? "PASS" : "MISS"}  ${aim.aim} (${aim.value})`);
  const noisy = results.filter((r) => r.otherCores !== null && r.otherCores > NOISE_CORES);
  if (noisy.length > 0) {
    const phases = noisy.map((r) => `${r.kind} × ${r.concurrency} (${fmt(r.otherCores ?? 0, 2)} cores)`);
    console.log(
      `\nWARNING: other processes were busy during ${phases.join(", ")}: the figures and verdicts are skewed; re-run on an idle machine.`,
    );
  }

  const jsonPath = process.env.BENCH_JSON;
  if (jsonPath) {
    writeFileSync(
      jsonPath,
      `${JSON.stringify(
        {
          date: new Date().toISOString(),
          cpus: machine.cpus,
          cpuModel: machine.cpuModel,
          node: process.version,
          natsServer: machine.natsServer,
          warmupMs: WARMUP_MS,
          durationMs: DURATION_MS,
          results,
          comparisons,
          aims,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nResults written to ${jsonPath}`);
  }
}

function signed(value: number): string {
  return `${value >= 0 ? "+" : ""}${fmt(value, 3)}`;
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  // After SIGINT/SIGTERM the in-flight requests fail as the connections close: not worth reporting.
  if (!interrupted) {
    console.error("\nbenchmark failed:", err instanceof Error ? (err.stack ?? err.message) : err);
    if (serviceExit && serviceExit !== err) console.error(`(${serviceExit.message})`);
  }
} finally {
  await cleanup();
}
if (failed) process.exitCode = 1;
