/**
 * A control-plane restart on the real stack: what deployments need is stored (deployments, desired
 * authority and its version, accepted plans, active contracts, offers, materialized authority), a
 * running service keeps serving warm callers while the control plane is down, and once it is back an
 * instance started again with the same seed bootstraps straight to `ready`.
 */
import { defineAgentContract } from "@trellis/contracts";
import { AuthError, RemoteError, type TrellisService } from "@trellis/runtime";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ordersContract } from "../../../examples/orders/src/contract.js";
import { mountOrders, ordersDepsOf } from "../../../examples/orders/src/service.js";
import { signIn } from "./support/platform-sign-in.js";
import {
  acceptPlansUntil,
  connectServicesAdmin,
  deployContract,
  eventually,
  ok,
  type ProvisionedInstance,
  type ServicesAdmin,
  startService,
} from "./support/services.js";

/** Creates, lists and reads orders. */
const ordersAgent = defineAgentContract({}, () => ({
  id: "e2e.restart-orders-agent@v1",
  displayName: "Orders agent",
  description: "Creates, lists and reads orders.",
  uses: {
    required: {
      orders: ordersContract.use({ rpc: { call: ["Orders.Create", "Orders.Get", "Orders.List"] } }),
    },
  },
}));

const PASSWORD = "services-restart-password-1";

let platform: PlatformHandle;
let admin: ServicesAdmin;
let instance: ProvisionedInstance;
let service: TrellisService<typeof ordersContract> | undefined;
const cleanups: (() => Promise<unknown>)[] = [];

function authReason(error: unknown): unknown {
  if (error instanceof AuthError) return error.reason;
  if (error instanceof RemoteError && error.remoteError.type === "AuthError") return error.remoteError.reason;
  return error;
}

async function agentSession() {
  const client = await signIn(platform, ordersAgent, "clerk", PASSWORD);
  cleanups.push(() => client.nc.close());
  return client;
}

function startOrders() {
  return startService(platform, {
    contract: ordersContract,
    instance,
    name: "orders",
    mount: (started) => mountOrders(started, ordersDepsOf(started)),
  });
}

/** What the control plane knows about the `orders` deployment, read over RPC and from its store. */
async function snapshot() {
  const got = ok(
    await admin.rpc.auth.deploymentAuthorityGet({ deploymentId: "orders" }),
    "Auth.DeploymentAuthority.Get",
  );
  const deployments = ok(
    await admin.rpc.auth.deploymentsList({ kind: "service", limit: 100 }),
    "Auth.Deployments.List",
  );
  const authorities = ok(
    await admin.rpc.auth.deploymentAuthorityList({ kind: "service", limit: 100 }),
    "Auth.DeploymentAuthority.List",
  );
  const plans = ok(
    await admin.rpc.auth.deploymentAuthorityPlansList({ deploymentId: "orders", limit: 100 }),
    "Auth.DeploymentAuthority.Plans.List",
  );
  const instances = ok(
    await admin.rpc.auth.serviceInstancesList({ deploymentId: "orders", limit: 100 }),
    "Auth.ServiceInstances.List",
  );
  const catalog = ok(await admin.rpc.trellis.catalog({}), "Trellis.Catalog");
  const store = platform.controlPlane.context.store;
  return {
    authority: got.authority,
    materialized: got.materializedAuthority,
    deployment: deployments.entries.find((entry) => entry.deploymentId === "orders"),
    listedAuthority: authorities.entries.find((entry) => entry.deploymentId === "orders"),
    plans: plans.entries.map((plan) => ({
      planId: plan.planId,
      state: plan.state,
      digest: plan.proposal.contractDigest,
    })),
    instances: instances.entries.map((entry) => ({ instanceId: entry.instanceId, disabled: entry.disabled })),
    catalogEntry: catalog.catalog.contracts.find((entry) => entry.id === ordersContract.CONTRACT_ID),
    activeContracts: store.authorities
      .listActiveContracts("orders")
      .map((active) => ({ contractId: active.contractId, digest: active.contractDigest })),
    offers: store.offers
      .list({ deploymentId: "orders" })
      .map((offer) => ({ offerId: offer.offerId, status: offer.status, digest: offer.contractDigest })),
  };
}

beforeAll(async () => {
  platform = await startPlatform();
  await platform.createUser({
    username: "clerk",
    password: PASSWORD,
    capabilities: ["example.orders::read", "example.orders::write"],
  });
  admin = await connectServicesAdmin(platform);
  cleanups.push(() => admin.nc.close());
  instance = await deployContract(admin, { deploymentId: "orders", namespaces: ["Orders"], mode: "strict" });
  const starting = startOrders();
  await acceptPlansUntil(admin, "orders", starting);
  service = await starting;
}, 120_000);

afterAll(async () => {
  await service?.stop().catch(() => undefined);
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await platform?.stop();
});

describe("a control-plane restart", () => {
  it("keeps the deployment's authority, serves warm callers while down, and lets the instance bootstrap again", async () => {
    const warm = await agentSession();
    const cold = await agentSession();
    const created = await warm.rpc.orders.create({ item: "before restart", quantity: 1 });
    expect(created.isOk()).toBe(true);
    const orderId = created.isOk() ? created.value.id : "";

    const before = await snapshot();
    expect(before.deployment).toMatchObject({ kind: "service", contractCompatibilityMode: "strict" });
    expect(before.materialized).toMatchObject({
      status: "current",
      desiredVersion: before.authority.version,
    });
    expect(before.listedAuthority?.version).toBe(before.authority.version);
    expect(before.plans).toEqual([expect.objectContaining({ state: "accepted" })]);
    expect(before.activeContracts).toEqual([
      { contractId: ordersContract.CONTRACT_ID, digest: ordersContract.CONTRACT_DIGEST },
    ]);
    expect(before.offers).toEqual([expect.objectContaining({ status: "accepted" })]);
    expect(before.catalogEntry?.digest).toBe(ordersContract.CONTRACT_DIGEST);

    // The control plane goes away; nats-server and the service stay up.
    const oldUrl = platform.url;
    await platform.controlPlane.stop();
    await expect(fetch(`${oldUrl}/health`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();

    // The warm caller (validated before the stop) is served from the service's session cache …
    const listed = await warm.rpc.orders.list({});
    expect(listed.isOk() && listed.value.orders.map((order) => order.id)).toContain(orderId);
    const fetched = await warm.rpc.orders.get({ id: orderId });
    expect(fetched.isOk() && fetched.value.item).toBe("before restart");
    const during = await warm.rpc.orders.create({ item: "during outage", quantity: 2 });
    expect(during.isOk()).toBe(true);
    // … while a session the service has never seen cannot be validated now.
    const unknown = await cold.rpc.orders.list({});
    expect(unknown.isErr() && authReason(unknown.error)).toBe("auth_unavailable");

    await platform.restartControlPlane();
    expect(platform.url).not.toBe(oldUrl);

    // The admin's session survived; its calls are answered once the Auth service is back.
    await eventually(
      "Auth.* to answer after the restart",
      async () => ((await admin.rpc.auth.sessionsMe({})).isOk() ? true : undefined),
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const after = await snapshot();
    expect(after.authority.version).toBe(before.authority.version);
    expect(after.authority.desiredState).toEqual(before.authority.desiredState);
    expect(after.materialized).toMatchObject({ status: "current", desiredVersion: before.authority.version });
    expect(after.materialized?.grants).toEqual(before.materialized?.grants);
    expect(after.deployment).toEqual(before.deployment);
    expect(after.listedAuthority).toEqual(before.listedAuthority);
    expect(after.plans).toEqual(before.plans);
    expect(after.instances).toEqual(before.instances);
    expect(after.activeContracts).toEqual(before.activeContracts);
    expect(after.offers).toEqual(before.offers);
    expect(after.catalogEntry).toEqual(before.catalogEntry);

    // The instance starts again with the same seed: straight to ready, no new plan.
    await service?.stop();
    service = undefined;
    const bootstrapped = Date.now();
    service = await startOrders();
    expect(Date.now() - bootstrapped).toBeLessThan(10_000);
    const pending = ok(
      await admin.rpc.auth.deploymentAuthorityPlansList({
        deploymentId: "orders",
        state: "pending",
        limit: 100,
      }),
      "Auth.DeploymentAuthority.Plans.List",
    );
    expect(pending.entries).toEqual([]);
    const reborn = await snapshot();
    expect(reborn.authority.version).toBe(before.authority.version);
    expect(reborn.offers).toEqual(before.offers);

    // Both callers are served by the new instance (the cold one now validates against the new control plane).
    const afterWarm = await warm.rpc.orders.get({ id: orderId });
    expect(afterWarm.isOk() && afterWarm.value.item).toBe("before restart");
    const afterCold = await cold.rpc.orders.list({ limit: 100 });
    expect(afterCold.isOk() && afterCold.value.orders.map((order) => order.item)).toEqual([
      "before restart",
      "during outage",
    ]);
  }, 120_000);
});
