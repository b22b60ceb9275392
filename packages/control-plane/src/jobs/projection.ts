/**
 * The Jobs admin projection in SQLite (migration 5; runtime spec §3.7): `jobs_projection` (one row per
 * job, written only by {@link JobsProjection.applyEvent}), `worker_presence_projection` (the newest
 * heartbeat of each worker) and `projection_metadata` (the last `JOBS` sequence the projector
 * processed, so a redelivered event is never applied twice — `logged` appends).
 */

import type { Job, JobEvent, JobState, JobWorkerHeartbeat } from "@trellis/runtime";
import { z } from "zod";
import { normalizePage, type Page, parseJsonColumn, toPage } from "../store/codec.js";
import type { SqliteDatabase } from "../store/database.js";
import { epochNanos } from "./model.js";
import { type Reduction, reduceJob } from "./reducer.js";

/** Metadata key of the last `JOBS` stream sequence processed by the projector. */
export const LAST_SEQUENCE_KEY = "jobs.last_sequence";
/** Metadata key of the creation time of the `JOBS` stream the projection was built from. */
export const STREAM_CREATED_KEY = "jobs.stream_created";

/** How long after its last heartbeat a worker counts as online (§3.7). */
export const WORKER_FRESH_MS = 90_000;

/** A projected job and the `JOBS` sequence of the last event applied to it. */
export interface ProjectedJob {
  job: Job;
  lastSequence: number;
}

/** What applying one stored event did. */
export type Application =
  | { outcome: "duplicate" }
  | ({ outcome: "reduced"; previous: Job | undefined } & Reduction);

/** Filters of {@link JobsProjection.list}. */
export interface JobListFilter {
  service?: string;
  type?: string;
  states?: readonly JobState[];
  /** Only jobs updated at or after this instant (RFC 3339). */
  since?: string;
  offset?: number;
  limit?: number;
}

/** The workers of one service, for `Jobs.ListServices`. */
export interface ServiceWorkers {
  name: string;
  /** Workers whose last heartbeat is fresh, by job type then instance id. */
  workers: JobWorkerHeartbeat[];
}

interface JobRow {
  job_json: string;
  last_sequence: number;
}

const JobJsonSchema = z.record(z.string(), z.json());
const HeartbeatJsonSchema = z.record(z.string(), z.json());

function toJob(row: JobRow): ProjectedJob {
  const job = parseJsonColumn(JobJsonSchema, row.job_json, { table: "jobs_projection", column: "job_json" });
  return { job: job as Job, lastSequence: row.last_sequence };
}

/** The Jobs admin projection over one SQLite database holding migration 5. */
export class JobsProjection {
  constructor(private readonly db: SqliteDatabase) {}

  /** The job with `id`, if projected. */
  get(id: string): ProjectedJob | undefined {
    const row = this.db
      .prepare<[string], JobRow>("SELECT job_json, last_sequence FROM jobs_projection WHERE id = ?")
      .get(id);
    return row === undefined ? undefined : toJob(row);
  }

  /** The last `JOBS` sequence the projector processed (0 when none). */
  lastSequence(): number {
    const value = this.metadata(LAST_SEQUENCE_KEY);
    return value === undefined ? 0 : Number(value);
  }

  /** A `projection_metadata` value. */
  metadata(name: string): string | undefined {
    return this.db
      .prepare<[string], { value: string }>("SELECT value FROM projection_metadata WHERE name = ?")
      .get(name)?.value;
  }

  /** Sets a `projection_metadata` value. */
  setMetadata(name: string, value: string): void {
    this.db
      .prepare(
        "INSERT INTO projection_metadata (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      )
      .run(name, value);
  }

  /**
   * Applies the event stored at `sequence` of `JOBS` in one transaction: reduces it onto the projected
   * job, writes the job when the event applies, and records `sequence` as processed. A sequence not
   * above the last processed one is a redelivery and changes nothing.
   */
  applyEvent(sequence: number, event: JobEvent): Application {
    return this.db
      .transaction((): Application => {
        if (sequence <= this.lastSequence()) return { outcome: "duplicate" };
        const previous = this.get(event.jobId)?.job;
        const reduction = reduceJob(previous, event);
        if (reduction.applied) this.write(reduction.job, sequence);
        this.setMetadata(LAST_SEQUENCE_KEY, String(sequence));
        return { outcome: "reduced", previous, ...reduction };
      })
      .immediate();
  }

  /** The creation time of the `JOBS` stream the projection follows, if recorded. */
  streamCreated(): string | undefined {
    return this.metadata(STREAM_CREATED_KEY);
  }

  /** Empties the jobs projection to follow the `JOBS` stream created at `created` from its start. */
  startOver(created: string): void {
    this.db
      .transaction(() => {
        this.db.prepare("DELETE FROM jobs_projection").run();
        this.db.prepare("DELETE FROM projection_metadata WHERE name = ?").run(LAST_SEQUENCE_KEY);
        this.setMetadata(STREAM_CREATED_KEY, created);
      })
      .immediate();
  }

  /** Records that `sequence` was processed without an event to apply (an unparseable message). */
  skip(sequence: number): void {
    if (sequence > this.lastSequence()) this.setMetadata(LAST_SEQUENCE_KEY, String(sequence));
  }

  private write(job: Job, sequence: number): void {
    this.db
      .prepare(
        `INSERT INTO jobs_projection (service, job_type, id, state, created_at, updated_at, updated_at_nanos,
           deadline, deadline_nanos, payload_json, job_json, last_sequence)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (service, job_type, id) DO UPDATE SET
           state = excluded.state, updated_at = excluded.updated_at,
           updated_at_nanos = excluded.updated_at_nanos, deadline = excluded.deadline,
           deadline_nanos = excluded.deadline_nanos, payload_json = excluded.payload_json,
           job_json = excluded.job_json, last_sequence = excluded.last_sequence`,
      )
      .run(
        job.service,
        job.type,
        job.id,
        job.state,
        job.createdAt,
        job.updatedAt,
        epochNanos(job.updatedAt),
        job.deadline ?? null,
        job.deadline === undefined ? null : epochNanos(job.deadline),
        JSON.stringify(job.payload ?? null),
        JSON.stringify(job),
        sequence,
      );
  }

  /** A page of jobs, newest update first (then service, job type, id). */
  list(filter: JobListFilter = {}): Page<Job> {
    const where: string[] = [];
    const params: (string | bigint)[] = [];
    if (filter.service !== undefined) {
      where.push("service = ?");
      params.push(filter.service);
    }
    if (filter.type !== undefined) {
      where.push("job_type = ?");
      params.push(filter.type);
    }
    if (filter.states !== undefined && filter.states.length > 0) {
      where.push(`state IN (${filter.states.map(() => "?").join(", ")})`);
      params.push(...filter.states);
    }
    if (filter.since !== undefined) {
      where.push("updated_at_nanos >= ?");
      params.push(epochNanos(filter.since));
    }
    const clause = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
    const { offset, limit } = normalizePage(filter);
    const count = this.db
      .prepare<unknown[], { n: number }>(`SELECT COUNT(*) AS n FROM jobs_projection ${clause}`)
      .get(...params)?.n;
    const rows = this.db
      .prepare<unknown[], JobRow>(
        `SELECT job_json, last_sequence FROM jobs_projection ${clause}
         ORDER BY updated_at_nanos DESC, service, job_type, id LIMIT ? OFFSET ?`,
      )
      .all(...params, limit, offset);
    return toPage(
      rows.map((row) => toJob(row).job),
      count ?? 0,
      offset,
      limit,
    );
  }

  /** Every projected job, by id (for comparing projections). */
  all(): ProjectedJob[] {
    return this.db
      .prepare<[], JobRow>("SELECT job_json, last_sequence FROM jobs_projection ORDER BY id")
      .all()
      .map(toJob);
  }

  /** Non-terminal jobs whose deadline is at or before `now` (compared as instants). */
  overdue(now: Date, limit = 500): ProjectedJob[] {
    return this.db
      .prepare<[bigint, number], JobRow>(
        `SELECT job_json, last_sequence FROM jobs_projection
         WHERE deadline_nanos IS NOT NULL AND deadline_nanos <= ? AND state IN ('pending', 'retry', 'active')
         ORDER BY deadline_nanos LIMIT ?`,
      )
      .all(BigInt(now.getTime()) * 1_000_000n, limit)
      .map(toJob);
  }

  /** Number of jobs per service, job type and state. */
  countByState(): { service: string; jobType: string; state: JobState; count: number }[] {
    return this.db
      .prepare<[], { service: string; job_type: string; state: JobState; n: number }>(
        "SELECT service, job_type, state, COUNT(*) AS n FROM jobs_projection GROUP BY service, job_type, state",
      )
      .all()
      .map((row) => ({ service: row.service, jobType: row.job_type, state: row.state, count: row.n }));
  }

  /** Records a heartbeat unless the worker already has a newer one; `true` when it was stored. */
  recordHeartbeat(heartbeat: JobWorkerHeartbeat): boolean {
    const result = this.db
      .prepare(
        `INSERT INTO worker_presence_projection
           (service, job_type, instance_id, concurrency, version, heartbeat_at, heartbeat_at_nanos, record_json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (service, job_type, instance_id) DO UPDATE SET
           concurrency = excluded.concurrency, version = excluded.version,
           heartbeat_at = excluded.heartbeat_at, heartbeat_at_nanos = excluded.heartbeat_at_nanos,
           record_json = excluded.record_json
         WHERE excluded.heartbeat_at_nanos >= worker_presence_projection.heartbeat_at_nanos`,
      )
      .run(
        heartbeat.service,
        heartbeat.jobType,
        heartbeat.instanceId,
        heartbeat.concurrency ?? null,
        heartbeat.version ?? null,
        heartbeat.timestamp,
        epochNanos(heartbeat.timestamp),
        JSON.stringify(heartbeat),
      );
    return result.changes > 0;
  }

  /**
   * Every service with a recorded worker, by name, with its workers whose heartbeat is within
   * {@link WORKER_FRESH_MS} of `now`.
   */
  services(now: Date): ServiceWorkers[] {
    const fresh = BigInt(now.getTime() - WORKER_FRESH_MS) * 1_000_000n;
    const rows = this.db
      .prepare<[], { service: string; record_json: string; heartbeat_at_nanos: bigint }>(
        `SELECT service, record_json, heartbeat_at_nanos FROM worker_presence_projection
         ORDER BY service, job_type, instance_id`,
      )
      .safeIntegers(true)
      .all();
    const byService = new Map<string, JobWorkerHeartbeat[]>();
    for (const row of rows) {
      const workers = byService.get(row.service) ?? [];
      byService.set(row.service, workers);
      if (row.heartbeat_at_nanos < fresh) continue;
      const record = parseJsonColumn(HeartbeatJsonSchema, row.record_json, {
        table: "worker_presence_projection",
        column: "record_json",
      });
      workers.push(record as unknown as JobWorkerHeartbeat);
    }
    return [...byService].map(([name, workers]) => ({ name, workers }));
  }
}
