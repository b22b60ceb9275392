import { type BaseError, Result } from "@trellis/result";
import { type Caller, KVError, TransportError } from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import { Order, OrderNotFoundError } from "./contract.js";
import {
  createOrder,
  DEFAULT_LIST_LIMIT,
  getOrder,
  listOrders,
  type OrderStore,
  type OrdersDeps,
} from "./service.js";

/** An in-memory `OrderStore` with the failure modes of the KV resource. */
class MemoryStore implements OrderStore {
  readonly values = new Map<string, Order>();
  /** Set to make every call fail like an unreachable bucket. */
  down = false;

  async create(key: string, value: Order): Promise<Result<number, BaseError>> {
    if (this.down) return Result.err(new KVError("bucket unavailable", { operation: "create" }));
    if (this.values.has(key)) {
      return Result.err(
        new KVError(`Key '${key}' already exists`, { operation: "create", reason: "exists" }),
      );
    }
    this.values.set(key, value);
    return Result.ok(this.values.size);
  }

  async get(key: string): Promise<Result<{ value: Order }, BaseError>> {
    if (this.down) return Result.err(new KVError("bucket unavailable", { operation: "get" }));
    const value = this.values.get(key);
    if (!value)
      return Result.err(new KVError(`Key '${key}' not found`, { operation: "get", reason: "not found" }));
    return Result.ok({ value });
  }

  async keys(): Promise<Result<string[], BaseError>> {
    if (this.down) return Result.err(new KVError("bucket unavailable", { operation: "keys" }));
    return Result.ok([...this.values.keys()]);
  }
}

const alice: Caller = { type: "user", id: "usr_alice", capabilities: ["example.orders::write"] };

function setup() {
  const store = new MemoryStore();
  const published: { order: Order }[] = [];
  let publishFails = false;
  let next = 0;
  const deps: OrdersDeps = {
    store,
    publishCreated: async (event) => {
      if (publishFails) return Result.err(new TransportError("trellis.request.unavailable", "no stream"));
      published.push(event);
      return Result.ok(undefined);
    },
    newId: () => `01ORDER${String(++next).padStart(4, "0")}`,
    now: () => new Date("2025-01-02T03:04:05.000Z"),
  };
  return { store, published, deps, failPublish: () => (publishFails = true) };
}

describe("createOrder", () => {
  it("stores a valid order under a new id and announces it", async () => {
    const { store, published, deps } = setup();
    const result = await createOrder(deps, { item: "coffee beans", quantity: 2 }, alice);
    const order = result.unwrap();
    expect(order).toEqual({
      id: "01ORDER0001",
      item: "coffee beans",
      quantity: 2,
      createdBy: "usr_alice",
      createdAt: "2025-01-02T03:04:05.000Z",
    });
    expect(Order.safeParse(order).success).toBe(true);
    expect(store.values.get("01ORDER0001")).toEqual(order);
    expect(published).toEqual([{ order }]);
  });

  it("returns the store's error and announces nothing when the order cannot be stored", async () => {
    const { store, published, deps } = setup();
    store.down = true;
    const result = await createOrder(deps, { item: "tea", quantity: 1 }, alice);
    expect(result.isErr() && result.error).toBeInstanceOf(KVError);
    expect(published).toEqual([]);
  });

  it("refuses an id that is already taken", async () => {
    const { deps } = setup();
    const sameId = { ...deps, newId: () => "01FIXED" };
    expect((await createOrder(sameId, { item: "tea", quantity: 1 }, alice)).isOk()).toBe(true);
    const second = await createOrder(sameId, { item: "tea", quantity: 1 }, alice);
    expect(second.isErr() && (second.error as KVError).reason).toBe("exists");
  });

  it("returns a failed publish as the call's error, the order staying stored", async () => {
    const { store, deps, failPublish } = setup();
    failPublish();
    const result = await createOrder(deps, { item: "tea", quantity: 1 }, alice);
    expect(result.isErr() && result.error).toBeInstanceOf(TransportError);
    expect(store.values.size).toBe(1);
  });
});

describe("getOrder", () => {
  it("returns a stored order", async () => {
    const { deps } = setup();
    const order = (await createOrder(deps, { item: "tea", quantity: 3 }, alice)).unwrap();
    expect((await getOrder(deps, { id: order.id })).unwrap()).toEqual(order);
  });

  it("answers the declared OrderNotFoundError for an unknown id", async () => {
    const { deps } = setup();
    const result = await getOrder(deps, { id: "nope" });
    expect(result.isErr()).toBe(true);
    const error = result.isErr() ? result.error : undefined;
    expect(error).toBeInstanceOf(OrderNotFoundError);
    expect(error?.message).toBe("Order 'nope' does not exist");
    expect(error?.toSerializable()).toMatchObject({ type: "OrderNotFoundError", orderId: "nope" });
  });

  it("passes other store failures through unchanged", async () => {
    const { store, deps } = setup();
    store.down = true;
    const result = await getOrder(deps, { id: "any" });
    expect(result.isErr() && result.error).toBeInstanceOf(KVError);
    expect(result.isErr() && result.error).not.toBeInstanceOf(OrderNotFoundError);
  });
});

describe("listOrders", () => {
  it("lists the newest orders, oldest first, up to the limit", async () => {
    const { deps } = setup();
    const created: Order[] = [];
    for (let n = 1; n <= DEFAULT_LIST_LIMIT + 2; n++) {
      created.push((await createOrder(deps, { item: `item ${n}`, quantity: n }, alice)).unwrap());
    }
    const all = (await listOrders(deps, {})).unwrap().orders;
    expect(all).toEqual(created.slice(2));
    const three = (await listOrders(deps, { limit: 3 })).unwrap().orders;
    expect(three.map((order) => order.item)).toEqual([
      `item ${DEFAULT_LIST_LIMIT}`,
      `item ${DEFAULT_LIST_LIMIT + 1}`,
      `item ${DEFAULT_LIST_LIMIT + 2}`,
    ]);
  });

  it("is empty when there are no orders", async () => {
    const { deps } = setup();
    expect((await listOrders(deps, {})).unwrap()).toEqual({ orders: [] });
  });

  it("skips an order deleted between listing and reading", async () => {
    const { store, deps } = setup();
    const kept = (await createOrder(deps, { item: "kept", quantity: 1 }, alice)).unwrap();
    const racing: OrderStore = {
      create: (k, v) => store.create(k, v),
      get: (k) => store.get(k),
      keys: async () => Result.ok([kept.id, "01GONE"]),
    };
    expect((await listOrders({ ...deps, store: racing }, {})).unwrap()).toEqual({ orders: [kept] });
  });

  it("returns the store's error when the keys cannot be read", async () => {
    const { store, deps } = setup();
    store.down = true;
    const result = await listOrders(deps, {});
    expect(result.isErr() && result.error).toBeInstanceOf(KVError);
  });
});
