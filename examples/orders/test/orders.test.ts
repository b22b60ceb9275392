/**
 * The orders example on the real stack: `startPlatform()` (nats-server with the auth callout and the
 * control plane), a `mutable-dev` deployment and an instance created with the admin RPCs, the service
 * bootstrapped in-process through `POST /bootstrap/service`, and the scripted demo signing in over HTTP.
 */
import { trellisAuth } from "@trellis/builtin-contracts";
import { defineAgentContract } from "@trellis/contracts";
import {
  AuthError,
  type AuthRequiredInfo,
  connectClient,
  drainOrClose,
  type TrellisService,
  waitForDetachedFlow,
} from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { approveSignIn, type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrdersAgent } from "../src/agent.js";
import { ORDERS_CAPABILITIES, type Order, type ordersContract } from "../src/contract.js";
import { DEMO_UNKNOWN_ORDER_ID, runDemo } from "../src/demo.js";
import { connectOrdersService } from "../src/run-service.js";

/** The administrator's tool for this test: deployments, instances and user capabilities. */
const adminTool = defineAgentContract({}, () => ({
  id: "example.orders-test-admin@v1",
  displayName: "Orders test admin",
  description: "Deploys the orders example and grants the demo capabilities.",
  uses: {
    required: {
      auth: trellisAuth.use({
        rpc: {
          call: [
            "Auth.Deployments.Create",
            "Auth.ServiceInstances.Provision",
            "Auth.Sessions.Me",
            "Auth.Users.Update",
          ],
        },
      }),
    },
  },
}));

let platform: PlatformHandle;
let service: TrellisService<typeof ordersContract>;
const closers: (() => Promise<void>)[] = [];

/** Completes a detached login over HTTP as `username`: local sign-in, then approval when asked. */
function loginAs(username: string, password: string): (info: AuthRequiredInfo) => Promise<void> {
  return async (info) => {
    await approveSignIn(platform.url, info.flowId, username, password);
    await waitForDetachedFlow(info, { pollIntervalMs: 100, timeoutMs: 10_000 });
  };
}

beforeAll(async () => {
  platform = await startPlatform();
  const admin = platform.admin as { username: string; password: string };
  const tool = await connectClient({
    trellisUrl: platform.url,
    contract: adminTool,
    logger: false,
    onAuthRequired: loginAs(admin.username, admin.password),
  });
  closers.push(() => drainOrClose(tool.nc));

  const deployment = await tool.rpc.auth.deploymentsCreate({
    kind: "service",
    deploymentId: "orders",
    namespaces: ["Orders"],
    contractCompatibilityMode: "mutable-dev",
  });
  expect(deployment.isOk() && deployment.value.deployment).toMatchObject({ deploymentId: "orders" });
  const seed = generateSessionSeed();
  const instance = await tool.rpc.auth.serviceInstancesProvision({
    deploymentId: "orders",
    instanceKey: sessionKeyFromSeed(seed),
  });
  expect(instance.isOk()).toBe(true);

  service = await connectOrdersService({
    trellisUrl: platform.url,
    sessionKeySeed: seed,
    logger: false,
    heartbeat: false,
    signal: AbortSignal.timeout(30_000),
  });
  closers.push(() => service.stop());
  await service.start();

  // The dev admin runs the demo: give it the two orders capabilities (its admin group keeps the rest).
  const me = await tool.rpc.auth.sessionsMe({});
  const userId = me.isOk() ? me.value.user?.userId : undefined;
  expect(userId).toBeDefined();
  const updated = await tool.rpc.auth.usersUpdate({
    userId: userId as string,
    capabilities: [...ORDERS_CAPABILITIES],
  });
  expect(updated.isOk()).toBe(true);
}, 90_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  await platform?.stop();
});

describe("the orders example on the real stack", () => {
  it("runs the scripted demo: two orders created, listed, fetched, an unknown id refused, one refunded by a job, one refund cancelled, both events seen", async () => {
    const admin = platform.admin as { username: string; password: string };
    const lines: string[] = [];
    const summary = await runDemo({
      trellisUrl: platform.url,
      login: loginAs(admin.username, admin.password),
      output: (line) => lines.push(line),
    });

    expect(summary.created.map((order) => [order.item, order.quantity])).toEqual([
      ["coffee beans", 2],
      ["oat milk", 6],
    ]);
    const ids = summary.created.map((order) => order.id);
    expect(summary.listed.map((order) => order.id)).toEqual(expect.arrayContaining(ids));
    expect(summary.fetched).toEqual(summary.created[0]);
    expect(summary.notFound).toEqual({
      type: "OrderNotFoundError",
      message: `Order '${DEMO_UNKNOWN_ORDER_ID}' does not exist`,
      orderId: DEMO_UNKNOWN_ORDER_ID,
    });
    expect(summary.events.map((order) => order.id).sort()).toEqual([...ids].sort());
    expect(summary.refund).toMatchObject({
      state: "completed",
      operation: "Orders.Refund",
      output: { orderId: ids[0], item: "coffee beans", quantity: 2 },
    });
    // accepted, started, three steps, completed: one revision each.
    expect(summary.refund.revision).toBe(6);
    expect(summary.cancelledRefund).toMatchObject({ state: "cancelled", revision: 2 });

    // Every order is in the service's KV resource, written by the user who called Orders.Create.
    for (const created of summary.created) {
      const stored = await (service.kv.orders as NonNullable<typeof service.kv.orders>).get(created.id);
      expect(stored.isOk() && (stored.value.value as Order)).toEqual(created);
    }
    expect(new Set(summary.created.map((order) => order.createdBy)).size).toBe(1);

    const printed = lines.join("\n");
    expect(printed).toContain("[1/8] Signing in the orders agent");
    expect(printed).toContain(`accepted refund ${summary.refund.id}`);
    expect(printed).toContain("step 2/3: restocking the items");
    expect(printed).toContain("completed: refunded 2 × coffee beans");
    expect(printed).toContain("cancelled (revision 2)");
    expect(printed).toContain(`refused: OrderNotFoundError: Order '${DEMO_UNKNOWN_ORDER_ID}' does not exist`);
    expect(printed).toContain(`event: ${ids[0]}`);
    expect(printed).toContain("Demo complete.");
  }, 60_000);

  it("refuses the agent to a user who lacks the orders capabilities", async () => {
    await platform.createUser({
      username: "reader",
      password: "reader-password-1",
      capabilities: ["example.orders::read"],
    });
    const attempt = OrdersAgent.connect({
      trellisUrl: platform.url,
      login: loginAs("reader", "reader-password-1"),
      print: () => undefined,
    });
    await expect(attempt).rejects.toBeInstanceOf(AuthError);
    await expect(attempt).rejects.toMatchObject({
      message: expect.stringContaining("insufficient_capabilities"),
    });
  }, 30_000);
});
