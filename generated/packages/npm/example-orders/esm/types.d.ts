import type * as Trellis from "@trellis/contracts";
import type { trellisHealth as TrellisHealthModule } from "@trellis/builtin-contracts";
/** Exported schema `Order`. */
export type Order = {
    createdAt: string;
    createdBy: string;
    id: string;
    item: string;
    quantity: number;
};
/** Input of RPC `Orders.Create`. */
export type OrdersCreateInput = {
    item: string;
    quantity: number;
};
/** Output of RPC `Orders.Create`. */
export type OrdersCreateOutput = Order;
/** Input of RPC `Orders.Get`. */
export type OrdersGetInput = {
    id: string;
};
/** Output of RPC `Orders.Get`. */
export type OrdersGetOutput = Order;
/** Input of RPC `Orders.List`. */
export type OrdersListInput = {
    limit?: number;
};
/** Output of RPC `Orders.List`. */
export type OrdersListOutput = {
    orders: Array<Order>;
};
/** Input of operation `Orders.Refund`. */
export type OrdersRefundInput = {
    orderId: string;
    reason?: string;
};
/** Progress of operation `Orders.Refund`. */
export type OrdersRefundProgress = {
    done: number;
    step: string;
    total: number;
};
/** Output of operation `Orders.Refund`. */
export type OrdersRefundOutput = {
    item: string;
    orderId: string;
    quantity: number;
    refundedAt: string;
    refundedBy: string;
};
/** Payload of event `Orders.Created`. */
export type OrdersCreatedEvent = {
    order: Order;
};
/** Declared fields of error `OrderNotFoundError`. */
export type OrderNotFoundErrorData = {
    orderId: string;
};
/** Payload of job queue `refunds`. */
export type RefundsJobPayload = {
    operationId: string;
    orderId: string;
    refundedBy: string;
};
/** The surfaces this contract owns, with their payload types. */
export type OwnedApi = {
    rpc: {
        "Orders.Create": Trellis.RpcDescriptor<OrdersCreateInput, OrdersCreateOutput, never>;
        "Orders.Get": Trellis.RpcDescriptor<OrdersGetInput, OrdersGetOutput, "OrderNotFoundError">;
        "Orders.List": Trellis.RpcDescriptor<OrdersListInput, OrdersListOutput, never>;
    };
    operations: {
        "Orders.Refund": Trellis.OperationDescriptor<OrdersRefundInput, OrdersRefundProgress, OrdersRefundOutput, Record<never, never>>;
    };
    events: {
        "Orders.Created": Trellis.EventRuntimeDescriptor<OrdersCreatedEvent>;
    };
    feeds: Record<never, never>;
};
/** The surfaces this contract uses, typed by the contracts that own them. */
export type UsedApi = {
    rpc: Record<never, never>;
    operations: Record<never, never>;
    events: Pick<(typeof TrellisHealthModule)["API"]["owned"]["events"], "Health.Heartbeat">;
    feeds: Record<never, never>;
};
/** The job queues of this contract. */
export type Jobs = {
    "refunds": Trellis.JobQueueTypes<RefundsJobPayload, RefundsJobPayload, unknown>;
};
