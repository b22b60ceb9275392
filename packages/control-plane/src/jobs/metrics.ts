/**
 * Job metrics of the control plane's `/metrics`, derived by the Jobs admin: counters and the duration
 * histogram from the events the projector applies (live only, never during a rebuild), gauges read at
 * scrape time from the projection and from the `JOBS_WORK` consumers.
 *
 * - `trellis_jobs_created_total{service,job_type}`
 * - `trellis_jobs_completed_total{service,job_type,outcome}` — a job reaching `completed`, `failed`,
 *   `cancelled`, `expired` or `dead` from a non-terminal state;
 * - `trellis_job_duration_seconds{service,job_type,outcome}` — from the last `started` to that end;
 * - `trellis_jobs_in_progress{service,job_type}` — jobs `active` in the projection;
 * - `trellis_workers_active{service,job_type}` — workers with a heartbeat in the last 90 s;
 * - `trellis_jobs_queue_depth{consumer}` — pending + ack-pending messages of each queue consumer.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import { JOBS_WORK_STREAM } from "@trellis/contracts";
import { isTerminalJobState, type Job } from "@trellis/runtime";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Application, JobsProjection } from "./projection.js";

const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600];

/** Where the gauges read from. */
export interface JobMetricsSources {
  projection: JobsProjection;
  /** JetStream manager for the queue consumers' depth (no depth gauge without it). */
  jsm?: JetStreamManager;
  now?: () => Date;
}

/** The job instruments over one registry. */
export class JobMetrics {
  private readonly created: Counter<"service" | "job_type">;
  private readonly completed: Counter<"service" | "job_type" | "outcome">;
  private readonly duration: Histogram<"service" | "job_type" | "outcome">;

  constructor(registry: Registry, sources: JobMetricsSources) {
    const registers = [registry];
    const now = sources.now ?? (() => new Date());
    this.created = new Counter({
      name: "trellis_jobs_created_total",
      help: "Jobs created (projected `created` events).",
      labelNames: ["service", "job_type"],
      registers,
    });
    this.completed = new Counter({
      name: "trellis_jobs_completed_total",
      help: "Jobs that ended, by outcome (completed, failed, cancelled, expired, dead).",
      labelNames: ["service", "job_type", "outcome"],
      registers,
    });
    this.duration = new Histogram({
      name: "trellis_job_duration_seconds",
      help: "Time from a job's last start to its end, by outcome.",
      labelNames: ["service", "job_type", "outcome"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    new Gauge({
      name: "trellis_jobs_in_progress",
      help: "Jobs currently active.",
      labelNames: ["service", "job_type"],
      registers,
      collect() {
        this.reset();
        for (const row of sources.projection.countByState()) {
          if (row.state === "active") this.set({ service: row.service, job_type: row.jobType }, row.count);
        }
      },
    });
    new Gauge({
      name: "trellis_workers_active",
      help: "Job workers with a heartbeat in the last 90 seconds.",
      labelNames: ["service", "job_type"],
      registers,
      collect() {
        this.reset();
        for (const service of sources.projection.services(now())) {
          for (const worker of service.workers)
            this.inc({ service: worker.service, job_type: worker.jobType });
        }
      },
    });
    const jsm = sources.jsm;
    if (jsm !== undefined) {
      new Gauge({
        name: "trellis_jobs_queue_depth",
        help: "Messages waiting in each job queue consumer (pending + ack pending).",
        labelNames: ["consumer"],
        registers,
        async collect() {
          this.reset();
          try {
            for await (const info of jsm.consumers.list(JOBS_WORK_STREAM)) {
              this.set({ consumer: info.name }, info.num_pending + info.num_ack_pending);
            }
          } catch {
            // No JOBS_WORK stream (yet): no queues to report.
          }
        },
      });
    }
  }

  /** Counts what a live projector application did. */
  observe(application: Application): void {
    if (application.outcome !== "reduced" || !application.applied) return;
    const { job } = application;
    const labels = { service: job.service, job_type: job.type };
    if (application.previous === undefined) {
      this.created.inc(labels);
      return;
    }
    if (!endsRun(application.previous, job)) return;
    const outcome = { ...labels, outcome: job.state };
    this.completed.inc(outcome);
    if (job.startedAt !== undefined && job.completedAt !== undefined) {
      const seconds = (Date.parse(job.completedAt) - Date.parse(job.startedAt)) / 1000;
      if (seconds >= 0) this.duration.observe(outcome, seconds);
    }
  }
}

/** A run ends when a non-terminal job becomes terminal (`dismissed` only follows `dead`). */
function endsRun(previous: Job, job: Job): boolean {
  return !isTerminalJobState(previous.state) && isTerminalJobState(job.state);
}
