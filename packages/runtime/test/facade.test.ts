import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  defineAgentContract,
  defineServiceContract,
  EVENTS_STREAM,
  EVENTS_STREAM_SUBJECTS,
} from "@trellis/contracts";
import { Result } from "@trellis/result";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  InMemorySessionAuthority,
  ProofCallerAuthenticator,
  TrellisClient,
  TrellisService,
} from "../src/index.js";

const Order = z.object({ id: z.string(), total: z.number() });
const orders = defineServiceContract(
  {
    schemas: {
      GetOrder: z.object({ id: z.string() }),
      Order,
      Watch: z.object({ count: z.number().int().min(1) }),
      Tick: z.object({ n: z.number().int() }),
      Changed: z.object({ order: Order }),
    },
  },
  (ref) => ({
    id: "orders@v1",
    displayName: "Orders",
    description: "Orders.",
    rpc: {
      "Orders.Get": { version: "v1", input: ref.schema("GetOrder"), output: ref.schema("Order") },
      "Orders.Total": { version: "v1", input: ref.schema("GetOrder"), output: ref.schema("Order") },
    },
    feeds: { "Orders.Ticks": { version: "v1", input: ref.schema("Watch"), event: ref.schema("Tick") } },
    events: {
      "Orders.Changed": { version: "v1", params: ["/order/id"], event: ref.schema("Changed") },
    },
    eventConsumers: { audit: { self: ["Orders.Changed"] } },
    resources: { kv: { cache: { purpose: "Order cache", schema: ref.schema("Order") } } },
  }),
);

const cli = defineAgentContract({}, () => ({
  id: "orders-cli@v1",
  displayName: "Orders CLI",
  description: "Reads orders.",
  uses: {
    required: {
      orders: orders.use({
        rpc: { call: ["Orders.Get"] },
        feeds: { subscribe: ["Orders.Ticks"] },
        events: { publish: ["Orders.Changed"], subscribe: ["Orders.Changed"] },
      }),
    },
  },
}));

let server: NatsServerHandle;
const connections: NatsConnection[] = [];
let service: TrellisService<typeof orders>;
let client: TrellisClient<typeof cli>;
const audited: string[] = [];

async function participant(seed: string) {
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
  });
  connections.push(nc);
  return nc;
}

beforeAll(async () => {
  server = await startNatsServer();
  const admin = await connect({ servers: server.url });
  connections.push(admin);
  // The platform's part: the event stream, the KV bucket and the durable consumer.
  const jsm = await jetstreamManager(admin);
  await jsm.streams.add({ name: EVENTS_STREAM, subjects: [EVENTS_STREAM_SUBJECTS] });
  await jsm.consumers.add(EVENTS_STREAM, {
    durable_name: "orders-audit",
    ack_policy: "explicit" as never,
    filter_subjects: ["events.v1.Orders.Changed.*"],
  });
  await new Kvm(admin).create("svc_orders_cache", { history: 1 });

  const authority = new InMemorySessionAuthority();
  const serviceSeed = generateSessionSeed();
  const callerSeed = generateSessionSeed();
  const callerKey = sessionKeyFromSeed(callerSeed);
  const serviceKey = sessionKeyFromSeed(serviceSeed);
  authority.register(serviceKey, {
    caller: { type: "service", id: "orders", capabilities: ["service"] },
    inboxPrefix: `_INBOX.${serviceKey.slice(0, 16)}`,
  });
  authority.register(callerKey, {
    caller: { type: "user", id: "usr_1", capabilities: [] },
    inboxPrefix: `_INBOX.${callerKey.slice(0, 16)}`,
  });

  service = await TrellisService.open({
    nc: await participant(serviceSeed),
    contract: orders,
    name: "orders",
    sessionKeySeed: serviceSeed,
    authenticator: new ProofCallerAuthenticator({ authority }),
    bindings: {
      kv: { cache: { bucket: "svc_orders_cache", history: 1, ttlMs: 0 } },
      eventConsumers: { audit: { stream: EVENTS_STREAM, consumerName: "orders-audit" } },
    },
    heartbeat: false,
    logger: false,
  });
  await service.kv.cache!.put("o1", { id: "o1", total: 12 });
  service.handle.rpc.orders.get(async ({ input, context }) => {
    expectTypeOf(input).toEqualTypeOf<{ id: string }>();
    expect(context.caller.id).toBe("usr_1");
    const cached = await service.kv.cache!.get(input.id);
    return cached.isOk()
      ? Result.ok(cached.value.value as { id: string; total: number })
      : Result.err(cached.error);
  });
  service.with({ taxRate: 0.5 }).handle.rpc.orders.total(async ({ input, deps }) => {
    expectTypeOf(deps).toEqualTypeOf<{ taxRate: number }>();
    return Result.ok({ id: input.id, total: 10 * (1 + deps.taxRate) });
  });
  service.handle.feed.orders.ticks(async ({ input, emit }) => {
    for (let n = 1; n <= input.count; n++) emit({ n });
    return Result.ok(undefined);
  });
  service.event.orders.changed.listen(async (event) => {
    audited.push(event.order.id);
  });
  await service.start();

  client = TrellisClient.open({
    nc: await participant(callerSeed),
    contract: cli,
    sessionKeySeed: callerSeed,
    logger: false,
  });
});

afterAll(async () => {
  await service?.stop();
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await server?.stop();
});

describe("typed facade", () => {
  it("calls a used RPC through client.rpc.<group>.<leaf>", async () => {
    const result = await client.rpc.orders.get({ id: "o1" });
    expectTypeOf(result.isOk() ? result.value : undefined).toEqualTypeOf<
      { id: string; total: number } | undefined
    >();
    expect(result.isOk() && result.value).toEqual({ id: "o1", total: 12 });
  });

  it("passes deps to handlers registered through service.with(deps)", async () => {
    const result = await service.client.rpc.orders.total({ id: "o2" });
    expect(result.isOk() && result.value).toEqual({ id: "o2", total: 15 });
  });

  it("hides surfaces the caller did not select", () => {
    // @ts-expect-error Orders.Total is not selected by the CLI contract
    expect(client.rpc.orders.total).toBeUndefined();
  });

  it("subscribes to a feed", async () => {
    const subscription = await client.feed.orders.ticks({ count: 3 });
    expect(subscription.isOk()).toBe(true);
    const ticks: number[] = [];
    if (subscription.isOk()) for await (const tick of subscription.value) ticks.push(tick.n);
    expect(ticks).toEqual([1, 2, 3]);
  });

  it("publishes an event that a durable group handles and a live listener sees", async () => {
    const seen: string[] = [];
    const controller = new AbortController();
    await client.event.orders.changed.listen((event) => void seen.push(event.order.id), {
      signal: controller.signal,
    });
    const ack = await client.event.orders.changed.publish({ order: { id: "o7", total: 1 } });
    expect(ack.isOk()).toBe(true);
    const deadline = Date.now() + 5000;
    while ((!audited.includes("o7") || !seen.includes("o7")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    controller.abort();
    expect(audited).toContain("o7");
    expect(seen).toContain("o7");
  });

  it("refuses to publish an invalid event", async () => {
    // @ts-expect-error total must be a number
    const result = await client.event.orders.changed.publish({ order: { id: "o8", total: "x" } });
    expect(result.isErr()).toBe(true);
  });
});
