/**
 * The scripted demo `trellis dev` runs against the orders service: the agent signs in (the caller
 * completes the login), watches `Orders.Created`, creates two orders, lists them, gets one, gets one
 * that does not exist (the declared `OrderNotFoundError`), refunds the first order (the
 * `Orders.Refund` operation, carried out by a job, with its progress), starts a refund of the second
 * and cancels it, and shows the events it received.
 */
import type { AuthRequiredInfo } from "@trellis/runtime";
import { type Order, OrderNotFoundError } from "@trellis-sdk/example-orders";
import { formatOrder, OrdersAgent, type Printer, printToStdout, type RefundSnapshot } from "./agent.js";

/** Options of {@link runDemo}. */
export interface RunDemoOptions {
  /** Base URL of the control plane. */
  trellisUrl: string;
  /** Completes the agent's login (e.g. as the dev admin over HTTP); resolves once it is approved. */
  login: (info: AuthRequiredInfo) => Promise<void>;
  /** Where the demo prints (default stdout). */
  output?: Printer;
  /** How long to wait for the `Orders.Created` events, ms (default 5000). */
  eventTimeoutMs?: number;
}

/** What the demo did. */
export interface DemoSummary {
  /** The two orders it created. */
  created: Order[];
  /** The orders `Orders.List` returned (it includes both created ones). */
  listed: Order[];
  /** The order `Orders.Get` returned. */
  fetched: Order;
  /** The declared error `Orders.Get` answered for an unknown id. */
  notFound: { type: string; message: string; orderId: string };
  /** The completed refund of the first order. */
  refund: RefundSnapshot;
  /** The refund of the second order, cancelled right after it was accepted. */
  cancelledRefund: RefundSnapshot;
  /** The created orders announced by `Orders.Created`, in arrival order. */
  events: Order[];
}

/** The demo found the service misbehaving (a wrong answer, not a failed call). */
export class DemoCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DemoCheckError";
  }
}

/** An id no order has. */
export const DEMO_UNKNOWN_ORDER_ID = "demo-missing-order";

/** Waits until `done()` holds, polling every 25 ms, for at most `timeoutMs`; resolves to `done()`. */
async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  return done();
}

/**
 * Runs the demo and returns what it saw. A failed call throws `AgentStepError`; an answer that is
 * not what the service promises (e.g. a created order missing from the list) throws `DemoCheckError`.
 */
export async function runDemo(options: RunDemoOptions): Promise<DemoSummary> {
  const print = options.output ?? printToStdout;
  const step = (n: number, title: string) => print(`\n[${n}/8] ${title}`);

  step(1, "Signing in the orders agent");
  const agent = await OrdersAgent.connect({ trellisUrl: options.trellisUrl, login: options.login, print });
  print(`  connected as session ${agent.client.sessionKey.slice(0, 16)}…`);
  try {
    const announced: Order[] = [];
    const listener = await agent.watchCreated((order) => announced.push(order));
    print("  listening to Orders.Created");

    step(2, "Creating two orders");
    const created = [
      await agent.create({ item: "coffee beans", quantity: 2 }),
      await agent.create({ item: "oat milk", quantity: 6 }),
    ];
    const createdIds = created.map((order) => order.id);

    step(3, "Listing orders");
    const listed = await agent.list();
    const missing = createdIds.filter((id) => !listed.some((order) => order.id === id));
    if (missing.length > 0) throw new DemoCheckError(`Orders.List does not include ${missing.join(", ")}`);

    const first = created[0] as Order;
    step(4, `Getting order ${first.id}`);
    const fetched = await agent.get(first.id);
    if (fetched.isErr())
      throw new DemoCheckError(`Orders.Get of a created order failed: ${fetched.error.message}`);
    if (JSON.stringify(fetched.value) !== JSON.stringify(first)) {
      throw new DemoCheckError(`Orders.Get returned ${JSON.stringify(fetched.value)}, not the created order`);
    }

    step(5, `Getting order '${DEMO_UNKNOWN_ORDER_ID}', which does not exist`);
    const unknown = await agent.get(DEMO_UNKNOWN_ORDER_ID);
    if (unknown.isOk() || !(unknown.error instanceof OrderNotFoundError)) {
      throw new DemoCheckError(
        `Orders.Get of an unknown id should answer OrderNotFoundError, got ${
          unknown.isOk() ? "an order" : unknown.error.name
        }`,
      );
    }
    const notFound = {
      type: unknown.error.name,
      message: unknown.error.message,
      orderId: unknown.error.data.orderId,
    };

    step(6, `Refunding order ${first.id} (operation Orders.Refund, carried out by a job)`);
    const refund = await agent.refund(first.id);
    if (refund.state !== "completed" || refund.output?.orderId !== first.id) {
      throw new DemoCheckError(`The refund of ${first.id} ended ${refund.state}, not completed`);
    }

    const second = created[1] as Order;
    step(7, `Refunding order ${second.id} and cancelling it`);
    const cancelledRefund = await agent.refundAndCancel(second.id);
    if (cancelledRefund.state !== "cancelled") {
      throw new DemoCheckError(`The cancelled refund of ${second.id} is ${cancelledRefund.state}`);
    }

    step(8, "Orders.Created events received");
    const timeoutMs = options.eventTimeoutMs ?? 5000;
    const ours = () => announced.filter((order) => createdIds.includes(order.id));
    const complete = await waitUntil(() => ours().length === createdIds.length, timeoutMs);
    await listener.stop();
    for (const order of ours()) print(`  event: ${formatOrder(order)}`);
    if (!complete) {
      throw new DemoCheckError(
        `Only ${ours().length} of ${createdIds.length} Orders.Created events arrived within ${timeoutMs} ms`,
      );
    }

    print("\nDemo complete.");
    return {
      created,
      listed,
      fetched: fetched.value,
      notFound,
      refund,
      cancelledRefund,
      events: ours(),
    };
  } finally {
    await agent.close();
  }
}
