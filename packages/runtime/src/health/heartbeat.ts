/**
 * Heartbeats (runtime spec §6.3): the `Health.Heartbeat` payload of this process, published at once
 * on start and then every `publishIntervalMs`, at most one publish at a time. Publishing itself is
 * delegated, so the events publisher adds the header, validates and traces as for any event.
 */
import { Result } from "@trellis/result";
import { newUlid } from "../ids.js";
import { type Logger, resolveLogger } from "../telemetry/logger.js";
import type { ServiceHealth } from "./service-health.js";
import type { HeartbeatPayload, HeartbeatServiceIdentity } from "./types.js";

/** Default heartbeat period. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000;

let processInstanceId: string | undefined;

/** The heartbeat instance id of this process: one ULID, made on first use. */
export function healthInstanceId(): string {
  processInstanceId ??= newUlid();
  return processInstanceId;
}

/** When this process started (ISO 8601). */
export function processStartedAt(): string {
  return new Date(performance.timeOrigin).toISOString();
}

/** Summary of a heartbeat with failing checks. */
export function failingChecksSummary(failing: number): string | undefined {
  return failing > 0 ? `${failing} checks failing` : undefined;
}

/** Options of {@link HeartbeatPublisher}. */
export interface HeartbeatPublisherOptions {
  /** The checks, identity and info of the service. */
  health: ServiceHealth;
  /**
   * Publishes one payload (e.g. the `Health.Heartbeat` event publisher). A rejection, or a resolved
   * `Result` error, is logged as a warning.
   */
  publish: (payload: HeartbeatPayload) => Promise<unknown>;
  /** Period in ms (default 30000). */
  publishIntervalMs?: number;
  /** `service` (default) or `device`. */
  kind?: HeartbeatServiceIdentity["kind"];
  /** Logger for failed publishes. */
  logger?: Logger;
  /** Instance id (default: the process's, {@link healthInstanceId}). */
  instanceId?: string;
  /** Start time (default: the process's). */
  startedAt?: Date;
}

/** Publishes the heartbeat of one service instance periodically. */
export class HeartbeatPublisher {
  /** The period, in ms. */
  readonly publishIntervalMs: number;
  private readonly logger: Logger;
  private readonly instanceId: string;
  private readonly startedAt: string;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: HeartbeatPublisherOptions) {
    const interval = options.publishIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    if (!Number.isInteger(interval) || interval < 1) {
      throw new RangeError(`publishIntervalMs must be a positive integer, got ${interval}`);
    }
    this.publishIntervalMs = interval;
    this.logger = options.logger ?? resolveLogger(undefined, { lib: "trellis-health" });
    this.instanceId = options.instanceId ?? healthInstanceId();
    this.startedAt = options.startedAt?.toISOString() ?? processStartedAt();
  }

  /** Whether periodic publishing is on. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /**
   * Publishes the first heartbeat now and schedules the next ones. Idempotent. Resolves once the first
   * publish has settled; never rejects.
   */
  start(): Promise<void> {
    if (this.timer) return this.inFlight ?? Promise.resolve();
    this.timer = setInterval(() => {
      if (!this.inFlight) void this.publishNow();
    }, this.publishIntervalMs);
    this.timer.unref();
    return this.publishNow();
  }

  /** Stops scheduling heartbeats and waits for a publish in flight. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** Publishes one heartbeat now, or joins the one in flight. Never rejects. */
  publishNow(): Promise<void> {
    this.inFlight ??= this.publishOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Runs the checks and builds the payload (without `header`). */
  async buildPayload(): Promise<HeartbeatPayload> {
    const { health } = this.options;
    const { version, info } = health.info();
    const response = await health.run();
    const service: HeartbeatServiceIdentity = {
      name: health.service,
      kind: this.options.kind ?? "service",
      instanceId: this.instanceId,
      contractId: health.contractId,
      contractDigest: health.contractDigest,
      startedAt: this.startedAt,
      publishIntervalMs: this.publishIntervalMs,
      runtime: "node",
      runtimeVersion: process.versions.node,
    };
    if (version !== undefined) service.version = version;
    if (info !== undefined) service.info = info;
    const payload: HeartbeatPayload = { service, status: response.status, checks: response.checks };
    const summary = failingChecksSummary(response.checks.filter((check) => check.status === "failed").length);
    if (summary !== undefined) payload.summary = summary;
    return payload;
  }

  private async publishOnce(): Promise<void> {
    try {
      const outcome = await this.options.publish(await this.buildPayload());
      if (Result.isResult(outcome) && outcome.isErr()) {
        this.logger.warn({ err: outcome.error }, "Failed to publish health heartbeat");
      }
    } catch (err) {
      this.logger.warn({ err }, "Failed to publish health heartbeat");
    }
  }
}
