/**
 * The orders agent: a command-line participant that signs in as a person through the control plane
 * (detached flow), remembers its session key seed, and calls the orders service. {@link OrdersAgent}
 * holds the steps, each printing what it did; {@link runAgent} is what `main-agent.ts` runs.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { BaseError, Result } from "@trellis/result";
import {
  type AuthRequiredInfo,
  connectClient,
  drainOrClose,
  type EphemeralEventListener,
  type OperationSnapshot,
  type TrellisClient,
  waitForDetachedFlow,
} from "@trellis/runtime";
import type {
  OrdersCreateInput as CreateOrderInput,
  Order,
  OrdersRefundOutput as RefundOutput,
  OrdersRefundProgress as RefundProgressValue,
} from "@trellis-sdk/example-orders";
import { ordersAgentContract } from "./agent-contract.js";

/** A refund's snapshot. */
export type RefundSnapshot = OperationSnapshot<RefundOutput, RefundProgressValue>;

/** Where the agent's printed lines go. */
export type Printer = (line: string) => void;

/** Writes lines to stdout. */
export const printToStdout: Printer = (line) => {
  process.stdout.write(`${line}\n`);
};

/** A step the agent could not complete (not a declared error it expected). */
export class AgentStepError extends Error {
  constructor(
    /** The step, e.g. `create an order`. */
    readonly step: string,
    /** Why it failed. */
    override readonly cause: BaseError,
  ) {
    super(`Could not ${step}: ${cause.name}: ${cause.message}`, { cause });
    this.name = "AgentStepError";
  }
}

/** One order on one line: `01J… 2 × coffee beans (by usr_…, 2025-…)`. */
export function formatOrder(order: Order): string {
  return `${order.id}  ${order.quantity} × ${order.item}  (by ${order.createdBy}, ${order.createdAt})`;
}

/** Reads a remembered session key seed; `undefined` when the file does not exist yet. */
export async function readSeed(path: string): Promise<string | undefined> {
  try {
    const seed = (await readFile(path, "utf8")).trim();
    return seed === "" ? undefined : seed;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Remembers a session key seed in `path` (created with mode 0600, folders as needed). */
export async function writeSeed(path: string, seed: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${seed}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

/** Options of {@link OrdersAgent.connect}. */
export interface ConnectAgentOptions {
  /** Base URL of the control plane. */
  trellisUrl: string;
  /** A remembered seed (its session may still be bound: then no login is needed). */
  sessionKeySeed?: string;
  /** Completes a login when one is needed; resolves once the flow is approved. */
  login: (info: AuthRequiredInfo) => Promise<void>;
  /** Where lines are printed (default stdout). */
  print?: Printer;
}

/** The signed-in agent and its steps. */
export class OrdersAgent {
  private constructor(
    /** The typed client of the agent contract. */
    readonly client: TrellisClient<typeof ordersAgentContract> & { sessionKeySeed: string },
    private readonly print: Printer,
  ) {}

  /** Signs in when needed and connects through the auth callout. */
  static async connect(options: ConnectAgentOptions): Promise<OrdersAgent> {
    const client = await connectClient({
      trellisUrl: options.trellisUrl,
      contract: ordersAgentContract,
      ...(options.sessionKeySeed && { sessionKeySeed: options.sessionKeySeed }),
      onAuthRequired: options.login,
      logger: false,
    });
    return new OrdersAgent(client, options.print ?? printToStdout);
  }

  /** The session key seed, to remember for the next run. */
  get sessionKeySeed(): string {
    return this.client.sessionKeySeed;
  }

  /** `Orders.Create`; prints and returns the new order. */
  async create(input: CreateOrderInput): Promise<Order> {
    const order = this.expect("create an order", await this.client.rpc.orders.create(input));
    this.print(`  created ${formatOrder(order)}`);
    return order;
  }

  /** `Orders.List`; prints and returns the orders. */
  async list(limit?: number): Promise<Order[]> {
    const { orders } = this.expect(
      "list orders",
      await this.client.rpc.orders.list(limit === undefined ? {} : { limit }),
    );
    this.print(`  ${orders.length} order(s):`);
    for (const order of orders) this.print(`    ${formatOrder(order)}`);
    return orders;
  }

  /** `Orders.Get`; prints the order or the error the service answered, and returns the result. */
  async get(id: string): Promise<Result<Order, BaseError>> {
    const result = await this.client.rpc.orders.get({ id });
    if (result.isOk()) this.print(`  found ${formatOrder(result.value)}`);
    else this.print(`  refused: ${result.error.name}: ${result.error.message}`);
    return result;
  }

  /**
   * `Orders.Refund`: starts the refund, prints each event as it happens (accepted, started, every step,
   * the outcome) and returns the terminal snapshot.
   */
  async refund(orderId: string): Promise<RefundSnapshot> {
    const print = this.print;
    const started = await this.client.operation.orders.refund
      .input({ orderId })
      .onAccepted((event) => print(`  accepted refund ${event.snapshot.id}`))
      .onStarted(() => print("  started"))
      .onProgress(({ progress }) => print(`  step ${progress.done + 1}/${progress.total}: ${progress.step}`))
      .onCompleted(({ snapshot }) =>
        print(`  completed: refunded ${snapshot.output?.quantity} × ${snapshot.output?.item}`),
      )
      .onFailed(({ snapshot }) => print(`  failed: ${snapshot.error?.type}: ${snapshot.error?.message}`))
      .onCancelled(() => print("  cancelled"))
      .start();
    const ref = this.expect("start a refund", started);
    const done = this.expect("wait for the refund", await ref.wait());
    // Let the callbacks print the last event before returning.
    await ref.observed;
    return done;
  }

  /** Starts a refund and cancels it at once; returns the cancelled snapshot. */
  async refundAndCancel(orderId: string): Promise<RefundSnapshot> {
    const ref = this.expect("start a refund", await this.client.operation.orders.refund.start({ orderId }));
    this.print(`  accepted refund ${ref.id}`);
    const cancelled = this.expect("cancel the refund", await ref.cancel());
    this.print(`  ${cancelled.state} (revision ${cancelled.revision})`);
    return cancelled;
  }

  /** Listens live to `Orders.Created`, calling `onOrder` for each new order. */
  watchCreated(onOrder: (order: Order) => void, signal?: AbortSignal): Promise<EphemeralEventListener> {
    return this.client.event.orders.created.listen((event) => onOrder(event.order), {
      ...(signal && { signal }),
    });
  }

  /** Drains the connection. */
  close(): Promise<void> {
    return drainOrClose(this.client.nc);
  }

  private expect<T>(step: string, result: Result<T, BaseError>): T {
    if (result.isErr()) throw new AgentStepError(step, result.error);
    return result.value;
  }
}

/** Options of {@link runAgent}. */
export interface RunAgentOptions {
  /** Base URL of the control plane. */
  trellisUrl: string;
  /** File remembering the agent's session key seed between runs. */
  seedFile: string;
  /** Completes a login when one is needed (e.g. {@link detachedLogin}). */
  login: (info: AuthRequiredInfo) => Promise<void>;
  /** Where lines are printed (default stdout). */
  print?: Printer;
}

/** A login for a person at a terminal: prints the portal URL, then waits (bounded) for the approval. */
export function detachedLogin(
  print: Printer,
  timeoutMs = 5 * 60_000,
): (info: AuthRequiredInfo) => Promise<void> {
  return async (info) => {
    print("Sign in and approve the orders agent at:");
    print(`  ${info.loginUrl}`);
    print(`Waiting up to ${Math.round(timeoutMs / 1000)} s for the approval…`);
    await waitForDetachedFlow(info, { timeoutMs });
    print("Approved.");
  };
}

/** What one agent run did. */
export interface AgentRunSummary {
  /** The order it created. */
  created: Order;
  /** The orders it listed. */
  listed: Order[];
  /** The error `Orders.Get` answered for an id that does not exist. */
  unknownGet: { type: string; message: string };
}

/** An id no order has: `Orders.Get` of it shows the declared error. */
export const UNKNOWN_ORDER_ID = "no-such-order";

/**
 * Signs in (reusing the remembered seed), creates an order, lists the orders, and gets an id that
 * does not exist (printing the declared error); remembers the seed for the next run.
 */
export async function runAgent(options: RunAgentOptions): Promise<AgentRunSummary> {
  const print = options.print ?? printToStdout;
  const remembered = await readSeed(options.seedFile);
  const agent = await OrdersAgent.connect({
    trellisUrl: options.trellisUrl,
    ...(remembered && { sessionKeySeed: remembered }),
    login: options.login,
    print,
  });
  try {
    if (agent.sessionKeySeed !== remembered) await writeSeed(options.seedFile, agent.sessionKeySeed);
    print("Creating an order:");
    const created = await agent.create({ item: "coffee beans", quantity: 2 });
    print("Listing orders:");
    const listed = await agent.list();
    print(`Getting order '${UNKNOWN_ORDER_ID}':`);
    const unknown = await agent.get(UNKNOWN_ORDER_ID);
    if (unknown.isOk()) {
      throw new Error(`Order '${UNKNOWN_ORDER_ID}' exists, but the agent expected it not to`);
    }
    return { created, listed, unknownGet: { type: unknown.error.name, message: unknown.error.message } };
  } finally {
    await agent.close();
  }
}
