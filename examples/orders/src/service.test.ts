import { type BaseError, Result } from "@trellis/result";
import {
  type Caller,
  KVError,
  OperationAlreadyTerminalError,
  type OperationState,
  TransportError,
} from "@trellis/runtime";
import { describe, expect, it } from "vitest";
import {
  Order,
  OrderNotFoundError,
  type RefundJobPayload,
  type RefundOutput,
  type RefundProgressValue,
} from "./contract.js";
import {
  createOrder,
  DEFAULT_LIST_LIMIT,
  getOrder,
  listOrders,
  type OrderStore,
  type OrdersDeps,
  REFUND_STEPS,
  type RefundOperation,
  runRefund,
  startRefund,
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
  const enqueued: RefundJobPayload[] = [];
  const deps: OrdersDeps = {
    store,
    publishCreated: async (event) => {
      if (publishFails) return Result.err(new TransportError("trellis.request.unavailable", "no stream"));
      published.push(event);
      return Result.ok(undefined);
    },
    enqueueRefund: async (job) => {
      if (store.down) return Result.err(new TransportError("trellis.request.unavailable", "no queue"));
      enqueued.push(job);
      return Result.ok(undefined);
    },
    pause: async () => undefined,
    newId: () => `01ORDER${String(++next).padStart(4, "0")}`,
    now: () => new Date("2025-01-02T03:04:05.000Z"),
  };
  return { store, published, enqueued, deps, failPublish: () => (publishFails = true) };
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

/** An operation handle in memory: records what the job did, and can be cancelled after a step. */
class FakeRefund implements RefundOperation {
  state: OperationState = "pending";
  readonly log: string[] = [];
  output: RefundOutput | undefined;
  error: BaseError | undefined;

  constructor(private readonly cancelAfterStep?: number) {}

  private change(entry: string, next: OperationState): Result<unknown, BaseError> {
    if (["completed", "failed", "cancelled"].includes(this.state)) {
      return Result.err(new OperationAlreadyTerminalError("op-1", { state: this.state }));
    }
    this.log.push(entry);
    this.state = next;
    return Result.ok(undefined);
  }

  async get() {
    return Result.ok({
      id: "op-1",
      service: "orders",
      operation: "Orders.Refund",
      revision: this.log.length + 1,
      state: this.state,
      createdAt: "2025-01-02T03:04:05.000Z",
      updatedAt: "2025-01-02T03:04:05.000Z",
    });
  }

  async started() {
    return this.change("started", "running");
  }

  async progress(value: RefundProgressValue) {
    const changed = this.change(`${value.done + 1}/${value.total} ${value.step}`, "running");
    if (this.cancelAfterStep === value.done) this.state = "cancelled";
    return changed;
  }

  async complete(output: RefundOutput) {
    this.output = output;
    return this.change("completed", "completed");
  }

  async fail(error: BaseError) {
    this.error = error;
    return this.change(`failed: ${error.name}`, "failed");
  }
}

describe("refunds", () => {
  it("startRefund enqueues a job for an existing order, and refuses an unknown one", async () => {
    const { deps, enqueued } = setup();
    const order = (await createOrder(deps, { item: "tea", quantity: 3 }, alice)).unwrap();
    expect((await startRefund(deps, { orderId: order.id }, alice, "op-1")).isOk()).toBe(true);
    expect(enqueued).toEqual([{ operationId: "op-1", orderId: order.id, refundedBy: "usr_alice" }]);
    const unknown = await startRefund(deps, { orderId: "nope" }, alice, "op-2");
    expect(unknown.isErr() && unknown.error).toBeInstanceOf(OrderNotFoundError);
    expect(enqueued).toHaveLength(1);
  });

  it("runRefund reports every step, then completes the operation with the refund", async () => {
    const { deps } = setup();
    const order = (await createOrder(deps, { item: "tea", quantity: 3 }, alice)).unwrap();
    const op = new FakeRefund();
    const job = { operationId: "op-1", orderId: order.id, refundedBy: "usr_alice" };
    const result = await runRefund(deps, op, job);
    expect(op.log).toEqual([
      "started",
      ...REFUND_STEPS.map((step, n) => `${n + 1}/${REFUND_STEPS.length} ${step}`),
      "completed",
    ]);
    expect(op.output).toEqual({
      orderId: order.id,
      item: "tea",
      quantity: 3,
      refundedBy: "usr_alice",
      refundedAt: "2025-01-02T03:04:05.000Z",
    });
    expect(result.unwrap()).toEqual(op.output);
  });

  it("runRefund stops at the next step once the operation is cancelled, and does nothing for an ended one", async () => {
    const { deps } = setup();
    const order = (await createOrder(deps, { item: "tea", quantity: 3 }, alice)).unwrap();
    const job = { operationId: "op-1", orderId: order.id, refundedBy: "usr_alice" };
    const cancelled = new FakeRefund(0);
    expect((await runRefund(deps, cancelled, job)).unwrap()).toBeUndefined();
    expect(cancelled.log).toEqual(["started", `1/${REFUND_STEPS.length} ${REFUND_STEPS[0]}`]);
    expect(cancelled.state).toBe("cancelled");
    const done = new FakeRefund();
    done.state = "completed";
    expect((await runRefund(deps, done, job)).unwrap()).toBeUndefined();
    expect(done.log).toEqual([]);
  });

  it("runRefund fails the operation when the order is gone, and returns other failures for a retry", async () => {
    const { store, deps } = setup();
    const gone = new FakeRefund();
    const job = { operationId: "op-1", orderId: "nope", refundedBy: "usr_alice" };
    expect((await runRefund(deps, gone, job)).isOk()).toBe(true);
    expect(gone.error).toBeInstanceOf(OrderNotFoundError);
    expect(gone.state).toBe("failed");
    store.down = true;
    const flaky = new FakeRefund();
    const retried = await runRefund(deps, flaky, job);
    expect(retried.isErr() && retried.error).toBeInstanceOf(KVError);
    expect(flaky.state).toBe("pending");
  });
});
