/**
 * Smoke test of `npm run bench:jobs -- --quick`: the whole benchmark runs end to end (platform, raw
 * JetStream, and BullMQ when a redis-server is installed; this test never installs one) and reports a
 * result for every system, concurrency and phase. No speed is asserted.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";

const REPOSITORY = fileURLToPath(new URL("../", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "trellis-bench-jobs-test-"));
const hasRedis = spawnSync("sh", ["-c", "command -v redis-server"]).status === 0;
const systems = hasRedis ? ["raw", "trellis", "bullmq"] : ["raw", "trellis"];

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Result {
  system: string;
  concurrency: number;
  mode: string;
  jobs: number;
  jobsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

it(`runs the jobs benchmark in --quick mode (${systems.join(", ")})`, { timeout: 120_000 }, async () => {
  const json = join(dir, "results.json");
  const child = spawn(process.execPath, ["--import", "tsx", "tools/bench/jobs.ts", "--quick"], {
    cwd: REPOSITORY,
    env: {
      ...process.env,
      TSX_TSCONFIG_PATH: join(REPOSITORY, "tools/bench/tsconfig.jobs.json"),
      BENCH_JOBS_SYSTEMS: systems.join(","),
      BENCH_JSON: json,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  expect(code, output).toBe(0);
  expect(output).toContain("Throughput (burst of 500 jobs");
  expect(output).toContain("Create-to-start latency (paced: 50 jobs");
  expect(output).toContain("Trellis/raw jobs/s");

  const { results } = JSON.parse(readFileSync(json, "utf8")) as { results: Result[] };
  const phases = results.map((r) => `${r.system} ${r.concurrency} ${r.mode}`).sort();
  const expected = systems
    .flatMap((system) => [1, 16, 64].flatMap((c) => [`${system} ${c} burst`, `${system} ${c} paced`]))
    .sort();
  expect(phases).toEqual(expected);
  for (const result of results) {
    expect(result.jobs).toBe(result.mode === "burst" ? 500 : 50);
    expect(result.jobsPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(result.p50Ms) && Number.isFinite(result.p99Ms)).toBe(true);
  }
});
