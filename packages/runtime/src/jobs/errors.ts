/** Errors of the jobs runtime (runtime spec §3.5, §3.6). */
import { RuntimeError, type RuntimeErrorOptions } from "../errors/errors.js";

/**
 * What a job handler returns (as `Result.err`) or throws to fail an attempt. `JobError.fatal(...)`
 * fails the job for good (`failed`, acked, never retried); `JobError.retryable(...)` — like any other
 * error or throw — publishes `retry` and hands the job back for redelivery after the queue's backoff.
 */
export class JobError extends RuntimeError {
  /** Whether the job may be attempted again. */
  readonly retryable: boolean;

  constructor(message: string, options: RuntimeErrorOptions & { retryable?: boolean } = {}) {
    super(message, options);
    this.retryable = options.retryable ?? true;
  }

  /** A failure that retrying cannot fix: the job ends `failed`. */
  static fatal(message: string, options: RuntimeErrorOptions = {}): JobError {
    return new JobError(message, { ...options, retryable: false });
  }

  /** A failure worth retrying after the queue's backoff. */
  static retryable(message: string, options: RuntimeErrorOptions = {}): JobError {
    return new JobError(message, { ...options, retryable: true });
  }

  protected override wireFields() {
    return { retryable: this.retryable };
  }
}

/** No job with this id exists in the queue. */
export class JobNotFoundError extends RuntimeError {
  /** The job's id. */
  readonly jobId: string;

  constructor(jobId: string, options: RuntimeErrorOptions = {}) {
    super(`Job '${jobId}' not found`, options);
    this.jobId = jobId;
  }

  protected override wireFields() {
    return { jobId: this.jobId };
  }
}

/**
 * A queue's work-queue consumer (or the jobs binding) is missing: the deployment was not reconciled
 * with its job queues. Services never create job streams or consumers.
 */
export class JobsInfrastructureMissingError extends RuntimeError {}
