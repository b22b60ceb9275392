/** JSON Schema `CreateOrder`. */
export declare const CreateOrderSchema: {
    readonly type: "object";
    readonly properties: {
        readonly item: {
            readonly type: "string";
            readonly minLength: 1;
            readonly maxLength: 200;
        };
        readonly quantity: {
            readonly type: "integer";
            readonly minimum: 1;
            readonly maximum: 1000;
        };
    };
    readonly required: readonly ["item", "quantity"];
};
/** JSON Schema `GetOrder`. */
export declare const GetOrderSchema: {
    readonly type: "object";
    readonly properties: {
        readonly id: {
            readonly type: "string";
            readonly minLength: 1;
            readonly maxLength: 64;
        };
    };
    readonly required: readonly ["id"];
};
/** JSON Schema `ListOrders`. */
export declare const ListOrdersSchema: {
    readonly type: "object";
    readonly properties: {
        readonly limit: {
            readonly type: "integer";
            readonly minimum: 1;
            readonly maximum: 100;
        };
    };
};
/** JSON Schema `Order`. */
export declare const OrderSchema: {
    readonly type: "object";
    readonly properties: {
        readonly id: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly item: {
            readonly type: "string";
            readonly minLength: 1;
            readonly maxLength: 200;
        };
        readonly quantity: {
            readonly type: "integer";
            readonly minimum: 1;
            readonly maximum: 1000;
        };
        readonly createdBy: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly createdAt: {
            readonly type: "string";
            readonly format: "date-time";
            readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
        };
    };
    readonly required: readonly ["id", "item", "quantity", "createdBy", "createdAt"];
};
/** JSON Schema `OrderCreated`. */
export declare const OrderCreatedSchema: {
    readonly type: "object";
    readonly properties: {
        readonly order: {
            readonly type: "object";
            readonly properties: {
                readonly id: {
                    readonly type: "string";
                    readonly minLength: 1;
                };
                readonly item: {
                    readonly type: "string";
                    readonly minLength: 1;
                    readonly maxLength: 200;
                };
                readonly quantity: {
                    readonly type: "integer";
                    readonly minimum: 1;
                    readonly maximum: 1000;
                };
                readonly createdBy: {
                    readonly type: "string";
                    readonly minLength: 1;
                };
                readonly createdAt: {
                    readonly type: "string";
                    readonly format: "date-time";
                    readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
                };
            };
            readonly required: readonly ["id", "item", "quantity", "createdBy", "createdAt"];
        };
    };
    readonly required: readonly ["order"];
};
/** JSON Schema `OrderList`. */
export declare const OrderListSchema: {
    readonly type: "object";
    readonly properties: {
        readonly orders: {
            readonly type: "array";
            readonly items: {
                readonly type: "object";
                readonly properties: {
                    readonly id: {
                        readonly type: "string";
                        readonly minLength: 1;
                    };
                    readonly item: {
                        readonly type: "string";
                        readonly minLength: 1;
                        readonly maxLength: 200;
                    };
                    readonly quantity: {
                        readonly type: "integer";
                        readonly minimum: 1;
                        readonly maximum: 1000;
                    };
                    readonly createdBy: {
                        readonly type: "string";
                        readonly minLength: 1;
                    };
                    readonly createdAt: {
                        readonly type: "string";
                        readonly format: "date-time";
                        readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
                    };
                };
                readonly required: readonly ["id", "item", "quantity", "createdBy", "createdAt"];
            };
        };
    };
    readonly required: readonly ["orders"];
};
/** JSON Schema `OrderNotFoundErrorData`. */
export declare const OrderNotFoundErrorDataSchema: {
    readonly type: "object";
    readonly properties: {
        readonly id: {
            readonly type: "string";
        };
        readonly type: {
            readonly type: "string";
            readonly const: "OrderNotFoundError";
        };
        readonly message: {
            readonly type: "string";
        };
        readonly context: {
            readonly type: "object";
            readonly propertyNames: {
                readonly type: "string";
            };
            readonly additionalProperties: {};
        };
        readonly traceId: {
            readonly type: "string";
        };
        readonly orderId: {
            readonly type: "string";
        };
    };
    readonly required: readonly ["id", "type", "message", "orderId"];
};
/** JSON Schema `Refund`. */
export declare const RefundSchema: {
    readonly type: "object";
    readonly properties: {
        readonly orderId: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly item: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly quantity: {
            readonly type: "integer";
            readonly minimum: 1;
            readonly maximum: 9007199254740991;
        };
        readonly refundedBy: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly refundedAt: {
            readonly type: "string";
            readonly format: "date-time";
            readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
        };
    };
    readonly required: readonly ["orderId", "item", "quantity", "refundedBy", "refundedAt"];
};
/** JSON Schema `RefundJob`. */
export declare const RefundJobSchema: {
    readonly type: "object";
    readonly properties: {
        readonly operationId: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly orderId: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly refundedBy: {
            readonly type: "string";
            readonly minLength: 1;
        };
    };
    readonly required: readonly ["operationId", "orderId", "refundedBy"];
};
/** JSON Schema `RefundOrder`. */
export declare const RefundOrderSchema: {
    readonly type: "object";
    readonly properties: {
        readonly orderId: {
            readonly type: "string";
            readonly minLength: 1;
            readonly maxLength: 64;
        };
        readonly reason: {
            readonly type: "string";
            readonly maxLength: 200;
        };
    };
    readonly required: readonly ["orderId"];
};
/** JSON Schema `RefundProgress`. */
export declare const RefundProgressSchema: {
    readonly type: "object";
    readonly properties: {
        readonly step: {
            readonly type: "string";
            readonly minLength: 1;
        };
        readonly done: {
            readonly type: "integer";
            readonly minimum: 0;
            readonly maximum: 9007199254740991;
        };
        readonly total: {
            readonly type: "integer";
            readonly minimum: 1;
            readonly maximum: 9007199254740991;
        };
    };
    readonly required: readonly ["step", "done", "total"];
};
