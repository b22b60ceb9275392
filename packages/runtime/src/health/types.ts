/** Shapes of health checks, the `<Service>.Health` RPC response and the heartbeat (runtime spec §6.3). */
import type { Result } from "@trellis/result";

/** Free-form, JSON-valued diagnostic details. */
export type HealthInfo = Record<string, unknown>;

/** Outcome of one check. */
export type HealthCheckStatus = "ok" | "failed";

/** Overall status: all checks ok, some ok, none ok. */
export type HealthStatus = "healthy" | "degraded" | "unhealthy";

/** What a check reports about itself. */
export interface HealthCheckOutcome {
  status: HealthCheckStatus;
  /** One line for humans. */
  summary?: string;
  /** Diagnostic details. */
  info?: HealthInfo;
  /** Why the check failed. */
  error?: string;
}

/**
 * What a check may answer: an outcome, a boolean (`true` = ok) or, as the legacy `healthChecks`
 * did, a `Result<boolean>` (`Ok(true)` = ok, `Ok(false)` or `Err` = failed).
 */
export type HealthCheckAnswer = HealthCheckOutcome | boolean | Result<boolean, unknown>;

/**
 * A health check, synchronous or not. A throw, a rejection, a malformed answer or no answer within
 * the check timeout count as failed.
 */
export type HealthCheck = () => HealthCheckAnswer | Promise<HealthCheckAnswer>;

/** The reported result of one check. */
export interface HealthCheckResult {
  /** Name the check was registered under. */
  name: string;
  status: HealthCheckStatus;
  /** How long the check took, in milliseconds. */
  latencyMs: number;
  summary?: string;
  error?: string;
  info?: HealthInfo;
}

/** Output of the `<Service>.Health` RPC. */
export interface HealthResponse {
  status: HealthStatus;
  /** The service name. */
  service: string;
  /** When the checks ran (ISO 8601). */
  timestamp: string;
  checks: HealthCheckResult[];
}

/** Version and details a service announces in its heartbeats. */
export interface ServiceHealthInfo {
  /** The service's own version. */
  version?: string;
  /** Free-form details. */
  info?: HealthInfo;
}

/** Heartbeat identity of the publishing instance. */
export interface HeartbeatServiceIdentity {
  name: string;
  kind: "service" | "device";
  /** ULID, one per process. */
  instanceId: string;
  contractId: string;
  contractDigest: string;
  /** When the process started (ISO 8601). */
  startedAt: string;
  /** How often heartbeats are published. */
  publishIntervalMs: number;
  runtime: "deno" | "node" | "rust" | "unknown";
  runtimeVersion?: string;
  version?: string;
  info?: HealthInfo;
}

/**
 * Payload of `Health.Heartbeat` without its `header` (`{id, time}`), which the events publisher adds
 * when it publishes.
 */
export interface HeartbeatPayload {
  service: HeartbeatServiceIdentity;
  status: HealthStatus;
  /** `"N checks failing"` when any check failed. */
  summary?: string;
  checks: HealthCheckResult[];
}
