/**
 * Tracing and metrics over a real nats-server. This file registers a global OTel tracer provider,
 * context manager and propagator; vitest runs each test file in its own worker, and afterAll
 * unregisters them all the same.
 */
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncHooksContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { ulid } from "ulid";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import {
  InMemorySessionAuthority,
  Metrics,
  ProofCallerAuthenticator,
  RemoteError,
  RpcClient,
  RpcServer,
  resolveLogger,
  SchemaSet,
  ServerClock,
  traceIdFromTraceparent,
  traceIdOf,
} from "../src/index.js";

const tele = defineServiceContract(
  { schemas: { Say: z.object({ text: z.string() }), Key: z.object({ key: z.string() }) } },
  (ref) => ({
    id: "tele@v1",
    displayName: "Tele",
    description: "Traced.",
    rpc: {
      "Tele.Ping": { version: "v1", input: ref.schema("Say"), output: ref.schema("Say") },
      "Tele.Fail": { version: "v1", input: ref.schema("Key"), output: ref.schema("Say") },
      "Tele.Open": {
        version: "v1",
        input: ref.schema("Key"),
        output: ref.schema("Say"),
        authRequired: false,
      },
    },
  }),
);
const rpc = tele.API.owned.rpc;
const schemas = SchemaSet.of(tele.CONTRACT);
const logger = resolveLogger(false);

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();

const authority = new InMemorySessionAuthority();
const callerSeed = generateSessionSeed();
const callerKey = sessionKeyFromSeed(callerSeed);
const serverMetrics = new Metrics();
const clientMetrics = new Metrics();

let server: NatsServerHandle;
let serviceConn: NatsConnection;
let callerConn: NatsConnection;
let rpcServer: RpcServer;
let client: RpcClient;

function spansNamed(name: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.name === name);
}

/** Waits until the client span and the server span of one call have both ended. */
async function callSpans(method: string): Promise<{ client: ReadableSpan; server: ReadableSpan }> {
  return vi.waitFor(() => {
    const [clientSpan] = spansNamed(`rpc.client.${method}`);
    const [serverSpan] = spansNamed(`rpc.server.${method}`);
    if (!clientSpan || !serverSpan) throw new Error(`spans of ${method} not finished yet`);
    return { client: clientSpan, server: serverSpan };
  });
}

beforeAll(async () => {
  // `false` here would mean another file's registration leaked into this worker.
  expect(context.setGlobalContextManager(contextManager.enable())).toBe(true);
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  expect(propagation.setGlobalPropagator(new W3CTraceContextPropagator())).toBe(true);

  server = await startNatsServer();
  serviceConn = await connect({ servers: server.url });
  callerConn = await connect({ servers: server.url, inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}` });
  authority.register(callerKey, {
    caller: { type: "user", id: "usr_1", capabilities: [] },
    inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}`,
  });
  rpcServer = new RpcServer({
    nc: serviceConn,
    contract: tele,
    schemas,
    authenticator: new ProofCallerAuthenticator({ authority }),
    serviceName: "tele",
    logger,
    metrics: serverMetrics,
  });
  rpcServer.mount(
    "Tele.Ping",
    async ({ input }) => Result.ok({ text: (input as { text: string }).text }),
    {},
  );
  const fail = () => {
    throw new Error("kaput");
  };
  rpcServer.mount("Tele.Fail", fail, {});
  rpcServer.mount("Tele.Open", fail, {});
  await serviceConn.flush();
  client = new RpcClient({
    nc: callerConn,
    seed: callerSeed,
    clock: new ServerClock(),
    metrics: clientMetrics,
  });
});

afterAll(async () => {
  await rpcServer?.stop();
  await Promise.all([serviceConn, callerConn].map((nc) => nc?.close()));
  await server?.stop();
  trace.disable();
  context.disable();
  propagation.disable();
  await provider.shutdown();
});

beforeEach(() => {
  exporter.reset();
});

describe("tracing across an RPC", () => {
  it("propagates the trace from the client span to the server span", async () => {
    const result = await client.request("Tele.Ping", rpc["Tele.Ping"], schemas, { text: "hi" });
    expect(result.isOk()).toBe(true);
    const spans = await callSpans("Tele.Ping");
    const clientContext = spans.client.spanContext();
    expect(trace.isSpanContextValid(clientContext)).toBe(true);
    expect(spans.server.spanContext().traceId).toBe(clientContext.traceId);
    expect(spans.server.parentSpanContext?.spanId).toBe(clientContext.spanId);
    expect(spans.server.parentSpanContext?.isRemote).toBe(true);
    expect(spans.client.kind).toBe(SpanKind.CLIENT);
    expect(spans.server.kind).toBe(SpanKind.SERVER);
    for (const span of [spans.client, spans.server]) {
      expect(span.attributes).toMatchObject({
        "rpc.system": "nats",
        "rpc.method": "Tele.Ping",
        "messaging.destination": "rpc.v1.Tele.Ping",
      });
      expect(span.status.code).not.toBe(SpanStatusCode.ERROR);
    }
    expect(spans.server.attributes["auth.caller.type"]).toBe("user");
  });

  it("makes the client span a child of the caller's active span", async () => {
    const tracer = trace.getTracer("test");
    const parentContext = await tracer.startActiveSpan("caller.work", async (parent) => {
      await client.request("Tele.Ping", rpc["Tele.Ping"], schemas, { text: "nested" });
      parent.end();
      return parent.spanContext();
    });
    const spans = await callSpans("Tele.Ping");
    expect(spans.client.parentSpanContext?.spanId).toBe(parentContext.spanId);
    expect(spans.server.spanContext().traceId).toBe(parentContext.traceId);
  });

  it("puts the trace id on error replies and marks both spans failed", async () => {
    const result = await client.request("Tele.Fail", rpc["Tele.Fail"], schemas, { key: "k" });
    const error = result.isErr() ? result.error : undefined;
    expect(error).toBeInstanceOf(RemoteError);
    const spans = await callSpans("Tele.Fail");
    const traceId = spans.client.spanContext().traceId;
    expect((error as RemoteError).remoteError.traceId).toBe(traceId);
    expect((error as RemoteError).traceId).toBe(traceId);
    expect(spans.server.spanContext().traceId).toBe(traceId);
    expect(spans.server.status.code).toBe(SpanStatusCode.ERROR);
    expect(spans.client.status.code).toBe(SpanStatusCode.ERROR);
  });

  it("continues an inbound traceparent from a caller without a tracer", async () => {
    const inboundTraceId = "0af7651916cd43dd8448eb211c80319c";
    const h = natsHeaders();
    h.set("traceparent", `00-${inboundTraceId}-b7ad6b7169203331-01`);
    const msg = await callerConn.request("rpc.v1.Tele.Open", JSON.stringify({ key: "k" }), {
      headers: h,
      timeout: 2000,
    });
    expect(msg.headers?.get("status")).toBe("error");
    expect(msg.json<{ type: string; traceId?: string }>()).toMatchObject({
      type: "UnexpectedError",
      traceId: inboundTraceId,
    });
    const [serverSpan] = await vi.waitFor(() => {
      const found = spansNamed("rpc.server.Tele.Open");
      if (found.length === 0) throw new Error("not yet");
      return found;
    });
    expect(serverSpan?.spanContext().traceId).toBe(inboundTraceId);
    expect(serverSpan?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
  });
});

describe("traceIdFromTraceparent", () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const parentId = "00f067aa0ba902b7";

  it("accepts a valid traceparent", () => {
    expect(traceIdFromTraceparent(`00-${traceId}-${parentId}-01`)).toBe(traceId);
    expect(traceIdFromTraceparent(`00-${traceId}-${parentId}-00`)).toBe(traceId);
    expect(traceIdFromTraceparent(`01-${traceId}-${parentId}-01`)).toBe(traceId);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["version ff", `ff-${traceId}-${parentId}-01`],
    ["all-zero trace id", `00-${"0".repeat(32)}-${parentId}-01`],
    ["all-zero parent id", `00-${traceId}-${"0".repeat(16)}-01`],
    ["three parts", `00-${traceId}-${parentId}`],
    ["five parts", `00-${traceId}-${parentId}-01-extra`],
    ["short trace id", `00-${traceId.slice(1)}-${parentId}-01`],
    ["short parent id", `00-${traceId}-${parentId.slice(1)}-01`],
    ["non-hex trace id", `00-${traceId.slice(1)}g-${parentId}-01`],
    ["upper-case hex", `00-${traceId.toUpperCase()}-${parentId}-01`],
    ["bad version", `0-${traceId}-${parentId}-01`],
  ])("refuses %s", (_case, value) => {
    expect(traceIdFromTraceparent(value)).toBeUndefined();
  });

  it("is what traceIdOf falls back to without a valid span", () => {
    const h = natsHeaders();
    h.set("traceparent", `00-${traceId}-${parentId}-01`);
    expect(traceIdOf(undefined, h)).toBe(traceId);
    expect(
      traceIdOf(trace.wrapSpanContext({ traceId: "0".repeat(32), spanId: "0".repeat(16), traceFlags: 0 }), h),
    ).toBe(traceId);
    expect(traceIdOf(undefined, undefined)).toBeUndefined();
  });
});

describe("metrics", () => {
  it("counts RPCs by method and outcome on both sides", async () => {
    await client.request("Tele.Ping", rpc["Tele.Ping"], schemas, { text: "m" });
    await client.request("Tele.Fail", rpc["Tele.Fail"], schemas, { key: "k" });
    // The server records after replying: wait for it.
    const text = await vi.waitFor(async () => {
      const exposed = await serverMetrics.expose();
      if (!exposed.includes('trellis_rpc_requests_total{method="Tele.Fail",outcome="error"}')) {
        throw new Error("not yet");
      }
      return exposed;
    });
    expect(text).toMatch(/^trellis_rpc_requests_total\{method="Tele\.Ping",outcome="ok"\} [1-9]\d*$/m);
    expect(text).toMatch(/^trellis_rpc_duration_seconds_count\{method="Tele\.Ping"\} [1-9]\d*$/m);
    expect(text).toMatch(
      /^trellis_errors_total\{[^}]*operation="Tele\.Fail",phase="handler_throw"[^}]*\} [1-9]\d*$/m,
    );
    const clientText = await clientMetrics.expose();
    expect(clientText).toMatch(
      /^trellis_rpc_client_requests_total\{method="Tele\.Ping",outcome="ok"\} [1-9]\d*$/m,
    );
    expect(clientText).toMatch(
      /^trellis_rpc_client_requests_total\{method="Tele\.Fail",outcome="error"\} [1-9]\d*$/m,
    );
  });

  it("never exposes ids, subjects or long values as labels", async () => {
    const metrics = new Metrics();
    const id = ulid();
    const uuid = "123e4567-e89b-12d3-a456-426614174000";
    metrics.eventPublished("events.v1.Orders.Created.o-17");
    metrics.eventHandled(id, "ack");
    metrics.rpcServerRequest(`Orders.${"x".repeat(100)}`, "ok", 0.01);
    metrics.error({ type: "AuthError", surface: "rpc", direction: "server", operation: uuid, phase: "auth" });
    const text = await metrics.expose();
    expect(text).toContain('trellis_events_published_total{event="other"} 1');
    expect(text).toContain('trellis_events_handled_total{event="other",outcome="ack"} 1');
    expect(text).toContain('trellis_rpc_requests_total{method="other",outcome="ok"} 1');
    expect(text).toMatch(/trellis_errors_total\{[^}]*operation="other"[^}]*auth_reason="none"\} 1/);
    for (const leaked of [id, uuid, "events.v1", "x".repeat(97)]) expect(text).not.toContain(leaked);
  });
});
