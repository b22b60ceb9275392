/**
 * The orders service's handlers. Each is a plain function of its dependencies (where orders are
 * kept, how `Orders.Created` is published, ids and time), so it can be tested without NATS;
 * {@link mountOrders} wires them to a running `TrellisService`.
 */
import type { BaseError, Result } from "@trellis/result";
import { Result as R } from "@trellis/result";
import { type Caller, KVError, type TrellisService, type TypedKV } from "@trellis/runtime";
import { monotonicFactory } from "ulid";
import {
  type CreateOrderInput,
  type ListOrdersInput,
  type Order,
  OrderNotFoundError,
  type ordersContract,
} from "./contract.js";

/** Where orders are kept: the part of the `orders` KV resource (`TypedKV<Order>`) the handlers use. */
export interface OrderStore {
  /** Writes a new order; fails when the id is taken. */
  create(key: string, value: Order): PromiseLike<Result<number, BaseError>>;
  /** Reads one order; fails with `KVError` reason `not found` when it does not exist. */
  get(key: string): PromiseLike<Result<{ value: Order }, BaseError>>;
  /** Every stored order id. */
  keys(): PromiseLike<Result<string[], BaseError>>;
}

/** What the handlers depend on. */
export interface OrdersDeps {
  /** The `orders` KV resource. */
  store: OrderStore;
  /** Publishes `Orders.Created`. */
  publishCreated(event: { order: Order }): PromiseLike<Result<unknown, BaseError>>;
  /** A new, time-ordered order id. */
  newId(): string;
  /** The current time. */
  now(): Date;
}

/** How many orders `Orders.List` returns when the caller gives no limit. */
export const DEFAULT_LIST_LIMIT = 20;

/**
 * `Orders.Create`: stores the order under a new id, then announces it with `Orders.Created`. A failed
 * publish is returned as the call's error (the order stays stored; a reader will still find it).
 */
export async function createOrder(
  deps: OrdersDeps,
  input: CreateOrderInput,
  caller: Caller,
): Promise<Result<Order, BaseError>> {
  const order: Order = {
    id: deps.newId(),
    item: input.item,
    quantity: input.quantity,
    createdBy: caller.id,
    createdAt: deps.now().toISOString(),
  };
  const stored = await deps.store.create(order.id, order);
  if (stored.isErr()) return R.err(stored.error);
  const published = await deps.publishCreated({ order });
  if (published.isErr()) return R.err(published.error);
  return R.ok(order);
}

/** `Orders.Get`: the order, or the declared `OrderNotFoundError` when no order has that id. */
export async function getOrder(deps: OrdersDeps, input: { id: string }): Promise<Result<Order, BaseError>> {
  const found = await deps.store.get(input.id);
  if (found.isOk()) return R.ok(found.value.value);
  if (found.error instanceof KVError && found.error.reason === "not found") {
    return R.err(new OrderNotFoundError({ orderId: input.id }));
  }
  return R.err(found.error);
}

/** `Orders.List`: the newest `limit` orders (default {@link DEFAULT_LIST_LIMIT}), oldest first. */
export async function listOrders(
  deps: OrdersDeps,
  input: ListOrdersInput,
): Promise<Result<{ orders: Order[] }, BaseError>> {
  const keys = await deps.store.keys();
  if (keys.isErr()) return R.err(keys.error);
  // Ids are ULIDs: sorting them sorts by creation time.
  const newest = [...keys.value].sort().slice(-(input.limit ?? DEFAULT_LIST_LIMIT));
  const orders: Order[] = [];
  for (const id of newest) {
    const found = await getOrder(deps, { id });
    if (found.isOk()) orders.push(found.value);
    // An order deleted between listing and reading is simply not listed.
    else if (!(found.error instanceof OrderNotFoundError)) return R.err(found.error);
  }
  return R.ok({ orders });
}

/** The running service's dependencies: its `orders` KV resource, its event publisher, ULIDs, the clock. */
export function ordersDepsOf(service: TrellisService<typeof ordersContract>): OrdersDeps {
  const store = service.kv.orders as TypedKV<Order> | undefined;
  if (!store) {
    throw new Error("The service has no 'orders' KV binding; was the deployment's contract accepted?");
  }
  const newUlid = monotonicFactory();
  return {
    store: { create: (k, v) => store.create(k, v), get: (k) => store.get(k), keys: () => store.keys() },
    publishCreated: (event) => service.client.event.orders.created.publish(event),
    newId: () => newUlid(),
    now: () => new Date(),
  };
}

/** Mounts the three orders RPCs on `service`. */
export function mountOrders(service: TrellisService<typeof ordersContract>, deps: OrdersDeps): void {
  service.handle.rpc.orders.create(({ input, context }) => createOrder(deps, input, context.caller));
  service.handle.rpc.orders.get(({ input }) => getOrder(deps, input));
  service.handle.rpc.orders.list(({ input }) => listOrders(deps, input));
}
