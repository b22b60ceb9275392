import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  ContractDefinitionError,
  type ContractModule,
  ContractValidationError,
  canonicalizeJson,
  defineAgentContract,
  defineAppContract,
  defineDeviceContract,
  defineError,
  defineServiceContract,
  digestContractManifest,
  type EventPayload,
  type OperationInput,
  type OperationProgress,
  parseContractManifest,
  type RpcErrorType,
  type RpcInput,
  type RpcOutput,
} from "./index.js";

const NotFoundError = defineError({
  type: "NotFoundError",
  fields: { orderId: z.string() },
  message: (data) => `order ${data.orderId} not found`,
});

const GetOrder = z.object({ id: z.string() });
const Order = z.object({ id: z.string(), total: z.number(), note: z.string().optional() });

function ordersContract() {
  return defineServiceContract(
    {
      schemas: {
        GetOrder,
        Order,
        Refund: z.object({ orderId: z.string() }),
        RefundProgress: z.object({ pct: z.number().int() }),
        Approve: z.object({ by: z.string() }),
        OrderChanged: z.object({ order: z.object({ id: z.string() }) }),
      },
      errors: { NotFoundError },
    },
    (ref) => ({
      id: "orders@v1",
      displayName: "Orders",
      description: "Order RPCs, refunds and change events.",
      capabilities: {
        read: { displayName: "Read orders", description: "View orders." },
        refund: { displayName: "Refund orders", description: "Start refunds.", consequence: "Moves money." },
      },
      exports: { schemas: ["Order"] },
      rpc: {
        "Orders.Get": {
          version: "v1",
          input: ref.schema("GetOrder"),
          output: ref.schema("Order"),
          capabilities: { call: ["read", "read"] },
          errors: [ref.error("ValidationError"), ref.error("NotFoundError")],
        },
      },
      operations: {
        "Orders.Refund": {
          version: "v1",
          input: ref.schema("Refund"),
          progress: ref.schema("RefundProgress"),
          output: ref.schema("Order"),
          capabilities: { call: ["refund"], observe: ["read"] },
          signals: { approve: { input: ref.schema("Approve") } },
          cancel: true,
        },
      },
      events: {
        "Orders.Changed": {
          version: "v1",
          params: ["/order/id"],
          event: ref.schema("OrderChanged"),
          capabilities: { subscribe: ["read"] },
        },
      },
      jobs: { reindex: { payload: ref.schema("GetOrder"), maxDeliver: 3 } },
      resources: { kv: { cache: { purpose: "Order cache", schema: ref.schema("Order") } } },
    }),
  );
}

describe("defineServiceContract", () => {
  it("emits a normalized manifest with projected capabilities, defaults and sorted lists", () => {
    const orders = ordersContract();
    const m = orders.CONTRACT;
    expect(orders.CONTRACT_ID).toBe("orders@v1");
    expect(m.kind).toBe("service");
    expect(Object.keys(m.capabilities ?? {})).toEqual(["orders::read", "orders::refund"]);
    expect(m.rpc?.["Orders.Get"]).toMatchObject({
      subject: "rpc.v1.Orders.Get",
      capabilities: { call: ["orders::read"] },
      errors: [{ type: "NotFoundError" }, { type: "ValidationError" }],
    });
    expect(m.operations?.["Orders.Refund"]?.subject).toBe("operations.v1.Orders.Refund");
    expect(m.events?.["Orders.Changed"]?.subject).toBe("events.v1.Orders.Changed.{/order/id}");
    expect(m.resources?.kv?.cache).toMatchObject({ required: true, history: 1, ttlMs: 0 });
    expect(m.jobs?.reindex).toEqual({ payload: { schema: "GetOrder" }, maxDeliver: 3 });
    expect(m.uses?.required?.health).toEqual({
      contract: "trellis.health@v1",
      events: { publish: ["Health.Heartbeat"] },
    });
    expect(m.errors?.NotFoundError).toEqual({
      type: "NotFoundError",
      schema: { schema: "NotFoundErrorData" },
    });
  });

  it("round-trips: the manifest parses, the digest is stable and no schema has $ref or $schema", () => {
    const first = ordersContract();
    const second = ordersContract();
    expect(first.CONTRACT_DIGEST).toBe(second.CONTRACT_DIGEST);
    const reparsed = parseContractManifest(JSON.parse(JSON.stringify(first.CONTRACT)));
    expect(digestContractManifest(reparsed)).toBe(first.CONTRACT_DIGEST);
    expect(canonicalizeJson(reparsed)).toBe(canonicalizeJson(first.CONTRACT));
    const text = JSON.stringify(first.CONTRACT.schemas);
    expect(text).not.toContain("$ref");
    expect(text).not.toContain("$schema");
  });

  it("derives runtime descriptors", () => {
    const orders = ordersContract();
    expect(orders.API.owned.rpc["Orders.Get"]).toMatchObject({
      subject: "rpc.v1.Orders.Get",
      callerCapabilities: ["orders::read"],
      authRequired: true,
      declaredErrorTypes: ["NotFoundError", "ValidationError"],
    });
    expect(orders.API.owned.rpc["Orders.Get"].runtimeErrors.NotFoundError).toBe(NotFoundError);
    expect(orders.API.owned.operations["Orders.Refund"]).toMatchObject({
      controlSubject: "operations.v1.Orders.Refund.control",
      callerCapabilities: ["orders::refund"],
      observeCapabilities: ["orders::read"],
      cancel: true,
    });
  });

  it("infers payload types from the module", () => {
    const orders = ordersContract();
    type M = typeof orders;
    expectTypeOf<RpcInput<M, "Orders.Get">>().toEqualTypeOf<{ id: string }>();
    expectTypeOf<RpcOutput<M, "Orders.Get">>().toEqualTypeOf<{
      id: string;
      total: number;
      note?: string | undefined;
    }>();
    expectTypeOf<RpcErrorType<M, "Orders.Get">>().toEqualTypeOf<"NotFoundError" | "ValidationError">();
    expectTypeOf<OperationInput<M, "Orders.Refund">>().toEqualTypeOf<{ orderId: string }>();
    expectTypeOf<OperationProgress<M, "Orders.Refund">>().toEqualTypeOf<{ pct: number }>();
    expectTypeOf<EventPayload<M, "Orders.Changed">>().toEqualTypeOf<{ order: { id: string } }>();
    expectTypeOf(orders).toMatchTypeOf<ContractModule>();
  });

  it("types and resolves used surfaces through use()", () => {
    const orders = ordersContract();
    const agent = defineAgentContract({}, () => ({
      id: "orders-cli@v1",
      displayName: "Orders CLI",
      description: "Looks up orders.",
      uses: {
        required: {
          orders: orders.use({ rpc: { call: ["Orders.Get"] }, events: { subscribe: ["Orders.Changed"] } }),
        },
      },
    }));
    expect(agent.CONTRACT.kind).toBe("agent");
    expect(agent.CONTRACT.uses?.required?.auth?.rpc?.call).toEqual([
      "Auth.Sessions.Logout",
      "Auth.Sessions.Me",
    ]);
    expect(agent.API.used.rpc["Orders.Get"]?.subject).toBe("rpc.v1.Orders.Get");
    expect(agent.API.trellis.events["Orders.Changed"]?.subject).toBe("events.v1.Orders.Changed.{/order/id}");
    expectTypeOf<RpcInput<typeof agent, "Orders.Get">>().toEqualTypeOf<{ id: string }>();
    // @ts-expect-error Orders.Missing is not exposed by the orders contract
    expect(() => orders.use({ rpc: { call: ["Orders.Missing"] } })).toThrow(
      "Contract 'orders@v1' does not expose rpc key 'Orders.Missing'",
    );
  });
});

describe("authoring refusals", () => {
  it("refuses a use without provenance", () => {
    expect(() =>
      defineAppContract({}, () => ({
        id: "web@v1",
        displayName: "Web",
        description: "Web app.",
        uses: { required: { orders: { contract: "orders@v1", rpc: { call: ["Orders.Get"] } } } },
      })),
    ).toThrow("Contract use 'orders' must be created with contractModule.use(...)");
  });

  it("refuses an undeclared local capability", () => {
    expect(() =>
      defineServiceContract({ schemas: { A: z.object({}) } }, (ref) => ({
        id: "svc@v1",
        displayName: "Svc",
        description: "Svc.",
        rpc: {
          "A.Do": {
            version: "v1",
            input: ref.schema("A"),
            output: ref.schema("A"),
            capabilities: { call: ["nope"] },
          },
        },
      })),
    ).toThrow("rpc 'A.Do' call capabilities references undeclared local capability 'nope'");
  });

  it("refuses a recursive schema, naming it", () => {
    const Node = z.object({
      name: z.string(),
      get children() {
        return z.array(Node);
      },
    });
    expect(() =>
      defineServiceContract({ schemas: { Node } }, (ref) => ({
        id: "tree@v1",
        displayName: "Tree",
        description: "Tree.",
        rpc: { "Tree.Get": { version: "v1", input: ref.schema("Node"), output: ref.schema("Node") } },
      })),
    ).toThrow(/schema 'Node' is recursive/);
  });

  it("refuses an unrepresentable schema, naming it", () => {
    expect(() =>
      defineServiceContract({ schemas: { Big: z.object({ n: z.bigint() }) } }, (ref) => ({
        id: "big@v1",
        displayName: "Big",
        description: "Big.",
        rpc: { "Big.Get": { version: "v1", input: ref.schema("Big"), output: ref.schema("Big") } },
      })),
    ).toThrow(ContractDefinitionError);
  });

  it("reports manifest rule violations found after emission", () => {
    expect(() =>
      defineServiceContract({ schemas: { E: z.object({ flag: z.boolean() }) } }, (ref) => ({
        id: "ev@v1",
        displayName: "Ev",
        description: "Ev.",
        events: { "Ev.Changed": { version: "v1", params: ["/flag"], event: ref.schema("E") } },
      })),
    ).toThrow(ContractValidationError);
  });

  it("refuses resources on devices", () => {
    expect(() =>
      defineDeviceContract({}, () => ({ id: "dev@v1", displayName: "Dev", description: "Dev." })),
    ).not.toThrow();
  });
});
