/**
 * A worker process for the jobs tests, run with `tsx`: connects the jobs test service with the seed in
 * `TRELLIS_SESSION_KEY_SEED` through `TRELLIS_URL`, handles `tasks`, and writes one JSON line per
 * step to stdout (`{"ready":true}`, `{"running":id,"tries":n}`). SIGTERM or SIGINT stops the service
 * (in-flight jobs get `JOBS_SHUTDOWN_GRACE_MS`), then the process exits 0.
 */
import { TrellisService } from "@trellis/runtime";
import { jobsTestContract, mountTasks } from "./jobs-service.js";

function line(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

const service = await TrellisService.connect({
  trellisUrl: process.env.TRELLIS_URL ?? "",
  contract: jobsTestContract,
  name: "jobs-worker",
  sessionKeySeed: process.env.TRELLIS_SESSION_KEY_SEED ?? "",
  logger: false,
  heartbeat: false,
  jobs: { shutdownGraceMs: Number(process.env.JOBS_SHUTDOWN_GRACE_MS ?? 30_000) },
  bootstrap: { retryAfterMaxMs: 500, maxBackoffMs: 1000, signal: AbortSignal.timeout(60_000) },
});
mountTasks(service, { onRun: (job) => line({ running: job.id, tries: job.tries }) });
const stop = () => void service.stop();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
await service.start();
line({ ready: true });
await service.wait();
process.exitCode = 0;
