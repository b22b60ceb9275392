/**
 * The orders agent's contract (`example.orders-agent@v1`): a command-line participant that signs in
 * as a person and uses every orders RPC, the `Orders.Refund` operation and the `Orders.Created` event.
 * It depends on the service through its generated SDK (`@trellis-sdk/example-orders`, from
 * `trellis prepare`), not through the service's source module.
 */

import { defineAgentContract } from "@trellis/contracts";
import { sdk as orders } from "@trellis-sdk/example-orders";

/** The orders agent contract module. */
export const ordersAgentContract = defineAgentContract({}, () => ({
  id: "example.orders-agent@v1",
  displayName: "Orders agent",
  description: "Example agent: creates, lists, looks up and refunds orders, and watches new ones.",
  uses: {
    required: {
      orders: orders.use({
        rpc: { call: ["Orders.Create", "Orders.Get", "Orders.List"] },
        operations: { call: ["Orders.Refund"] },
        events: { subscribe: ["Orders.Created"] },
      }),
    },
  },
}));
