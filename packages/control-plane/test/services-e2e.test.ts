/**
 * Services on the real stack (nats-server with the auth callout, the control plane on a SQLite file,
 * real HTTP): deployments and instances created over `Auth.*`, services bootstrapped in-process with
 * `TrellisService.connect`, apps signed in through the portal.
 *
 * 1. A service calls another through `uses` (and waits with `contract_activation_pending` until it is active).
 * 2. A KV resource is created by reconciliation and used with typed values.
 * 3. A session whose app contract lacks a capability is refused with `insufficient_permissions`.
 * 4. A revoked session is refused by a service within one second.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { defineAppContract, defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import {
  AuthError,
  type Caller,
  KVError,
  RemoteError,
  RpcClient,
  SchemaSet,
  ServerClock,
  TransportError,
  type TrellisService,
  type TypedKV,
  ValidationError,
} from "@trellis/runtime";
import { sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Order, ordersContract } from "../../../examples/orders/src/contract.js";
import { mountOrders, ordersDepsOf } from "../../../examples/orders/src/service.js";
import { OWNER_METADATA_KEY } from "../src/authority/resources.js";
import { signIn } from "./support/platform-sign-in.js";
import {
  acceptPlansUntil,
  capturingLogger,
  connectServicesAdmin,
  connectTrellisAccount,
  deployContract,
  eventually,
  inboxPrefixOfSeed,
  ok,
  postServiceBootstrap,
  type ServicesAdmin,
  startService,
} from "./support/services.js";

// --- contracts -------------------------------------------------------------------------------

const Quote = z.object({ item: z.string(), cents: z.number().int() });

/** Service B: quotes prices, gated by `quote`. */
const pricingContract = defineServiceContract(
  { schemas: { QuoteRequest: z.object({ item: z.string().min(1).max(50) }), Quote } },
  (ref) => ({
    id: "e2e.pricing@v1",
    displayName: "Pricing",
    description: "Quotes prices of items.",
    capabilities: { quote: { displayName: "Quote prices", description: "Ask for the price of an item." } },
    rpc: {
      "Pricing.Quote": {
        version: "v1",
        input: ref.schema("QuoteRequest"),
        output: ref.schema("Quote"),
        capabilities: { call: ["quote"] },
      },
    },
  }),
);

/** Service A: totals a cart by asking pricing for each item (`uses.required`). */
const checkoutContract = defineServiceContract(
  {
    schemas: {
      Cart: z.object({ items: z.array(z.string().min(1).max(50)).min(1).max(10) }),
      Total: z.object({ cents: z.number().int(), lines: z.array(Quote) }),
    },
  },
  (ref) => ({
    id: "e2e.checkout@v1",
    displayName: "Checkout",
    description: "Totals carts.",
    capabilities: { buy: { displayName: "Check out", description: "Total a cart." } },
    uses: { required: { pricing: pricingContract.use({ rpc: { call: ["Pricing.Quote"] } }) } },
    rpc: {
      "Checkout.Total": {
        version: "v1",
        input: ref.schema("Cart"),
        output: ref.schema("Total"),
        capabilities: { call: ["buy"] },
      },
    },
  }),
);

/** The shopper's app: totals carts. */
const shopperApp = defineAppContract({}, () => ({
  id: "e2e.shopper@v1",
  displayName: "Shopper",
  description: "Totals carts at checkout.",
  uses: { required: { checkout: checkoutContract.use({ rpc: { call: ["Checkout.Total"] } }) } },
}));

/** Reads orders only: its contract does not ask for `write`. */
const ordersReaderApp = defineAppContract({}, () => ({
  id: "e2e.orders-reader@v1",
  displayName: "Orders reader",
  description: "Lists and reads orders.",
  uses: { required: { orders: ordersContract.use({ rpc: { call: ["Orders.List", "Orders.Get"] } }) } },
}));

/** Creates orders: its contract asks for `write`. */
const ordersWriterApp = defineAppContract({}, () => ({
  id: "e2e.orders-writer@v1",
  displayName: "Orders writer",
  description: "Creates and reads orders.",
  uses: { required: { orders: ordersContract.use({ rpc: { call: ["Orders.Create", "Orders.Get"] } }) } },
}));

const CREATE = "Orders.Create";
const createDescriptor = ordersContract.API.owned.rpc[CREATE];
const ordersSchemas = SchemaSet.of(ordersContract.CONTRACT);

// --- platform --------------------------------------------------------------------------------

const PASSWORD = "services-e2e-password-1";
const USERS = {
  shopper: ["e2e.checkout::buy"],
  writer: ["example.orders::read", "example.orders::write"],
  reader: ["example.orders::read"],
} as const;

let platform: PlatformHandle;
let admin: ServicesAdmin;
/** The orders service of sections 2–4 (a `strict` deployment). */
let orders: TrellisService<typeof ordersContract>;
/** The writer's session of the writer app (holds `write`). */
let writer: Awaited<ReturnType<typeof signIn<typeof ordersWriterApp>>>;
const cleanups: (() => Promise<unknown>)[] = [];

/**
 * The reason of an auth refusal: an `AuthError`, or a `RemoteError` carrying one (a method that does
 * not declare `AuthError` gets it as a `RemoteError`, runtime spec §0.1).
 */
function authReason(error: unknown): unknown {
  if (error instanceof AuthError) return error.reason;
  if (error instanceof RemoteError && error.remoteError.type === "AuthError") return error.remoteError.reason;
  return error;
}

function closeLater(nc: NatsConnection): void {
  cleanups.push(() => nc.close());
}

function stopLater(service: { stop(): Promise<void> }): void {
  cleanups.push(() => service.stop());
}

/** Signs `user` in with `contract`; the connection is closed after the tests. */
async function session<M extends Parameters<typeof signIn>[1]>(contract: M, user: keyof typeof USERS) {
  const client = await signIn(platform, contract, user, PASSWORD);
  closeLater(client.nc);
  return client;
}

/** `Orders.Create` signed with `seed` and sent over `nc` (whose NATS permissions let it through). */
function createOrderAs(nc: NatsConnection, seed: string, input: { item: string; quantity: number }) {
  const rpc = new RpcClient({ nc, seed, clock: new ServerClock(), noResponderRetries: 0 });
  return rpc.request<Order>(CREATE, createDescriptor, ordersSchemas, input, { timeoutMs: 5000 });
}

beforeAll(async () => {
  platform = await startPlatform();
  for (const [username, capabilities] of Object.entries(USERS)) {
    await platform.createUser({ username, password: PASSWORD, capabilities: [...capabilities] });
  }
  admin = await connectServicesAdmin(platform);
  closeLater(admin.nc);

  const trellis = await connectTrellisAccount(platform);
  closeLater(trellis);
  const jsm = await jetstreamManager(trellis);
  // Reconciliation, not the test, creates the bucket: it does not exist before the deployment.
  await expect(jsm.streams.info("KV_svc_orders_orders")).rejects.toThrow(/stream not found/i);

  const instance = await deployContract(admin, {
    deploymentId: "orders",
    namespaces: ["Orders"],
    mode: "strict",
  });
  const starting = startService(platform, {
    contract: ordersContract,
    instance,
    name: "orders",
    mount: (service) => mountOrders(service, ordersDepsOf(service)),
  });
  const accepted = await acceptPlansUntil(admin, "orders", starting);
  orders = await starting;
  stopLater(orders);
  expect(accepted.length).toBeGreaterThanOrEqual(1);

  writer = await session(ordersWriterApp, "writer");
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await platform?.stop();
});

// --- 1 ---------------------------------------------------------------------------------------

describe("a service calls another through uses", () => {
  it("waits with contract_activation_pending until its dependency is active, then serves calls that reach the dependency", async () => {
    const seen: { pricing: Caller[]; checkout: Caller[] } = { pricing: [], checkout: [] };

    // A (checkout) is deployed first; B (pricing) does not exist yet.
    const checkoutInstance = await deployContract(admin, {
      deploymentId: "checkout",
      namespaces: ["Checkout"],
      mode: "mutable-dev",
    });
    const { logger, records } = capturingLogger();
    const checkoutStarting = startService(platform, {
      contract: checkoutContract,
      instance: checkoutInstance,
      name: "checkout",
      logger,
      mount: (service) =>
        service.handle.rpc.checkout.total(async ({ input, context, client }) => {
          seen.checkout.push(context.caller);
          const lines: z.output<typeof Quote>[] = [];
          for (const item of input.items) {
            const quote = await client.rpc.pricing.quote({ item });
            if (quote.isErr()) return Result.err(quote.error);
            lines.push(quote.value);
          }
          return Result.ok({ cents: lines.reduce((sum, line) => sum + line.cents, 0), lines });
        }),
    });
    let checkoutReady = false;
    checkoutStarting.then(
      (service) => {
        checkoutReady = true;
        stopLater(service);
      },
      () => undefined,
    );

    const waiting = await eventually("checkout to report contract_activation_pending", () =>
      records.find((record) => record.reason === "contract_activation_pending"),
    );
    expect(String(waiting.detail)).toContain("e2e.pricing@v1");
    // The endpoint answers the same to anyone presenting A's contract: 202 with Retry-After.
    const probe = await postServiceBootstrap(platform, checkoutContract, checkoutInstance.seed);
    expect(probe.status).toBe(202);
    expect(probe.body.reason).toBe("contract_activation_pending");
    expect(Number(probe.retryAfter)).toBeGreaterThanOrEqual(0);
    expect(checkoutReady).toBe(false);

    // B is deployed (strict: the admin accepts its plan) and starts.
    const pricingInstance = await deployContract(admin, {
      deploymentId: "pricing",
      namespaces: ["Pricing"],
      mode: "strict",
    });
    const pricingStarting = startService(platform, {
      contract: pricingContract,
      instance: pricingInstance,
      name: "pricing",
      mount: (service) =>
        service.handle.rpc.pricing.quote(({ input, context }) => {
          seen.pricing.push(context.caller);
          return Result.ok({ item: input.item, cents: input.item.length * 100 });
        }),
    });
    expect(await acceptPlansUntil(admin, "pricing", pricingStarting)).toHaveLength(1);
    stopLater(await pricingStarting);

    // A proceeds on its own once B is active.
    const checkout = await Promise.race([
      checkoutStarting,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("checkout did not become ready within 20 s")), 20_000),
      ),
    ]);
    expect(checkout.client.nc.isClosed()).toBe(false);
    expect(records.some((record) => record.reason === "authority_update_required")).toBe(false);

    const shopper = await session(shopperApp, "shopper");
    const total = await shopper.rpc.checkout.total({ items: ["apple", "kiwi"] });
    expect(total.isOk() && total.value).toEqual({
      cents: 900,
      lines: [
        { item: "apple", cents: 500 },
        { item: "kiwi", cents: 400 },
      ],
    });
    expect(seen.checkout.map((caller) => caller.type)).toEqual(["user"]);
    // Pricing was called by the checkout service itself, with the capability its use of pricing grants.
    expect(seen.pricing).toHaveLength(2);
    for (const caller of seen.pricing) {
      expect(caller).toMatchObject({ type: "service", id: "checkout" });
      expect(caller.capabilities).toContain("e2e.pricing::quote");
    }

    // The shopper's own session cannot reach pricing: its contract does not use it.
    const direct = await new RpcClient({
      nc: shopper.nc,
      seed: shopper.sessionKeySeed,
      clock: new ServerClock(),
      noResponderRetries: 0,
    }).request(
      "Pricing.Quote",
      pricingContract.API.owned.rpc["Pricing.Quote"],
      SchemaSet.of(pricingContract.CONTRACT),
      { item: "apple" },
      { timeoutMs: 3000 },
    );
    expect(direct.isErr()).toBe(true);
    expect(direct.isErr() && direct.error).toBeInstanceOf(TransportError);
    expect(direct.isErr() && (direct.error as TransportError).code).toBe("trellis.request.denied");
    expect(seen.pricing).toHaveLength(2);
  }, 90_000);
});

// --- 2 ---------------------------------------------------------------------------------------

describe("a KV resource created by reconciliation", () => {
  it("is materialized for the deployment with the contract's settings", async () => {
    const { authority, materializedAuthority } = ok(
      await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "orders" }),
      "Auth.DeploymentAuthority.Get",
    );
    expect(materializedAuthority).toMatchObject({ status: "current", desiredVersion: authority.version });
    expect(authority.desiredState.resources).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: "kv", alias: "orders" })]),
    );
    const binding = materializedAuthority?.resourceBindings.find(
      (entry) => entry.kind === "kv" && entry.alias === "orders",
    );
    expect(binding?.binding).toMatchObject({ bucket: "svc_orders_orders", history: 1 });
    expect(orders.kv.orders?.bucket).toBe("svc_orders_orders");

    const trellis = await connectTrellisAccount(platform);
    closeLater(trellis);
    const stream = await (await jetstreamManager(trellis)).streams.info("KV_svc_orders_orders");
    expect(stream.config.max_msgs_per_subject).toBe(1);
    expect(stream.config.metadata?.[OWNER_METADATA_KEY]).toBe("orders");
  });

  it("stores and reads typed values, and refuses values that fail the schema", async () => {
    const store = orders.kv.orders as TypedKV<Order>;
    const order: Order = {
      id: "kv-typed-1",
      item: "tea",
      quantity: 3,
      createdBy: "usr_test",
      createdAt: new Date().toISOString(),
    };
    const revision = await store.put(order.id, order);
    expect(revision.isOk()).toBe(true);
    const read = await store.get(order.id);
    expect(read.isOk() && read.value.value).toEqual(order);

    // A write that fails the schema is refused before it reaches the bucket.
    const invalid = { ...order, id: "kv-typed-2", quantity: 0, createdAt: "yesterday" };
    const refused = await store.put(invalid.id, invalid);
    expect(refused.isErr() && refused.error).toBeInstanceOf(ValidationError);
    const missing = await store.get(invalid.id);
    expect(missing.isErr() && missing.error).toBeInstanceOf(KVError);
    expect(missing.isErr() && (missing.error as KVError).reason).toBe("not found");

    // A value that got into the bucket around the schema is refused when read.
    const trellis = await connectTrellisAccount(platform);
    closeLater(trellis);
    const raw = await new Kvm(trellis).open("svc_orders_orders");
    await raw.put("kv-raw-1", JSON.stringify({ id: "kv-raw-1", quantity: "many" }));
    try {
      const rawRead = await store.get("kv-raw-1");
      expect(rawRead.isErr() && rawRead.error).toBeInstanceOf(ValidationError);
    } finally {
      // Orders.List reads every key: the other tests need a bucket of valid orders.
      await raw.purge("kv-raw-1");
    }
  });

  it("backs the service's RPCs: an order created by a caller is in the bucket", async () => {
    const created = await writer.rpc.orders.create({ item: "coffee", quantity: 2 });
    expect(created.isOk()).toBe(true);
    const order = created.isOk() ? created.value : undefined;
    expect(order).toMatchObject({ item: "coffee", quantity: 2 });
    const stored = await (orders.kv.orders as TypedKV<Order>).get(order?.id ?? "");
    expect(stored.isOk() && stored.value.value).toEqual(order);
    const fetched = await writer.rpc.orders.get({ id: order?.id ?? "" });
    expect(fetched.isOk() && fetched.value).toEqual(order);
  });
});

// --- 3 ---------------------------------------------------------------------------------------

describe("capabilities of app sessions", () => {
  it("an app holding the capability succeeds; a session whose contract lacks it is refused with insufficient_permissions", async () => {
    // The writer app holds `write`.
    const created = await writer.rpc.orders.create({ item: "bread", quantity: 1 });
    expect(created.isOk()).toBe(true);

    // The same person signs in with the reader app: its contract does not ask for `write`.
    const reader = await session(ordersReaderApp, "writer");
    const listed = await reader.rpc.orders.list({});
    expect(listed.isOk()).toBe(true);

    // NATS itself refuses the reader app's connection to publish Orders.Create …
    const own = await createOrderAs(reader.nc, reader.sessionKeySeed, { item: "cake", quantity: 1 });
    expect(own.isErr() && own.error).toBeInstanceOf(TransportError);
    expect(own.isErr() && (own.error as TransportError).code).toBe("trellis.request.denied");

    // … and the service refuses a request signed by the reader app's session that reached it anyway
    // (carried by the writer app's connection): warm session, answered from the service's cache.
    const warm = await createOrderAs(writer.nc, reader.sessionKeySeed, { item: "cake", quantity: 1 });
    expect(warm.isErr() && authReason(warm.error)).toBe("insufficient_permissions");

    // A session the service has never seen goes through Auth.Requests.Validate: refused too.
    const cold = await session(ordersReaderApp, "writer");
    const refused = await createOrderAs(writer.nc, cold.sessionKeySeed, { item: "pie", quantity: 1 });
    expect(refused.isErr() && authReason(refused.error)).toBe("insufficient_permissions");

    // Nothing was written by the refused calls.
    const all = await writer.rpc.orders.get({ id: created.isOk() ? created.value.id : "" });
    expect(all.isOk()).toBe(true);
    const list = await reader.rpc.orders.list({ limit: 100 });
    expect(list.isOk() && list.value.orders.map((order) => order.item)).not.toContain("cake");
    expect(list.isOk() && list.value.orders.map((order) => order.item)).not.toContain("pie");
  }, 60_000);
});

// --- 4 ---------------------------------------------------------------------------------------

describe("revocation reaches services", () => {
  it("refuses a revoked session within one second of Auth.Sessions.Revoke", async () => {
    const reader = await session(ordersReaderApp, "reader");
    const sessionKey = sessionKeyFromSeed(reader.sessionKeySeed);
    // Warm: the service has validated this session.
    expect((await reader.rpc.orders.list({})).isOk()).toBe(true);

    // The session's requests can also arrive over another connection using its reply inbox (the
    // revocation kicks the session's own connection, so this is how its next request reaches the
    // service). Before the revocation it is served from the warm cache.
    const carrier = await connectTrellisAccount(platform, {
      inboxPrefix: inboxPrefixOfSeed(reader.sessionKeySeed),
    });
    closeLater(carrier);
    const rpc = new RpcClient({
      nc: carrier,
      seed: reader.sessionKeySeed,
      clock: new ServerClock(),
      noResponderRetries: 0,
    });
    const listDescriptor = ordersContract.API.owned.rpc["Orders.List"];
    const list = () => rpc.request(`Orders.List`, listDescriptor, ordersSchemas, {}, { timeoutMs: 2000 });
    expect((await list()).isOk()).toBe(true);

    ok(await admin.rpc.auth.sessionsRevoke({ sessionKey }), "Auth.Sessions.Revoke");
    const revokedAt = Date.now();
    let outcome = await list();
    while (outcome.isOk() && Date.now() - revokedAt < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      outcome = await list();
    }
    const elapsed = Date.now() - revokedAt;
    expect(outcome.isErr() && authReason(outcome.error)).toBe("session_not_found");
    expect(elapsed).toBeLessThan(1000);
    // And it stays refused.
    const again = await list();
    expect(again.isErr() && authReason(again.error)).toBe("session_not_found");
  }, 60_000);
});
