/**
 * The orders service contract (`example.orders@v1`): three RPCs gated by the `read` and `write`
 * capabilities, a declared error, an event announcing new orders, a KV resource holding them, and the
 * `Orders.Refund` operation (progress, cancel) carried out by the `refunds` job queue.
 */
import {
  defineError,
  defineServiceContract,
  type EventPayload,
  type OperationOutput,
  type OperationProgress,
  type RpcInput,
} from "@trellis/contracts";
import { z } from "zod";

/** One order, as stored in the `orders` KV resource and returned by the RPCs. */
export const Order = z.object({
  id: z.string().min(1),
  item: z.string().min(1).max(200),
  quantity: z.number().int().min(1).max(1000),
  createdBy: z.string().min(1),
  createdAt: z.iso.datetime(),
});

/** Input of `Orders.Create`. */
export const CreateOrder = z.object({
  item: z.string().min(1).max(200),
  quantity: z.number().int().min(1).max(1000),
});

/** Input of `Orders.Get`. */
export const GetOrder = z.object({ id: z.string().min(1).max(64) });

/** Input of `Orders.List`. */
export const ListOrders = z.object({ limit: z.number().int().min(1).max(100).optional() });

/** Output of `Orders.List`: the newest orders last. */
export const OrderList = z.object({ orders: z.array(Order) });

/** Payload of the `Orders.Created` event. */
export const OrderCreated = z.object({ order: Order });

/** Input of the `Orders.Refund` operation. */
export const RefundOrder = z.object({
  orderId: z.string().min(1).max(64),
  reason: z.string().max(200).optional(),
});

/** Progress of a refund: the step under way, `done` of `total` steps finished. */
export const RefundProgress = z.object({
  step: z.string().min(1),
  done: z.int().min(0),
  total: z.int().min(1),
});

/** Output of a completed refund. */
export const Refund = z.object({
  orderId: z.string().min(1),
  item: z.string().min(1),
  quantity: z.int().min(1),
  refundedBy: z.string().min(1),
  refundedAt: z.iso.datetime(),
});

/** Payload of a `refunds` job: the operation it carries out and the order. */
export const RefundJob = z.object({
  operationId: z.string().min(1),
  orderId: z.string().min(1),
  refundedBy: z.string().min(1),
});

/** `Orders.Get` of an id that does not exist. */
export const OrderNotFoundError = defineError({
  type: "OrderNotFoundError",
  fields: { orderId: z.string() },
  message: (data) => `Order '${data.orderId}' does not exist`,
});

/** The orders service contract module. */
export const ordersContract = defineServiceContract(
  {
    schemas: {
      Order,
      CreateOrder,
      GetOrder,
      ListOrders,
      OrderList,
      OrderCreated,
      RefundOrder,
      RefundProgress,
      Refund,
      RefundJob,
    },
    errors: { OrderNotFoundError },
  },
  (ref) => ({
    id: "example.orders@v1",
    displayName: "Orders",
    description: "Example service: creates, lists, looks up and refunds orders.",
    capabilities: {
      read: { displayName: "Read orders", description: "List and look up orders." },
      write: {
        displayName: "Create and refund orders",
        description: "Create new orders and refund them.",
        consequence: "Orders you create are visible to every reader.",
      },
    },
    exports: { schemas: ["Order"] },
    rpc: {
      "Orders.Create": {
        version: "v1",
        input: ref.schema("CreateOrder"),
        output: ref.schema("Order"),
        capabilities: { call: ["write"] },
      },
      "Orders.Get": {
        version: "v1",
        input: ref.schema("GetOrder"),
        output: ref.schema("Order"),
        capabilities: { call: ["read"] },
        errors: [ref.error("OrderNotFoundError")],
      },
      "Orders.List": {
        version: "v1",
        input: ref.schema("ListOrders"),
        output: ref.schema("OrderList"),
        capabilities: { call: ["read"] },
      },
    },
    operations: {
      "Orders.Refund": {
        version: "v1",
        input: ref.schema("RefundOrder"),
        progress: ref.schema("RefundProgress"),
        output: ref.schema("Refund"),
        capabilities: { call: ["write"] },
        cancel: true,
      },
    },
    jobs: {
      refunds: { payload: ref.schema("RefundJob"), maxDeliver: 3, backoffMs: [1000, 5000] },
    },
    events: {
      "Orders.Created": {
        version: "v1",
        event: ref.schema("OrderCreated"),
        capabilities: { subscribe: ["read"] },
      },
    },
    resources: {
      kv: {
        orders: { purpose: "Orders by id", schema: ref.schema("Order"), history: 1 },
      },
    },
  }),
);

/** The global capability keys a person needs to run the orders agent (and the demo). */
export const ORDERS_CAPABILITIES = ["example.orders::read", "example.orders::write"] as const;

/** An order. */
export type Order = z.output<typeof Order>;
/** Input of `Orders.Create`. */
export type CreateOrderInput = RpcInput<typeof ordersContract, "Orders.Create">;
/** Input of `Orders.List`. */
export type ListOrdersInput = RpcInput<typeof ordersContract, "Orders.List">;
/** Progress of `Orders.Refund`. */
export type RefundProgressValue = OperationProgress<typeof ordersContract, "Orders.Refund">;
/** Output of `Orders.Refund`. */
export type RefundOutput = OperationOutput<typeof ordersContract, "Orders.Refund">;
/** Payload of a `refunds` job. */
export type RefundJobPayload = z.output<typeof RefundJob>;
/** Payload of `Orders.Created` as declared (listeners also receive the runtime-added `header`). */
export type OrderCreatedEvent = EventPayload<typeof ordersContract, "Orders.Created">;
