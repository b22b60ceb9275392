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
});

describe("baseline uses and emission defaults (§7, §5.5)", () => {
  const health = () =>
    defineServiceContract({ schemas: { Beat: z.object({ at: z.string() }) } }, (ref) => ({
      id: "trellis.health@v1",
      displayName: "Health",
      description: "Heartbeats.",
      events: { "Health.Heartbeat": { version: "v1", event: ref.schema("Beat") } },
    }));

  it("gives services the health heartbeat, except trellis.health itself", () => {
    expect(health().CONTRACT.uses).toBeUndefined();
    expect(ordersContract().CONTRACT.uses?.required?.health?.events?.publish).toEqual(["Health.Heartbeat"]);
  });

  it("gives app, agent and device contracts the auth baseline, and devices the heartbeat", () => {
    const body = { displayName: "X", description: "X." };
    const app = defineAppContract({}, () => ({ id: "web@v1", ...body }));
    const device = defineDeviceContract({}, () => ({ id: "sensor@v1", ...body }));
    expect(app.CONTRACT.uses?.required?.auth).toEqual({
      contract: "trellis.auth@v1",
      rpc: { call: ["Auth.Sessions.Logout", "Auth.Sessions.Me"] },
    });
    expect(app.CONTRACT.uses?.required?.health).toBeUndefined();
    expect(device.CONTRACT.uses?.required?.auth).toBeDefined();
    expect(device.CONTRACT.uses?.required?.health).toBeDefined();
  });

  it("adds the state baseline to any contract that declares state", () => {
    const app = defineAppContract({ schemas: { Prefs: z.object({ theme: z.string() }) } }, (ref) => ({
      id: "web@v1",
      displayName: "Web",
      description: "Web.",
      state: { prefs: { kind: "value", schema: ref.schema("Prefs") } },
    }));
    expect(app.CONTRACT.uses?.required?.state).toEqual({
      contract: "trellis.state@v1",
      rpc: { call: ["State.Delete", "State.Get", "State.List", "State.Put"] },
    });
  });

  it("merges the baseline into an explicit alias of the same name, and refuses a different contract", () => {
    const beat = health();
    const merged = defineServiceContract({}, () => ({
      id: "svc@v1",
      displayName: "Svc",
      description: "Svc.",
      uses: { required: { health: beat.use({ events: { subscribe: ["Health.Heartbeat"] } }) } },
    }));
    expect(merged.CONTRACT.uses?.required?.health).toEqual({
      contract: "trellis.health@v1",
      events: { publish: ["Health.Heartbeat"], subscribe: ["Health.Heartbeat"] },
    });
    const orders = ordersContract();
    expect(() =>
      defineServiceContract({}, () => ({
        id: "svc@v1",
        displayName: "Svc",
        description: "Svc.",
        uses: { required: { health: orders.use({ rpc: { call: ["Orders.Get"] } }) } },
      })),
    ).toThrow("Contract use 'health' references both 'orders@v1' and 'trellis.health@v1'");
  });

  it("drops an optional alias shadowed by a required one and sorts selectors", () => {
    const orders = ordersContract();
    const agent = defineAgentContract({}, () => ({
      id: "cli@v1",
      displayName: "CLI",
      description: "CLI.",
      uses: {
        required: {
          orders: orders.use({ events: { subscribe: ["Orders.Changed"] }, rpc: { call: ["Orders.Get"] } }),
        },
        optional: {
          orders: orders.use({ operations: { call: ["Orders.Refund"] } }),
          auth: orders.use({ rpc: { call: ["Orders.Get"] } }),
        },
      },
    }));
    expect(agent.CONTRACT.uses?.optional).toBeUndefined();
    expect(agent.CONTRACT.uses?.required?.orders).toEqual({
      contract: "orders@v1",
      rpc: { call: ["Orders.Get"] },
      events: { subscribe: ["Orders.Changed"] },
    });
  });

  it("writes store and event consumer defaults, and none for jobs", () => {
    const files = defineServiceContract(
      { schemas: { Upload: z.object({ key: z.string() }), Done: z.object({ ok: z.boolean() }) } },
      (ref) => ({
        id: "files@v1",
        displayName: "Files",
        description: "Files.",
        events: { "Files.Stored": { version: "v1", event: ref.schema("Done") } },
        operations: {
          "Files.Upload": {
            version: "v1",
            input: ref.schema("Upload"),
            output: ref.schema("Done"),
            transfer: { direction: "send", store: "blobs", key: "/key" },
          },
        },
        jobs: { scan: { payload: ref.schema("Upload") } },
        eventConsumers: { audit: { self: ["Files.Stored", "Files.Stored"] } },
        resources: { store: { blobs: { purpose: "Uploaded files" } } },
      }),
    );
    expect(files.CONTRACT.resources?.store?.blobs).toEqual({
      purpose: "Uploaded files",
      required: true,
      ttlMs: 0,
    });
    expect(files.CONTRACT.eventConsumers?.audit).toEqual({
      self: ["Files.Stored"],
      replay: "new",
      ordering: "strict",
      concurrency: 1,
    });
    expect(files.CONTRACT.jobs?.scan).toEqual({ payload: { schema: "Upload" } });
  });

  it("refuses a transfer pointer that is not in the input schema", () => {
    expect(() =>
      defineServiceContract({ schemas: { Upload: z.object({ key: z.string() }) } }, (ref) => ({
        id: "files@v1",
        displayName: "Files",
        description: "Files.",
        operations: {
          "Files.Upload": {
            version: "v1",
            input: ref.schema("Upload"),
            output: ref.schema("Upload"),
            transfer: { direction: "send", store: "blobs", key: "/name" },
          },
        },
        resources: { store: { blobs: { purpose: "Uploaded files" } } },
      })),
    ).toThrow(
      "Invalid transfer pointer '/name' for operation 'Files.Upload' (path not found in input schema)",
    );
  });
});

describe("more authoring refusals (§10)", () => {
  const body = { displayName: "X", description: "X." };

  it("refuses a local capability with the namespace prefix", () => {
    expect(() =>
      defineServiceContract({}, () => ({
        id: "trellis.core@v1",
        ...body,
        capabilities: { "core.read": { displayName: "R", description: "R." } },
      })),
    ).toThrow("local capability 'core.read' must not start with contract namespace prefix 'core.'");
  });

  it("refuses exports or capabilities in the registry argument", () => {
    expect(() =>
      defineServiceContract({ capabilities: {} } as never, () => ({ id: "x@v1", ...body })),
    ).toThrow("contract capabilities must be declared in the callback body, not the registry argument");
  });

  it("refuses ref.schema without a registry", () => {
    expect(() =>
      defineServiceContract({}, (ref) => ({
        id: "x@v1",
        ...body,
        events: { "X.Happened": { version: "v1", event: ref.schema("Nope" as never) } },
      })),
    ).toThrow("Contract builder ref.schema('Nope') requires a schemas registry");
  });

  it("refuses an unknown error on an RPC", () => {
    expect(() =>
      defineServiceContract({ schemas: { A: z.object({}) } }, (ref) => ({
        id: "x@v1",
        ...body,
        rpc: {
          "X.Do": {
            version: "v1",
            input: ref.schema("A"),
            output: ref.schema("A"),
            errors: ["GhostError" as never],
          },
        },
      })),
    ).toThrow("rpc 'X.Do' references unknown error 'GhostError'");
  });

  it("refuses a schema whose input and output views differ when used both ways", () => {
    expect(() =>
      defineServiceContract({ schemas: { A: z.object({ n: z.number().default(1) }) } }, (ref) => ({
        id: "x@v1",
        ...body,
        rpc: { "X.Do": { version: "v1", input: ref.schema("A"), output: ref.schema("A") } },
      })),
    ).toThrow(/schema 'A' is used both as an input and as an output/);
  });

  it("refuses a used key that the contract also owns", () => {
    const orders = ordersContract();
    expect(() =>
      defineServiceContract({ schemas: { A: z.object({}) } }, (ref) => ({
        id: "x@v1",
        ...body,
        uses: { required: { orders: orders.use({ rpc: { call: ["Orders.Get"] } }) } },
        rpc: {
          "Orders.Get": {
            version: "v1",
            subject: "rpc.v1.Orders.Get2",
            input: ref.schema("A"),
            output: ref.schema("A"),
          },
        },
      })),
    ).toThrow("Duplicate rpc key 'Orders.Get' while deriving contract API");
  });

  it("refuses resources on device contracts", () => {
    expect(() =>
      defineDeviceContract(
        {},
        () => ({ id: "dev@v1", ...body, resources: { store: { s: { purpose: "p" } } } }) as never,
      ),
    ).toThrow("device contracts may not declare resources");
  });
});

describe("defineError", () => {
  it("refuses reserved field names", () => {
    for (const field of ["id", "type", "message", "context", "traceId", "cause"]) {
      expect(() => defineError({ type: "X", fields: { [field]: z.string() }, message: "x" })).toThrow(
        `Defined error field '${field}' is reserved`,
      );
    }
  });

  it("serializes and rebuilds with its typed data", () => {
    const error = new NotFoundError({ orderId: "o1" }, { context: { shard: 2 } });
    expect(error.name).toBe("NotFoundError");
    expect(error.message).toBe("order o1 not found");
    const wire = error.toSerializable();
    expect(wire).toMatchObject({
      type: "NotFoundError",
      message: "order o1 not found",
      orderId: "o1",
      context: { shard: 2 },
    });
    const back = NotFoundError.fromSerializable(JSON.parse(JSON.stringify(wire)));
    expect(back).toBeInstanceOf(NotFoundError);
    expect(back.data).toEqual({ orderId: "o1" });
    expect(back.id).toBe(error.id);
    expect(() => NotFoundError.fromSerializable({ ...wire, orderId: 7 })).toThrow();
  });
});
