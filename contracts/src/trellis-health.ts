/**
 * `trellis.health@v1`: the heartbeat event every Trellis service (and device) publishes so operators
 * can see which participants are alive, what they run and how their own checks are doing.
 */
import { defineServiceContract } from "@trellis/contracts";
import { z } from "zod";

/** Free-form, JSON-valued diagnostic details. */
const HealthInfo = z.record(z.string(), z.unknown());

/** The outcome of one self-check a service ran before publishing its heartbeat. */
export const HealthCheckResult = z.object({
  /** Name of the check, e.g. `nats` or `database`. */
  name: z.string(),
  status: z.enum(["ok", "failed"]),
  /** How long the check took, in milliseconds. */
  latencyMs: z.number(),
  summary: z.string().optional(),
  error: z.string().optional(),
  info: HealthInfo.optional(),
});

/** Who is sending a heartbeat: the running instance and the contract it implements. */
export const HealthServiceIdentity = z.object({
  name: z.string(),
  kind: z.enum(["service", "device"]),
  instanceId: z.string(),
  contractId: z.string(),
  contractDigest: z.string(),
  version: z.string().optional(),
  startedAt: z.iso.datetime({ offset: true }),
  /** How often this instance publishes heartbeats; lets observers decide when one is overdue. */
  publishIntervalMs: z.int().min(1),
  runtime: z.enum(["deno", "node", "rust", "unknown"]),
  runtimeVersion: z.string().optional(),
  info: HealthInfo.optional(),
});

/** Payload of `Health.Heartbeat`. */
export const HealthHeartbeat = z.object({
  header: z.object({ id: z.string(), time: z.iso.datetime({ offset: true }) }),
  service: HealthServiceIdentity,
  status: z.enum(["healthy", "unhealthy", "degraded"]),
  summary: z.string().optional(),
  checks: z.array(HealthCheckResult),
});

/** Inferred type of a heartbeat payload. */
export type HealthHeartbeat = z.infer<typeof HealthHeartbeat>;

/** The `trellis.health@v1` contract module. */
export const trellisHealth = defineServiceContract({ schemas: { HealthHeartbeat } }, (ref) => ({
  id: "trellis.health@v1",
  displayName: "Trellis Health",
  description: "Shared heartbeat events that make Trellis services observable.",
  docs: {
    summary: "Heartbeat events from services.",
    markdown:
      "Declares the heartbeat that services publish at a fixed interval, so operators and tooling can " +
      "tell which instances are alive and how their self-checks are going.",
  },
  events: {
    "Health.Heartbeat": {
      version: "v1",
      event: ref.schema("HealthHeartbeat"),
      docs: {
        summary: "Announce that a service instance is alive.",
        markdown:
          "Published periodically by each service instance with its runtime identity, start time, " +
          "overall status and the results of its own health checks.",
      },
    },
  },
}));
