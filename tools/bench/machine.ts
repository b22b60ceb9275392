/** Facts about the machine and processes that every benchmark reports, and latency percentiles. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { findNatsServerBinary } from "../../packages/testing/src/nats-server.js";

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

const CLK_TCK = clockTicksPerSecond();

/** CPU time (µs) a process has used, from /proc/<pid>/stat (Linux); null elsewhere. */
export function procCpuUs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the ")" closing the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
    return ((utime + stime) * 1e6) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * CPU time (µs) all cores spent running processes since boot (user + nice + system + steal, from
 * /proc/stat; interrupt time is left out: loopback networking lands there) on Linux; null elsewhere.
 */
export function systemBusyUs(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu user nice system idle iowait irq softirq steal …
    const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
    const busy = [user, nice, system, steal].reduce<number>((sum, v) => sum + (v ?? 0), 0);
    return Number.isFinite(busy) ? (busy * 1e6) / CLK_TCK : null;
  } catch {
    return null;
  }
}

export function natsServerVersion(): string {
  try {
    const out = execFileSync(findNatsServerBinary(), ["--version"], { encoding: "utf8" });
    return /v?\d+\.\d+\.\d+\S*/.exec(out)?.[0] ?? out.trim();
  } catch {
    return "unknown";
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1] ?? Number.NaN;
}

/** The machine facts a benchmark prints first and records with its results. */
export interface BenchMachine {
  cpus: number;
  cpuModel: string | undefined;
  natsServer: string;
}

/** Prints a benchmark's title, the date, machine, Node, load average, nats-server and its phases. */
export function printBenchHeader(title: string, phases: string): BenchMachine {
  const cpuList = cpus();
  const machine = { cpus: cpuList.length, cpuModel: cpuList[0]?.model, natsServer: natsServerVersion() };
  console.log(title);
  console.log(`  date:        ${new Date().toISOString()}`);
  console.log(`  machine:     ${machine.cpus} × ${machine.cpuModel ?? "unknown CPU"}, ${process.platform}`);
  console.log(`  node:        ${process.version}`);
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  console.log(`  load avg:    ${load} (before the run; other work skews results)`);
  console.log(`  nats-server: ${machine.natsServer}`);
  console.log(`  phases:      ${phases}`);
  return machine;
}
