import { CreateOrderSchema, GetOrderSchema, ListOrdersSchema, OrderCreatedSchema, OrderListSchema, OrderNotFoundErrorDataSchema, OrderSchema, RefundJobSchema, RefundOrderSchema, RefundProgressSchema, RefundSchema } from "./schemas.js";
/** The contract id. */
export const CONTRACT_ID = "example.orders@v1";
/** The contract digest. */
export const CONTRACT_DIGEST = "rUaAchrlVctDsp3bVJsl_xfJD-A_oXMluXK0TS7x89s";
/** The canonical manifest. */
export const CONTRACT = {
    "capabilities": {
        "example.orders::read": {
            "description": "List and look up orders.",
            "displayName": "Read orders"
        },
        "example.orders::write": {
            "consequence": "Orders you create are visible to every reader.",
            "description": "Create new orders and refund them.",
            "displayName": "Create and refund orders"
        }
    },
    "description": "Example service: creates, lists, looks up and refunds orders.",
    "displayName": "Orders",
    "errors": {
        "OrderNotFoundError": {
            "schema": {
                "schema": "OrderNotFoundErrorData"
            },
            "type": "OrderNotFoundError"
        }
    },
    "events": {
        "Orders.Created": {
            "capabilities": {
                "subscribe": [
                    "example.orders::read"
                ]
            },
            "event": {
                "schema": "OrderCreated"
            },
            "subject": "events.v1.Orders.Created",
            "version": "v1"
        }
    },
    "exports": {
        "schemas": [
            "Order"
        ]
    },
    "format": "trellis.contract.v1",
    "id": "example.orders@v1",
    "jobs": {
        "refunds": {
            "backoffMs": [
                1000,
                5000
            ],
            "maxDeliver": 3,
            "payload": {
                "schema": "RefundJob"
            }
        }
    },
    "kind": "service",
    "operations": {
        "Orders.Refund": {
            "cancel": true,
            "capabilities": {
                "call": [
                    "example.orders::write"
                ]
            },
            "input": {
                "schema": "RefundOrder"
            },
            "output": {
                "schema": "Refund"
            },
            "progress": {
                "schema": "RefundProgress"
            },
            "subject": "operations.v1.Orders.Refund",
            "version": "v1"
        }
    },
    "resources": {
        "kv": {
            "orders": {
                "history": 1,
                "purpose": "Orders by id",
                "required": true,
                "schema": {
                    "schema": "Order"
                },
                "ttlMs": 0
            }
        }
    },
    "rpc": {
        "Orders.Create": {
            "capabilities": {
                "call": [
                    "example.orders::write"
                ]
            },
            "input": {
                "schema": "CreateOrder"
            },
            "output": {
                "schema": "Order"
            },
            "subject": "rpc.v1.Orders.Create",
            "version": "v1"
        },
        "Orders.Get": {
            "capabilities": {
                "call": [
                    "example.orders::read"
                ]
            },
            "errors": [
                {
                    "type": "OrderNotFoundError"
                }
            ],
            "input": {
                "schema": "GetOrder"
            },
            "output": {
                "schema": "Order"
            },
            "subject": "rpc.v1.Orders.Get",
            "version": "v1"
        },
        "Orders.List": {
            "capabilities": {
                "call": [
                    "example.orders::read"
                ]
            },
            "input": {
                "schema": "ListOrders"
            },
            "output": {
                "schema": "OrderList"
            },
            "subject": "rpc.v1.Orders.List",
            "version": "v1"
        }
    },
    "uses": {
        "required": {
            "health": {
                "contract": "trellis.health@v1",
                "events": {
                    "publish": [
                        "Health.Heartbeat"
                    ]
                }
            }
        }
    },
    "schemas": {
        "CreateOrder": CreateOrderSchema,
        "GetOrder": GetOrderSchema,
        "ListOrders": ListOrdersSchema,
        "Order": OrderSchema,
        "OrderCreated": OrderCreatedSchema,
        "OrderList": OrderListSchema,
        "OrderNotFoundErrorData": OrderNotFoundErrorDataSchema,
        "Refund": RefundSchema,
        "RefundJob": RefundJobSchema,
        "RefundOrder": RefundOrderSchema,
        "RefundProgress": RefundProgressSchema
    }
};
