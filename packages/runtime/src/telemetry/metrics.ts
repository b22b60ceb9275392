/**
 * Prometheus metrics (runtime spec §6.6; architecture: `trellis_` prefix, `_total`, `_seconds`, no ids
 * in labels). Each participant owns a registry a process can expose on `/metrics`.
 */
import { Counter, Histogram, Registry } from "prom-client";

const TRELLIS_SUBJECT_PREFIX = /^(rpc|events|feeds|operations|jobs|state|kv|store|resources|transfer)\./;
const ID_LIKE = /[0-9a-f]{8}-[0-9a-f]{4}-|[0-9A-HJKMNP-TV-Z]{26}|[0-9a-fA-F]{12,}/;

/**
 * Keeps a label value only if it is low-cardinality: at most 96 characters of `[A-Za-z0-9_.:-]`, no
 * UUID, ULID or long hex run, and not a Trellis subject. Anything else becomes `other`.
 */
export function lowCardinality(value: string | undefined): string {
  if (!value) return "none";
  if (value.length > 96 || !/^[A-Za-z0-9_.:-]+$/.test(value) || ID_LIKE.test(value)) return "other";
  if (TRELLIS_SUBJECT_PREFIX.test(value)) return "other";
  return value;
}

/** Attributes of one runtime-observed failure. */
export interface ErrorObservation {
  /** Error type name, e.g. `ValidationError`. */
  type: string;
  /** rpc, event, feed, operation, job, transfer, outbox. */
  surface: string;
  /** client, server, publisher, consumer, … */
  direction: string;
  /** Contract method or kind. */
  operation?: string;
  /** Pipeline phase, e.g. `input_validation`, `auth`, `handler_throw`. */
  phase: string;
  /** Auth reason, for auth failures. */
  authReason?: string;
}

/** The runtime's metric instruments over one registry. */
export class Metrics {
  /** The registry to expose. */
  readonly registry: Registry;
  private readonly rpcRequests: Counter<"method" | "outcome">;
  private readonly rpcDuration: Histogram<"method">;
  private readonly rpcClientRequests: Counter<"method" | "outcome">;
  private readonly rpcClientDuration: Histogram<"method">;
  private readonly eventsPublished: Counter<"event">;
  private readonly eventsHandled: Counter<"event" | "outcome">;
  private readonly errors: Counter<"type" | "surface" | "direction" | "operation" | "phase" | "auth_reason">;
  private readonly operations: Counter<"operation" | "outcome">;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    this.rpcRequests = new Counter({
      name: "trellis_rpc_requests_total",
      help: "RPC requests handled, by method and outcome.",
      labelNames: ["method", "outcome"],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: "trellis_rpc_duration_seconds",
      help: "Time to handle an RPC request, from receipt to reply.",
      labelNames: ["method"],
      buckets,
      registers,
    });
    this.rpcClientRequests = new Counter({
      name: "trellis_rpc_client_requests_total",
      help: "RPC calls made, by method and outcome.",
      labelNames: ["method", "outcome"],
      registers,
    });
    this.rpcClientDuration = new Histogram({
      name: "trellis_rpc_client_duration_seconds",
      help: "Time an RPC call took from the caller's side.",
      labelNames: ["method"],
      buckets,
      registers,
    });
    this.eventsPublished = new Counter({
      name: "trellis_events_published_total",
      help: "Events published (acknowledged by JetStream).",
      labelNames: ["event"],
      registers,
    });
    this.eventsHandled = new Counter({
      name: "trellis_events_handled_total",
      help: "Events handled by listeners, by outcome (ack, nak, term, skipped).",
      labelNames: ["event", "outcome"],
      registers,
    });
    this.errors = new Counter({
      name: "trellis_errors_total",
      help: "Runtime-observed failures (low-cardinality attributes only).",
      labelNames: ["type", "surface", "direction", "operation", "phase", "auth_reason"],
      registers,
    });
    this.operations = new Counter({
      name: "trellis_operations_total",
      help: "Operations accepted and finished, by operation and outcome (accepted, completed, failed, cancelled).",
      labelNames: ["operation", "outcome"],
      registers,
    });
  }

  /** Records one handled RPC request. */
  rpcServerRequest(method: string, outcome: "ok" | "error", seconds: number): void {
    const m = lowCardinality(method);
    this.rpcRequests.inc({ method: m, outcome });
    this.rpcDuration.observe({ method: m }, seconds);
  }

  /** Records one RPC call made by a client. */
  rpcClientCall(method: string, outcome: "ok" | "error", seconds: number, _phase?: string): void {
    const m = lowCardinality(method);
    this.rpcClientRequests.inc({ method: m, outcome });
    this.rpcClientDuration.observe({ method: m }, seconds);
  }

  /** Records a published event. */
  eventPublished(event: string): void {
    this.eventsPublished.inc({ event: lowCardinality(event) });
  }

  /** Records a handled event. */
  eventHandled(event: string, outcome: "ack" | "nak" | "term" | "skipped"): void {
    this.eventsHandled.inc({ event: lowCardinality(event), outcome });
  }

  /** Counts an operation accepted or reaching a terminal state. */
  operationOutcome(operation: string, outcome: "accepted" | "completed" | "failed" | "cancelled"): void {
    this.operations.inc({ operation: lowCardinality(operation), outcome });
  }

  /** Counts a failure (`trellis.errors`). */
  error(observation: ErrorObservation): void {
    this.errors.inc({
      type: lowCardinality(observation.type),
      surface: lowCardinality(observation.surface),
      direction: lowCardinality(observation.direction),
      operation: lowCardinality(observation.operation),
      phase: lowCardinality(observation.phase),
      auth_reason: lowCardinality(observation.authReason),
    });
  }

  /** The Prometheus text exposition of the registry. */
  expose(): Promise<string> {
    return this.registry.metrics();
  }
}
