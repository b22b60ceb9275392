import { CreateOrderSchema, GetOrderSchema, ListOrdersSchema, OrderCreatedSchema, OrderListSchema, OrderNotFoundErrorDataSchema, OrderSchema, RefundJobSchema, RefundOrderSchema, RefundProgressSchema, RefundSchema } from "./schemas.js";
/** The contract id. */
export const CONTRACT_ID = "example.orders@v1";
/** The contract digest. */
export const CONTRACT_DIGEST = "rUaAchrlVctDsp3bVJsl_xfJD-A_oXMluXK0TS7x89s";
/** The canonical manifest. */
export const CONTRACT = {
    "format": "trellis.contract.v1",
    "id": "example.orders@v1",
    "displayName": "Orders",
    "description": "Example service: creates, lists, looks up and refunds orders.",
    "kind": "service",
    "capabilities": {
        "example.orders::read": {
            "displayName": "Read orders",
            "description": "List and look up orders."
        },
        "example.orders::write": {
            "displayName": "Create and refund orders",
            "description": "Create new orders and refund them.",
            "consequence": "Orders you create are visible to every reader."
        }
    },
    "exports": {
        "schemas": [
            "Order"
        ]
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
    "rpc": {
        "Orders.Create": {
            "version": "v1",
            "subject": "rpc.v1.Orders.Create",
            "input": {
                "schema": "CreateOrder"
            },
            "output": {
                "schema": "Order"
            },
            "capabilities": {
                "call": [
                    "example.orders::write"
                ]
            }
        },
        "Orders.Get": {
            "version": "v1",
            "subject": "rpc.v1.Orders.Get",
            "input": {
                "schema": "GetOrder"
            },
            "output": {
                "schema": "Order"
            },
            "capabilities": {
                "call": [
                    "example.orders::read"
                ]
            },
            "errors": [
                {
                    "type": "OrderNotFoundError"
                }
            ]
        },
        "Orders.List": {
            "version": "v1",
            "subject": "rpc.v1.Orders.List",
            "input": {
                "schema": "ListOrders"
            },
            "output": {
                "schema": "OrderList"
            },
            "capabilities": {
                "call": [
                    "example.orders::read"
                ]
            }
        }
    },
    "operations": {
        "Orders.Refund": {
            "version": "v1",
            "subject": "operations.v1.Orders.Refund",
            "input": {
                "schema": "RefundOrder"
            },
            "output": {
                "schema": "Refund"
            },
            "progress": {
                "schema": "RefundProgress"
            },
            "capabilities": {
                "call": [
                    "example.orders::write"
                ]
            },
            "cancel": true
        }
    },
    "events": {
        "Orders.Created": {
            "version": "v1",
            "subject": "events.v1.Orders.Created",
            "event": {
                "schema": "OrderCreated"
            },
            "capabilities": {
                "subscribe": [
                    "example.orders::read"
                ]
            }
        }
    },
    "jobs": {
        "refunds": {
            "payload": {
                "schema": "RefundJob"
            },
            "maxDeliver": 3,
            "backoffMs": [
                1000,
                5000
            ]
        }
    },
    "resources": {
        "kv": {
            "orders": {
                "purpose": "Orders by id",
                "schema": {
                    "schema": "Order"
                },
                "required": true,
                "history": 1,
                "ttlMs": 0
            }
        }
    },
    "errors": {
        "OrderNotFoundError": {
            "type": "OrderNotFoundError",
            "schema": {
                "schema": "OrderNotFoundErrorData"
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
