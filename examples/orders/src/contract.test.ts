import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import {
  type ContractManifest,
  canonicalizeJson,
  deriveCallerPermissions,
  deriveServicePermissions,
  digestContractManifest,
  type EventPayload,
  type OperationInput,
  type OperationOutput,
  type RpcErrorType,
  type RpcInput,
  type RpcOutput,
  validateContractManifest,
} from "@trellis/contracts";
import { describe, expect, expectTypeOf, it } from "vitest";
import { ordersAgentContract } from "./agent-contract.js";
import { ORDERS_CAPABILITIES, type Order, ordersContract, type RefundOutput } from "./contract.js";

/** Resolves the builtin contracts and the orders service, as the catalog would once it is deployed. */
function resolver(...extra: ContractManifest[]) {
  const known = new Map<string, ContractManifest>(
    [...BUILTIN_CONTRACTS.map((module) => module.CONTRACT), ...extra].map((manifest) => [
      manifest.id,
      manifest,
    ]),
  );
  return (id: string) => known.get(id);
}

const SESSION_KEY = "A".repeat(43);

describe("example.orders@v1", () => {
  it("is a valid manifest whose JSON round trip keeps the digest", () => {
    const wire = JSON.parse(JSON.stringify(ordersContract.CONTRACT));
    const validated = validateContractManifest(wire);
    expect(validated.isOk()).toBe(true);
    expect(digestContractManifest(validated.unwrap())).toBe(ordersContract.CONTRACT_DIGEST);
    expect(canonicalizeJson(validated.unwrap())).toBe(canonicalizeJson(ordersContract.CONTRACT));
  });

  it("has a stable digest", () => {
    expect(ordersContract.CONTRACT_DIGEST).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(digestContractManifest(structuredClone(ordersContract.CONTRACT))).toBe(
      ordersContract.CONTRACT_DIGEST,
    );
  });

  it("globalizes its capabilities and gates each RPC and the event with them", () => {
    const m = ordersContract.CONTRACT;
    expect(Object.keys(m.capabilities ?? {}).sort()).toEqual([...ORDERS_CAPABILITIES]);
    expect(m.rpc?.["Orders.Create"]?.capabilities?.call).toEqual(["example.orders::write"]);
    expect(m.rpc?.["Orders.Get"]?.capabilities?.call).toEqual(["example.orders::read"]);
    expect(m.rpc?.["Orders.List"]?.capabilities?.call).toEqual(["example.orders::read"]);
    expect(m.events?.["Orders.Created"]?.capabilities?.subscribe).toEqual(["example.orders::read"]);
    expect(m.events?.["Orders.Created"]?.subject).toBe("events.v1.Orders.Created");
  });

  it("declares OrderNotFoundError on Orders.Get, the orders KV resource and the health baseline", () => {
    const m = ordersContract.CONTRACT;
    expect(m.kind).toBe("service");
    expect(m.rpc?.["Orders.Get"]?.errors).toEqual([{ type: "OrderNotFoundError" }]);
    expect(m.errors?.OrderNotFoundError?.type).toBe("OrderNotFoundError");
    expect(m.resources?.kv?.orders).toMatchObject({
      schema: { schema: "Order" },
      history: 1,
      required: true,
    });
    expect(m.uses?.required?.health).toEqual({
      contract: "trellis.health@v1",
      events: { publish: ["Health.Heartbeat"] },
    });
    expectTypeOf<RpcErrorType<typeof ordersContract, "Orders.Get">>().toEqualTypeOf<"OrderNotFoundError">();
    expectTypeOf<RpcOutput<typeof ordersContract, "Orders.Get">>().toEqualTypeOf<Order>();
    expectTypeOf<EventPayload<typeof ordersContract, "Orders.Created">>().toEqualTypeOf<{ order: Order }>();
  });

  it("declares Orders.Refund (write, progress, cancelable) and the refunds job queue that carries it out", () => {
    const m = ordersContract.CONTRACT;
    expect(m.operations?.["Orders.Refund"]).toMatchObject({
      subject: "operations.v1.Orders.Refund",
      input: { schema: "RefundOrder" },
      progress: { schema: "RefundProgress" },
      output: { schema: "Refund" },
      capabilities: { call: ["example.orders::write"] },
      cancel: true,
    });
    expect(m.jobs?.refunds).toMatchObject({ payload: { schema: "RefundJob" }, maxDeliver: 3 });
    expectTypeOf<OperationInput<typeof ordersContract, "Orders.Refund">>().toEqualTypeOf<{
      orderId: string;
      reason?: string | undefined;
    }>();
    expectTypeOf<OperationOutput<typeof ordersContract, "Orders.Refund">>().toEqualTypeOf<RefundOutput>();
  });

  it("grants the service its RPC subjects and its event, with every use resolved", () => {
    const permissions = deriveServicePermissions({
      contract: ordersContract.CONTRACT,
      resolveContract: resolver(),
      sessionKey: SESSION_KEY,
    });
    expect(permissions.unresolved).toEqual([]);
    const subscribed = permissions.subscribe.map((rule) => rule.subject);
    expect(subscribed).toEqual(
      expect.arrayContaining([
        "rpc.v1.Orders.Create",
        "rpc.v1.Orders.Get",
        "rpc.v1.Orders.List",
        "operations.v1.Orders.Refund",
        "operations.v1.Orders.Refund.control",
      ]),
    );
    expect(permissions.publish.map((rule) => rule.subject)).toEqual(
      expect.arrayContaining(["events.v1.Orders.Created", "events.v1.Health.Heartbeat"]),
    );
  });
});

describe("example.orders-agent@v1", () => {
  it("is a valid agent manifest with the auth baseline and the orders use", () => {
    const m = ordersAgentContract.CONTRACT;
    expect(validateContractManifest(JSON.parse(JSON.stringify(m))).isOk()).toBe(true);
    expect(m.kind).toBe("agent");
    expect(m.uses?.required?.orders).toEqual({
      contract: "example.orders@v1",
      rpc: { call: ["Orders.Create", "Orders.Get", "Orders.List"] },
      operations: { call: ["Orders.Refund"] },
      events: { subscribe: ["Orders.Created"] },
    });
    expect(m.uses?.required?.auth?.contract).toBe("trellis.auth@v1");
  });

  it("resolves its uses against the service: each subject carries the service's capabilities", () => {
    const permissions = deriveCallerPermissions({
      contract: ordersAgentContract.CONTRACT,
      resolveContract: resolver(ordersContract.CONTRACT),
      sessionKey: SESSION_KEY,
    });
    expect(permissions.unresolved).toEqual([]);
    const publish = Object.fromEntries(
      permissions.publish.map((rule) => [rule.subject, rule.requiredCapabilities]),
    );
    expect(publish["rpc.v1.Orders.Create"]).toEqual(["example.orders::write"]);
    expect(publish["rpc.v1.Orders.Get"]).toEqual(["example.orders::read"]);
    expect(publish["rpc.v1.Orders.List"]).toEqual(["example.orders::read"]);
    expect(publish["operations.v1.Orders.Refund"]).toEqual(["example.orders::write"]);
    expect(publish["operations.v1.Orders.Refund.control"]).toEqual(["example.orders::write"]);
    const subscribe = Object.fromEntries(
      permissions.subscribe.map((rule) => [rule.subject, rule.requiredCapabilities]),
    );
    expect(subscribe["events.v1.Orders.Created"]).toEqual(["example.orders::read"]);
  });

  it("does not resolve without the service in the catalog", () => {
    const permissions = deriveCallerPermissions({
      contract: ordersAgentContract.CONTRACT,
      resolveContract: resolver(),
      sessionKey: SESSION_KEY,
    });
    expect(permissions.unresolved).toEqual([
      { alias: "orders", contractId: "example.orders@v1", optional: false, reason: "unknown" },
    ]);
    expect(permissions.publish.some((rule) => rule.subject.startsWith("rpc.v1.Orders."))).toBe(false);
  });

  it("types the service's RPCs and event through the use", () => {
    expect(ordersAgentContract.API.used.rpc["Orders.Get"]?.declaredErrorTypes).toEqual([
      "OrderNotFoundError",
    ]);
    expectTypeOf<RpcInput<typeof ordersAgentContract, "Orders.Create">>().toEqualTypeOf<{
      item: string;
      quantity: number;
    }>();
    expectTypeOf<RpcOutput<typeof ordersAgentContract, "Orders.List">>().toEqualTypeOf<{ orders: Order[] }>();
  });
});
