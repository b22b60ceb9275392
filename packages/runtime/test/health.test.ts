import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trellisHealth } from "@trellis/builtin-contracts";
import { defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { pino } from "pino";
import { ulid } from "ulid";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  aggregateHealthStatus,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  type HeartbeatPayload,
  HeartbeatPublisher,
  healthInstanceId,
  healthRpcHandler,
  healthRpcName,
  mountHealthRpc,
  ServiceHealth,
} from "../src/health/index.js";
import {
  InMemorySessionAuthority,
  ProofCallerAuthenticator,
  RpcClient,
  RpcServer,
  resolveLogger,
  SchemaSet,
  ServerClock,
  SYSTEM_CALLER,
} from "../src/index.js";

const identity = { service: "billing-service", contractId: "billing@v1", contractDigest: "digest-1" };

function captureLogger() {
  const lines: { level: number; msg: string; err?: { message?: string } }[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe("aggregateHealthStatus", () => {
  it("is healthy when every check is ok, also with no checks", () => {
    expect(aggregateHealthStatus([])).toBe("healthy");
    expect(aggregateHealthStatus([{ status: "ok" }, { status: "ok" }])).toBe("healthy");
  });

  it("is degraded when some checks are ok", () => {
    expect(aggregateHealthStatus([{ status: "ok" }, { status: "failed" }])).toBe("degraded");
  });

  it("is unhealthy when no check is ok", () => {
    expect(aggregateHealthStatus([{ status: "failed" }])).toBe("unhealthy");
    expect(aggregateHealthStatus([{ status: "failed" }, { status: "failed" }])).toBe("unhealthy");
  });
});

describe("ServiceHealth", () => {
  it("reports healthy with no checks", async () => {
    const health = new ServiceHealth({ ...identity, now: () => new Date("2026-01-02T03:04:05.000Z") });
    expect(await health.run()).toEqual({
      status: "healthy",
      service: "billing-service",
      timestamp: "2026-01-02T03:04:05.000Z",
      checks: [],
    });
  });

  it("accepts outcomes, booleans and Results, sync or async, in registration order", async () => {
    const health = new ServiceHealth(identity);
    health.add("outcome", () => ({ status: "ok", summary: "fine", info: { pool: 3 } }));
    health.add("bool", async () => true);
    health.add("result", () => Result.ok(true));
    const response = await health.run();
    expect(response.status).toBe("healthy");
    expect(response.checks.map((c) => c.name)).toEqual(["outcome", "bool", "result"]);
    expect(response.checks[0]).toMatchObject({ status: "ok", summary: "fine", info: { pool: 3 } });
    for (const check of response.checks) expect(check.latencyMs).toBeGreaterThanOrEqual(0);
    expect(response.checks[1]).not.toHaveProperty("info");
  });

  it("is degraded when some fail, and adds the service identity to failed checks' info", async () => {
    const health = new ServiceHealth(identity);
    health.add("db", () => true);
    health.add("cache", () => ({
      status: "failed",
      error: "refused",
      summary: "cache down",
      info: { host: "c1" },
    }));
    health.add("legacy", () => Result.ok(false));
    const response = await health.run();
    expect(response.status).toBe("degraded");
    expect(response.checks[1]).toEqual({
      name: "cache",
      status: "failed",
      error: "refused",
      summary: "cache down",
      latencyMs: expect.any(Number),
      info: { host: "c1", service: "billing-service", contractId: "billing@v1", contractDigest: "digest-1" },
    });
    expect(response.checks[2]).toMatchObject({ status: "failed", info: { contractId: "billing@v1" } });
  });

  it("is unhealthy when every check fails", async () => {
    const health = new ServiceHealth(identity);
    health.add("a", () => false);
    health.add("b", () => Result.err(new Error("gone")));
    const response = await health.run();
    expect(response.status).toBe("unhealthy");
    expect(response.checks[1]).toMatchObject({
      status: "failed",
      error: "gone",
      info: { errorType: "Error" },
    });
  });

  it("turns a throwing or rejecting check into a failed one with the message and error type", async () => {
    const health = new ServiceHealth(identity);
    health.add("throws", () => {
      throw new TypeError("bad wiring");
    });
    health.add("rejects", () => Promise.reject(new RangeError("out of range")));
    health.add("ok", () => true);
    const response = await health.run();
    expect(response.status).toBe("degraded");
    expect(response.checks[0]).toEqual({
      name: "throws",
      status: "failed",
      error: "bad wiring",
      summary: "bad wiring",
      latencyMs: expect.any(Number),
      info: {
        errorType: "TypeError",
        service: "billing-service",
        contractId: "billing@v1",
        contractDigest: "digest-1",
      },
    });
    expect(response.checks[1]).toMatchObject({
      error: "out of range",
      summary: "out of range",
      info: { errorType: "RangeError" },
    });
  });

  it("fails a malformed answer", async () => {
    const health = new ServiceHealth(identity);
    health.add("weird", () => ({ status: "maybe" }) as never);
    const [check] = (await health.run()).checks;
    expect(check).toMatchObject({ status: "failed", error: "Health check returned an invalid result" });
  });

  it("fails a check that answers too late, without holding up the others", async () => {
    const health = new ServiceHealth({ ...identity, checkTimeoutMs: 50 });
    health.add("slow", () => new Promise<boolean>(() => {}));
    health.add("fast", () => true);
    const started = Date.now();
    const response = await health.run();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(response.status).toBe("degraded");
    expect(response.checks[0]).toMatchObject({
      name: "slow",
      status: "failed",
      error: expect.stringContaining("timed out"),
      info: { errorType: "HealthCheckTimeoutError", service: "billing-service" },
    });
    expect(response.checks[0]!.latencyMs).toBeGreaterThanOrEqual(45);
    expect(response.checks[1]).toMatchObject({ name: "fast", status: "ok" });
  });

  it("defaults the check timeout to 5 s and refuses a nonsensical one", () => {
    expect(new ServiceHealth(identity).checkTimeoutMs).toBe(5000);
    expect(() => new ServiceHealth({ ...identity, checkTimeoutMs: 0 })).toThrow(RangeError);
  });

  it("refuses duplicate names; the remover removes only its own check, once", async () => {
    const health = new ServiceHealth(identity);
    const remove = health.add("db", () => true);
    expect(() => health.add("db", () => true)).toThrow("already registered");
    remove();
    expect(health.names()).toEqual([]);
    health.add("db", () => false);
    remove();
    expect(health.names()).toEqual(["db"]);
    expect((await health.run()).status).toBe("unhealthy");
  });

  it("registers the built-in nats check when given a connection", async () => {
    let closed = false;
    const health = new ServiceHealth({ ...identity, nc: { isClosed: () => closed } });
    expect(health.names()).toEqual(["nats"]);
    expect(await health.run()).toMatchObject({ status: "healthy", checks: [{ name: "nats", status: "ok" }] });
    closed = true;
    expect(await health.run()).toMatchObject({
      status: "unhealthy",
      checks: [{ name: "nats", status: "failed", error: "NATS connection closed" }],
    });
  });

  it("keeps info as given, or computes it each time", () => {
    const health = new ServiceHealth(identity);
    expect(health.info()).toEqual({});
    health.setInfo({ version: "1.2.3", info: { region: "eu" } });
    expect(health.info()).toEqual({ version: "1.2.3", info: { region: "eu" } });
    let n = 0;
    health.setInfo(() => ({ info: { n: ++n } }));
    expect(health.info()).toEqual({ info: { n: 1 } });
    expect(health.info()).toEqual({ info: { n: 2 } });
  });
});

describe("healthRpcName", () => {
  it("is the PascalCase service name plus .Health", () => {
    expect(healthRpcName("billing-service")).toBe("BillingService.Health");
    expect(healthRpcName("orders")).toBe("Orders.Health");
    expect(healthRpcName("my_svc.v2")).toBe("MySvcV2.Health");
    expect(healthRpcName("jobsAdmin")).toBe("JobsAdmin.Health");
    expect(() => healthRpcName("--")).toThrow();
  });
});

describe("HeartbeatPublisher", () => {
  const heartbeatSchemas = SchemaSet.of(trellisHealth.CONTRACT);

  afterEach(() => {
    vi.useRealTimers();
  });

  it("builds a payload that, with its header, is a valid Health.Heartbeat", async () => {
    const health = new ServiceHealth(identity);
    health.add("db", () => true);
    health.add("cache", () => false);
    health.add("queue", () => ({ status: "failed", summary: "lagging" }));
    health.setInfo({ version: "2.0.0", info: { region: "eu" } });
    const publisher = new HeartbeatPublisher({
      health,
      publish: async () => undefined,
      logger: pino({ level: "silent" }),
    });
    const payload = await publisher.buildPayload();
    expect(payload).toMatchObject({
      service: {
        name: "billing-service",
        kind: "service",
        instanceId: healthInstanceId(),
        contractId: "billing@v1",
        contractDigest: "digest-1",
        publishIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
        runtime: "node",
        runtimeVersion: process.versions.node,
        version: "2.0.0",
        info: { region: "eu" },
      },
      status: "degraded",
      summary: "2 checks failing",
    });
    expect(payload.checks).toHaveLength(3);
    expect(healthInstanceId()).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(Date.parse(payload.service.startedAt)).toBeLessThanOrEqual(Date.now());
    const event = { header: { id: ulid(), time: new Date().toISOString() }, ...payload };
    const valid = heartbeatSchemas.validate("HealthHeartbeat", event);
    expect(valid.isOk() ? "valid" : valid.error.issues).toBe("valid");
  });

  it("has no summary when every check passes", async () => {
    const health = new ServiceHealth(identity);
    const publisher = new HeartbeatPublisher({ health, publish: async () => undefined, kind: "device" });
    const payload = await publisher.buildPayload();
    expect(payload.status).toBe("healthy");
    expect(payload).not.toHaveProperty("summary");
    expect(payload.service.kind).toBe("device");
    expect(payload.service).not.toHaveProperty("version");
  });

  it("publishes at once on start, then every interval, until stopped", async () => {
    vi.useFakeTimers();
    const health = new ServiceHealth(identity);
    const published: HeartbeatPayload[] = [];
    const publisher = new HeartbeatPublisher({
      health,
      publishIntervalMs: 1000,
      publish: async (payload) => {
        published.push(payload);
      },
    });
    await publisher.start();
    expect(published).toHaveLength(1);
    expect(publisher.running).toBe(true);
    await vi.advanceTimersByTimeAsync(999);
    expect(published).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(published).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(3000);
    expect(published).toHaveLength(5);
    await publisher.start(); // idempotent: no extra publish, no second timer
    await vi.advanceTimersByTimeAsync(1000);
    expect(published).toHaveLength(6);
    await publisher.stop();
    expect(publisher.running).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(published).toHaveLength(6);
    await publisher.stop();
    expect(published[0]!.service.publishIntervalMs).toBe(1000);
  });

  it("publishes one heartbeat at a time, skipping ticks while one is in flight", async () => {
    vi.useFakeTimers();
    const gate = deferred<void>();
    let calls = 0;
    const publisher = new HeartbeatPublisher({
      health: new ServiceHealth(identity),
      publishIntervalMs: 100,
      publish: () => {
        calls++;
        return calls === 1 ? gate.promise : Promise.resolve();
      },
    });
    const first = publisher.start();
    await vi.advanceTimersByTimeAsync(550);
    expect(calls).toBe(1);
    const joined = publisher.publishNow();
    expect(calls).toBe(1);
    gate.resolve();
    await first;
    await joined;
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(2);
    await publisher.stop();
  });

  it("logs failed publishes as warnings and keeps going", async () => {
    vi.useFakeTimers();
    const { logger, lines } = captureLogger();
    const outcomes = [
      () => Promise.reject(new Error("no stream")),
      () => Promise.resolve(Result.err(new Error("not acknowledged"))),
      () => Promise.resolve(Result.ok({ seq: 1 })),
    ];
    let n = 0;
    const publisher = new HeartbeatPublisher({
      health: new ServiceHealth(identity),
      publishIntervalMs: 10,
      logger,
      publish: () => (outcomes[n++] ?? outcomes[2]!)(),
    });
    await publisher.start();
    await vi.advanceTimersByTimeAsync(20);
    await publisher.stop();
    expect(n).toBe(3);
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual([
      "Failed to publish health heartbeat",
      "Failed to publish health heartbeat",
    ]);
    expect(warnings.map((line) => line.err?.message)).toEqual(["no stream", "not acknowledged"]);
  });

  it("logs a failing info function instead of throwing", async () => {
    const { logger, lines } = captureLogger();
    const health = new ServiceHealth(identity);
    health.setInfo(() => {
      throw new Error("no version file");
    });
    const publish = vi.fn(async () => undefined);
    const publisher = new HeartbeatPublisher({ health, logger, publish });
    await expect(publisher.publishNow()).resolves.toBeUndefined();
    expect(publish).not.toHaveBeenCalled();
    expect(lines.some((line) => line.msg === "Failed to publish health heartbeat")).toBe(true);
  });

  it("refuses a nonsensical interval", () => {
    const health = new ServiceHealth(identity);
    const publish = async () => undefined;
    expect(() => new HeartbeatPublisher({ health, publish, publishIntervalMs: 0 })).toThrow(RangeError);
    expect(() => new HeartbeatPublisher({ health, publish, publishIntervalMs: 1.5 })).toThrow(RangeError);
  });
});

describe("health over NATS", () => {
  const HealthCheckResult = z.object({
    name: z.string(),
    status: z.enum(["ok", "failed"]),
    latencyMs: z.number(),
    error: z.string().optional(),
    summary: z.string().optional(),
    info: z.record(z.string(), z.unknown()).optional(),
  });
  const HealthResponse = z.object({
    status: z.enum(["healthy", "degraded", "unhealthy"]),
    service: z.string(),
    timestamp: z.iso.datetime({ offset: true }),
    checks: z.array(HealthCheckResult),
  });
  const billing = defineServiceContract({ schemas: { Empty: z.object({}), HealthResponse } }, (ref) => ({
    id: "billing@v1",
    displayName: "Billing",
    description: "Bills.",
    rpc: {
      "BillingService.Health": {
        version: "v1",
        input: ref.schema("Empty"),
        output: ref.schema("HealthResponse"),
      },
    },
  }));
  const schemas = SchemaSet.of(billing.CONTRACT);
  const logger = resolveLogger(false);
  const authority = new InMemorySessionAuthority();
  const callerSeed = generateSessionSeed();
  const callerKey = sessionKeyFromSeed(callerSeed);

  let server: NatsServerHandle;
  let serviceConn: NatsConnection;
  let callerConn: NatsConnection;
  let rpcServer: RpcServer;
  let health: ServiceHealth;

  beforeAll(async () => {
    server = await startNatsServer();
    serviceConn = await connect({ servers: server.url });
    callerConn = await connect({ servers: server.url, inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}` });
    authority.register(callerKey, {
      caller: { type: "user", id: "usr_1", capabilities: [] },
      inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}`,
    });
    health = new ServiceHealth({
      service: "billing-service",
      contractId: billing.CONTRACT_ID,
      contractDigest: billing.CONTRACT_DIGEST,
      nc: serviceConn,
    });
    health.add("db", () => true);
    health.add("ledger", () => {
      throw new Error("ledger unreachable");
    });
    rpcServer = new RpcServer({
      nc: serviceConn,
      contract: billing,
      schemas,
      authenticator: new ProofCallerAuthenticator({ authority }),
      serviceName: "billing-service",
      logger,
    });
    expect(mountHealthRpc(rpcServer, billing, "billing-service", health)).toBe("BillingService.Health");
    await serviceConn.flush();
  });

  afterAll(async () => {
    await rpcServer?.stop();
    await Promise.all([serviceConn, callerConn].map((nc) => nc?.close()));
    await server?.stop();
  });

  it("answers the health RPC with the aggregated response", async () => {
    const client = new RpcClient({ nc: callerConn, seed: callerSeed, clock: new ServerClock() });
    const descriptor = billing.API.owned.rpc["BillingService.Health"];
    const result = await client.request<z.infer<typeof HealthResponse>>(
      healthRpcName("billing-service"),
      descriptor,
      schemas,
      {},
    );
    expect(result.isOk() ? "ok" : result.error).toBe("ok");
    const response = result.isOk() ? result.value : undefined;
    expect(response).toMatchObject({
      status: "degraded",
      service: "billing-service",
      checks: [
        { name: "nats", status: "ok" },
        { name: "db", status: "ok" },
        {
          name: "ledger",
          status: "failed",
          error: "ledger unreachable",
          summary: "ledger unreachable",
          info: {
            errorType: "Error",
            service: "billing-service",
            contractId: "billing@v1",
            contractDigest: billing.CONTRACT_DIGEST,
          },
        },
      ],
    });
    expect(Date.parse(response?.timestamp ?? "")).not.toBeNaN();
  });

  it("does not mount the RPC when the contract does not declare it", () => {
    const other = new RpcServer({
      nc: serviceConn,
      contract: billing,
      schemas,
      authenticator: new ProofCallerAuthenticator({ authority }),
      serviceName: "orders",
      logger,
    });
    expect(mountHealthRpc(other, billing, "orders", health)).toBeUndefined();
  });

  it("the handler works with RpcServer.mount directly", async () => {
    const handler = healthRpcHandler(health);
    const result = await handler({
      input: {},
      context: {
        caller: SYSTEM_CALLER,
        subject: "rpc.v1.BillingService.Health",
        method: "BillingService.Health",
      },
    });
    expect(result.isOk() && result.value.service).toBe("billing-service");
  });

  it("reports a closed connection through the nats check", async () => {
    const nc = await connect({ servers: server.url });
    const own = new ServiceHealth({ service: "x", contractId: "x@v1", contractDigest: "d", nc });
    expect((await own.run()).status).toBe("healthy");
    await nc.close();
    expect(await own.run()).toMatchObject({
      status: "unhealthy",
      checks: [{ name: "nats", status: "failed", error: "NATS connection closed" }],
    });
  });

  it("heartbeats go through the publish function it is given", async () => {
    const subject = trellisHealth.API.owned.events["Health.Heartbeat"].subject;
    const sub = callerConn.subscribe(subject, { max: 1 });
    await callerConn.flush();
    const publisher = new HeartbeatPublisher({
      health,
      publishIntervalMs: 60_000,
      publish: async (payload) => {
        const event = { header: { id: ulid(), time: new Date().toISOString() }, ...payload };
        const valid = SchemaSet.of(trellisHealth.CONTRACT).validate("HealthHeartbeat", event);
        if (valid.isErr()) throw valid.error;
        serviceConn.publish(subject, JSON.stringify(event));
        await serviceConn.flush();
      },
    });
    await publisher.start();
    await publisher.stop();
    for await (const msg of sub) {
      const event = msg.json<{ service: { name: string }; status: string; summary?: string }>();
      expect(event).toMatchObject({
        service: { name: "billing-service" },
        status: "degraded",
        summary: "1 checks failing",
      });
    }
  });
});
