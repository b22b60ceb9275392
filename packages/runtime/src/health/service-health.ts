/**
 * The checks registry of a service (runtime spec §6.3): checks run concurrently, each bounded by a
 * timeout, and their results aggregate into `healthy` / `degraded` / `unhealthy`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { Result } from "@trellis/result";
import type {
  HealthCheck,
  HealthCheckOutcome,
  HealthCheckResult,
  HealthInfo,
  HealthResponse,
  HealthStatus,
  ServiceHealthInfo,
} from "./types.js";

/** Default bound on one check's run time. */
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 5000;

/** Name of the built-in connection check. */
export const NATS_HEALTH_CHECK = "nats";

/** Options of {@link ServiceHealth}. */
export interface ServiceHealthOptions {
  /** The service name (`service` of responses and of failed checks' info). */
  service: string;
  /** Id of the contract the service implements. */
  contractId: string;
  /** Digest of that contract. */
  contractDigest: string;
  /** When given, the built-in `nats` check is registered over this connection. */
  nc?: Pick<NatsConnection, "isClosed">;
  /** Bound on each check's run time in ms (default 5000); a check over it fails as timed out. */
  checkTimeoutMs?: number;
  /** Clock for `timestamp` (tests). */
  now?: () => Date;
}

/** `healthy` if every check is ok (also with no checks), `degraded` if some are, `unhealthy` if none. */
export function aggregateHealthStatus(
  checks: readonly { status: HealthCheckResult["status"] }[],
): HealthStatus {
  const ok = checks.filter((check) => check.status === "ok").length;
  if (ok === checks.length) return "healthy";
  return ok > 0 ? "degraded" : "unhealthy";
}

/** The built-in check: failed with "NATS connection closed" once the connection is closed. */
export function natsHealthCheck(nc: Pick<NatsConnection, "isClosed">): HealthCheck {
  return () =>
    nc.isClosed()
      ? { status: "failed", summary: "NATS connection closed", error: "NATS connection closed" }
      : { status: "ok" };
}

class HealthCheckTimeoutError extends Error {
  override readonly name = "HealthCheckTimeoutError";
}

function isPlainRecord(value: unknown): value is HealthInfo {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeThrown(thrown: unknown): { message: string; errorType: string } {
  if (thrown instanceof Error) return { message: thrown.message || thrown.name, errorType: thrown.name };
  return { message: String(thrown), errorType: typeof thrown };
}

function failedFromThrown(thrown: unknown): HealthCheckOutcome {
  const { message, errorType } = describeThrown(thrown);
  return { status: "failed", error: message, summary: message, info: { errorType } };
}

/** Turns whatever a check answered into an outcome, keeping only the known fields. */
function normalizeAnswer(answer: unknown): HealthCheckOutcome {
  if (answer === true) return { status: "ok" };
  if (answer === false) return { status: "failed" };
  if (Result.isResult(answer)) {
    if (answer.isErr()) return failedFromThrown(answer.error);
    return { status: answer.value === true ? "ok" : "failed" };
  }
  if (isPlainRecord(answer) && (answer.status === "ok" || answer.status === "failed")) {
    const outcome: HealthCheckOutcome = { status: answer.status };
    if (typeof answer.summary === "string") outcome.summary = answer.summary;
    if (typeof answer.error === "string") outcome.error = answer.error;
    if (isPlainRecord(answer.info)) outcome.info = { ...answer.info };
    return outcome;
  }
  const message = "Health check returned an invalid result";
  return {
    status: "failed",
    error: message,
    summary: message,
    info: { errorType: "InvalidHealthCheckResult" },
  };
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A service's health checks. */
export class ServiceHealth {
  /** The service name. */
  readonly service: string;
  /** Id of the implemented contract. */
  readonly contractId: string;
  /** Digest of the implemented contract. */
  readonly contractDigest: string;
  /** Bound on each check's run time, in ms. */
  readonly checkTimeoutMs: number;
  private readonly checks = new Map<string, HealthCheck>();
  private infoSource: ServiceHealthInfo | (() => ServiceHealthInfo) = {};
  private readonly now: () => Date;

  constructor(options: ServiceHealthOptions) {
    const timeout = options.checkTimeoutMs ?? DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new RangeError(`checkTimeoutMs must be a positive number, got ${timeout}`);
    }
    this.service = options.service;
    this.contractId = options.contractId;
    this.contractDigest = options.contractDigest;
    this.checkTimeoutMs = timeout;
    this.now = options.now ?? (() => new Date());
    if (options.nc) this.add(NATS_HEALTH_CHECK, natsHealthCheck(options.nc));
  }

  /**
   * Registers `check` under `name` (unique). Returns a remover, which unregisters this check only
   * and may be called more than once.
   */
  add(name: string, check: HealthCheck): () => void {
    if (!name) throw new Error("A health check needs a name");
    if (this.checks.has(name)) throw new Error(`A health check named '${name}' is already registered`);
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  /** Names of the registered checks, in registration order. */
  names(): string[] {
    return [...this.checks.keys()];
  }

  /** Sets the version and details announced in heartbeats, or a function computing them each time. */
  setInfo(info: ServiceHealthInfo | (() => ServiceHealthInfo)): void {
    this.infoSource = info;
  }

  /** The current version and details (a throwing info function propagates). */
  info(): ServiceHealthInfo {
    const source = this.infoSource;
    const info = typeof source === "function" ? source() : source;
    const result: ServiceHealthInfo = {};
    if (typeof info.version === "string") result.version = info.version;
    if (isPlainRecord(info.info)) result.info = { ...info.info };
    return result;
  }

  /** Runs every check concurrently and aggregates the results (never rejects). */
  async run(): Promise<HealthResponse> {
    const timestamp = this.now().toISOString();
    const checks = await Promise.all([...this.checks].map(([name, check]) => this.runCheck(name, check)));
    return { status: aggregateHealthStatus(checks), service: this.service, timestamp, checks };
  }

  private async runCheck(name: string, check: HealthCheck): Promise<HealthCheckResult> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let outcome: HealthCheckOutcome;
    try {
      const answer = new Promise<unknown>((resolve) => resolve(check()));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new HealthCheckTimeoutError(`Health check timed out after ${this.checkTimeoutMs} ms`)),
          this.checkTimeoutMs,
        );
      });
      outcome = normalizeAnswer(await Promise.race([answer, timeout]));
    } catch (thrown) {
      outcome = failedFromThrown(thrown);
    } finally {
      clearTimeout(timer);
    }
    const result: HealthCheckResult = {
      name,
      status: outcome.status,
      latencyMs: roundMs(performance.now() - started),
    };
    if (outcome.error !== undefined) result.error = outcome.error;
    if (outcome.summary !== undefined) result.summary = outcome.summary;
    if (outcome.status === "failed") {
      result.info = {
        ...outcome.info,
        service: this.service,
        contractId: this.contractId,
        contractDigest: this.contractDigest,
      };
    } else if (outcome.info !== undefined) {
      result.info = outcome.info;
    }
    return result;
  }
}
