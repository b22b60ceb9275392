/** JSON Schema `CreateOrder`. */
export declare const CreateOrderSchema: {
    readonly properties: {
        readonly item: {
            readonly maxLength: 200;
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly quantity: {
            readonly maximum: 1000;
            readonly minimum: 1;
            readonly type: "integer";
        };
    };
    readonly required: readonly ["item", "quantity"];
    readonly type: "object";
};
/** JSON Schema `GetOrder`. */
export declare const GetOrderSchema: {
    readonly properties: {
        readonly id: {
            readonly maxLength: 64;
            readonly minLength: 1;
            readonly type: "string";
        };
    };
    readonly required: readonly ["id"];
    readonly type: "object";
};
/** JSON Schema `ListOrders`. */
export declare const ListOrdersSchema: {
    readonly properties: {
        readonly limit: {
            readonly maximum: 100;
            readonly minimum: 1;
            readonly type: "integer";
        };
    };
    readonly type: "object";
};
/** JSON Schema `Order`. */
export declare const OrderSchema: {
    readonly properties: {
        readonly createdAt: {
            readonly format: "date-time";
            readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
            readonly type: "string";
        };
        readonly createdBy: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly id: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly item: {
            readonly maxLength: 200;
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly quantity: {
            readonly maximum: 1000;
            readonly minimum: 1;
            readonly type: "integer";
        };
    };
    readonly required: readonly ["id", "item", "quantity", "createdBy", "createdAt"];
    readonly type: "object";
};
/** JSON Schema `OrderCreated`. */
export declare const OrderCreatedSchema: {
    readonly properties: {
        readonly order: {
            readonly properties: {
                readonly createdAt: {
                    readonly format: "date-time";
                    readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
                    readonly type: "string";
                };
                readonly createdBy: {
                    readonly minLength: 1;
                    readonly type: "string";
                };
                readonly id: {
                    readonly minLength: 1;
                    readonly type: "string";
                };
                readonly item: {
                    readonly maxLength: 200;
                    readonly minLength: 1;
                    readonly type: "string";
                };
                readonly quantity: {
                    readonly maximum: 1000;
                    readonly minimum: 1;
                    readonly type: "integer";
                };
            };
            readonly required: readonly ["id", "item", "quantity", "createdBy", "createdAt"];
            readonly type: "object";
        };
    };
    readonly required: readonly ["order"];
    readonly type: "object";
};
/** JSON Schema `OrderList`. */
export declare const OrderListSchema: {
    readonly properties: {
        readonly orders: {
            readonly items: {
                readonly properties: {
                    readonly createdAt: {
                        readonly format: "date-time";
                        readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
                        readonly type: "string";
                    };
                    readonly createdBy: {
                        readonly minLength: 1;
                        readonly type: "string";
                    };
                    readonly id: {
                        readonly minLength: 1;
                        readonly type: "string";
                    };
                    readonly item: {
                        readonly maxLength: 200;
                        readonly minLength: 1;
                        readonly type: "string";
                    };
                    readonly quantity: {
                        readonly maximum: 1000;
                        readonly minimum: 1;
                        readonly type: "integer";
                    };
                };
                readonly required: readonly ["id", "item", "quantity", "createdBy", "createdAt"];
                readonly type: "object";
            };
            readonly type: "array";
        };
    };
    readonly required: readonly ["orders"];
    readonly type: "object";
};
/** JSON Schema `OrderNotFoundErrorData`. */
export declare const OrderNotFoundErrorDataSchema: {
    readonly properties: {
        readonly context: {
            readonly additionalProperties: {};
            readonly propertyNames: {
                readonly type: "string";
            };
            readonly type: "object";
        };
        readonly id: {
            readonly type: "string";
        };
        readonly message: {
            readonly type: "string";
        };
        readonly orderId: {
            readonly type: "string";
        };
        readonly traceId: {
            readonly type: "string";
        };
        readonly type: {
            readonly const: "OrderNotFoundError";
            readonly type: "string";
        };
    };
    readonly required: readonly ["id", "type", "message", "orderId"];
    readonly type: "object";
};
/** JSON Schema `Refund`. */
export declare const RefundSchema: {
    readonly properties: {
        readonly item: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly orderId: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly quantity: {
            readonly maximum: 9007199254740991;
            readonly minimum: 1;
            readonly type: "integer";
        };
        readonly refundedAt: {
            readonly format: "date-time";
            readonly pattern: "^(?:(?:\\d\\d[2468][048]|\\d\\d[13579][26]|\\d\\d0[48]|[02468][048]00|[13579][26]00)-02-29|\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|(?:02)-(?:0[1-9]|1\\d|2[0-8])))T(?:(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z))$";
            readonly type: "string";
        };
        readonly refundedBy: {
            readonly minLength: 1;
            readonly type: "string";
        };
    };
    readonly required: readonly ["orderId", "item", "quantity", "refundedBy", "refundedAt"];
    readonly type: "object";
};
/** JSON Schema `RefundJob`. */
export declare const RefundJobSchema: {
    readonly properties: {
        readonly operationId: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly orderId: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly refundedBy: {
            readonly minLength: 1;
            readonly type: "string";
        };
    };
    readonly required: readonly ["operationId", "orderId", "refundedBy"];
    readonly type: "object";
};
/** JSON Schema `RefundOrder`. */
export declare const RefundOrderSchema: {
    readonly properties: {
        readonly orderId: {
            readonly maxLength: 64;
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly reason: {
            readonly maxLength: 200;
            readonly type: "string";
        };
    };
    readonly required: readonly ["orderId"];
    readonly type: "object";
};
/** JSON Schema `RefundProgress`. */
export declare const RefundProgressSchema: {
    readonly properties: {
        readonly done: {
            readonly maximum: 9007199254740991;
            readonly minimum: 0;
            readonly type: "integer";
        };
        readonly step: {
            readonly minLength: 1;
            readonly type: "string";
        };
        readonly total: {
            readonly maximum: 9007199254740991;
            readonly minimum: 1;
            readonly type: "integer";
        };
    };
    readonly required: readonly ["step", "done", "total"];
    readonly type: "object";
};
