/**
 * The orders service's handlers. Each is a plain function of its dependencies (where orders are
 * kept, how `Orders.Created` is published, how refund jobs are enqueued, ids and time), so it can be
 * tested without NATS; {@link mountOrders} wires them to a running `TrellisService`.
 *
 * `Orders.Refund` is an operation carried out by a job: its handler checks the order and enqueues a
 * `refunds` job, then leaves the operation open (`op.defer()`); the job drives the operation by id
 * (`control(operationId)`) through its steps, so a refund survives a service restart, and stops as
 * soon as the caller cancels it.
 */
import type { BaseError, Result } from "@trellis/result";
import { Result as R } from "@trellis/result";
import {
  type Caller,
  isTerminalState,
  JobError,
  KVError,
  OperationAlreadyTerminalError,
  OperationMismatchError,
  OperationNotFoundError,
  type OperationSnapshot,
  type TrellisService,
  type TypedKV,
} from "@trellis/runtime";
import { monotonicFactory } from "ulid";
import {
  type CreateOrderInput,
  type ListOrdersInput,
  type Order,
  OrderNotFoundError,
  type ordersContract,
  type RefundJobPayload,
  type RefundOutput,
  type RefundProgressValue,
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
  /** Enqueues a `refunds` job. */
  enqueueRefund(job: RefundJobPayload): PromiseLike<Result<unknown, BaseError>>;
  /** Waits between refund steps (a real refund would call payment and stock services here). */
  pause(): Promise<void>;
  /** A new, time-ordered order id. */
  newId(): string;
  /** The current time. */
  now(): Date;
}

/** The steps of a refund, in order. */
export const REFUND_STEPS = ["reversing the payment", "restocking the items", "notifying the customer"];

/** How long the example pauses after each refund step, ms. */
export const REFUND_STEP_MS = 400;

/** What a refund job needs of the operation it carries out (a `control(id)` handle). */
export interface RefundOperation {
  /** The operation's current snapshot. */
  get(): PromiseLike<Result<OperationSnapshot<RefundOutput, RefundProgressValue>, BaseError>>;
  /** Marks it running. */
  started(): PromiseLike<Result<unknown, BaseError>>;
  /** Reports a step. */
  progress(value: RefundProgressValue): PromiseLike<Result<unknown, BaseError>>;
  /** Completes it. */
  complete(output: RefundOutput): PromiseLike<Result<unknown, BaseError>>;
  /** Fails it. */
  fail(error: BaseError): PromiseLike<Result<unknown, BaseError>>;
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

/**
 * `Orders.Refund`, the handler's part: the order must exist (otherwise the operation fails with the
 * declared `OrderNotFoundError`); then a `refunds` job is enqueued to carry the operation out.
 */
export async function startRefund(
  deps: OrdersDeps,
  input: { orderId: string },
  caller: Caller,
  operationId: string,
): Promise<Result<void, BaseError>> {
  const order = await getOrder(deps, { id: input.orderId });
  if (order.isErr()) return R.err(order.error);
  const queued = await deps.enqueueRefund({ operationId, orderId: input.orderId, refundedBy: caller.id });
  return queued.isErr() ? R.err(queued.error) : R.ok(undefined);
}

/** A change the operation refused because it already ended (it was cancelled): the job stops there. */
function ended(result: Result<unknown, BaseError>): boolean {
  return result.isErr() && result.error instanceof OperationAlreadyTerminalError;
}

/**
 * `Orders.Refund`, the job's part: runs the refund steps, reporting each as progress, then completes
 * the operation with the refund. Stops quietly (`Result.ok(undefined)`) once the operation has ended —
 * a cancel is noticed at the next step. An order that vanished fails the operation; any other error is
 * returned so the job is retried (the steps can be repeated).
 */
export async function runRefund(
  deps: OrdersDeps,
  op: RefundOperation,
  job: RefundJobPayload,
): Promise<Result<RefundOutput | undefined, BaseError>> {
  const current = await op.get();
  if (current.isErr()) return R.err(current.error);
  if (isTerminalState(current.value.state)) return R.ok(undefined);
  const order = await getOrder(deps, { id: job.orderId });
  if (order.isErr()) {
    if (!(order.error instanceof OrderNotFoundError)) return R.err(order.error);
    const failed = await op.fail(order.error);
    return failed.isErr() && !ended(failed) ? R.err(failed.error) : R.ok(undefined);
  }
  const started = await op.started();
  if (ended(started)) return R.ok(undefined);
  if (started.isErr()) return R.err(started.error);
  const total = REFUND_STEPS.length;
  for (const [done, step] of REFUND_STEPS.entries()) {
    const reported = await op.progress({ step, done, total });
    if (ended(reported)) return R.ok(undefined);
    if (reported.isErr()) return R.err(reported.error);
    await deps.pause();
  }
  const refund: RefundOutput = {
    orderId: order.value.id,
    item: order.value.item,
    quantity: order.value.quantity,
    refundedBy: job.refundedBy,
    refundedAt: deps.now().toISOString(),
  };
  const completed = await op.complete(refund);
  if (ended(completed)) return R.ok(undefined);
  return completed.isErr() ? R.err(completed.error) : R.ok(refund);
}

/** The running service's dependencies: its `orders` KV resource, its event publisher, its `refunds` queue, ULIDs, the clock. */
export function ordersDepsOf(service: TrellisService<typeof ordersContract>): OrdersDeps {
  const store = service.kv.orders as TypedKV<Order> | undefined;
  if (!store) {
    throw new Error("The service has no 'orders' KV binding; was the deployment's contract accepted?");
  }
  const newUlid = monotonicFactory();
  return {
    store: { create: (k, v) => store.create(k, v), get: (k) => store.get(k), keys: () => store.keys() },
    publishCreated: (event) => service.client.event.orders.created.publish(event),
    enqueueRefund: (job) => service.jobs.refunds.create(job),
    pause: () => new Promise((resolve) => setTimeout(resolve, REFUND_STEP_MS)),
    newId: () => newUlid(),
    now: () => new Date(),
  };
}

/** Mounts the three orders RPCs, the `Orders.Refund` operation and the `refunds` job handler on `service`. */
export function mountOrders(service: TrellisService<typeof ordersContract>, deps: OrdersDeps): void {
  service.handle.rpc.orders.create(({ input, context }) => createOrder(deps, input, context.caller));
  service.handle.rpc.orders.get(({ input }) => getOrder(deps, input));
  service.handle.rpc.orders.list(({ input }) => listOrders(deps, input));
  service.handle.operation.orders.refund(async ({ input, op, context }) => {
    const queued = await startRefund(deps, input, context.caller, op.id);
    return queued.isErr() ? R.err(queued.error) : op.defer();
  });
  service.jobs.refunds.handle(async ({ job }) => {
    const op = await service.handle.operation.orders.refund.control(job.payload.operationId);
    if (op.isErr()) {
      const gone = op.error instanceof OperationNotFoundError || op.error instanceof OperationMismatchError;
      return R.err(gone ? JobError.fatal(op.error.message, { cause: op.error }) : op.error);
    }
    return runRefund(deps, op.value, job.payload);
  });
}
