/**
 * `Auth.Deployments.*` and `Auth.ServiceInstances.*` over a real nats-server and a real SQLite file,
 * called by user sessions written straight into the store; plus migration 2 on a version-1 database.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import type { BaseError, Result } from "@trellis/result";
import { ValidationError } from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import type { NatsServerHandle } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliedMigrations, openDatabase } from "../src/store/database.js";
import { MIGRATIONS } from "../src/store/migrations.js";
import { serviceInstanceId } from "../src/store/service-instances-repository.js";
import { type ControlPlaneStore, openStore } from "../src/store/store.js";
import type { User } from "../src/store/users-repository.js";
import { type AuthRpcHarness, type PublishedEvent, startAuthRpcHarness } from "./support/auth-rpc-harness.js";
import { authCli, authTestClients, expectAuthError, waitFor } from "./support/auth-test-clients.js";

const PASSWORD = "correct horse battery";

let server: NatsServerHandle;
let dir: string;
let store: ControlPlaneStore;
const connections: NatsConnection[] = [];
const published: PublishedEvent[] = [];

let admin: User;
let alice: User;

const { participant, userSession } = authTestClients({
  url: () => server.url,
  store: () => store,
  connections,
});

/** A service session, as the service bootstrap/callout would record it. */
async function serviceSession(deploymentId: string) {
  const seed = generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  store.sessions.upsert({
    sessionKey,
    trellisId: `trellis-${deploymentId}`,
    type: "service",
    origin: "service",
    externalId: sessionKey,
    deploymentId,
    session: { name: deploymentId, capabilities: [] },
  });
  return { seed, sessionKey, client: await participant(seed) };
}

function eventsOf(event: string, sessionKey?: string) {
  return published.filter(
    (entry) => entry.event === event && (sessionKey === undefined || entry.payload.sessionKey === sessionKey),
  );
}

let harness: AuthRpcHarness | undefined;

beforeAll(async () => {
  harness = await startAuthRpcHarness({
    name: "rpc-deployments",
    password: PASSWORD,
    connections,
    published,
  });
  ({ server, dir, store, admin, alice } = harness);
});

afterAll(async () => {
  await harness?.stop();
});

function okValue<T>(result: Result<T, BaseError>): T {
  if (result.isErr()) throw result.error;
  return result.value;
}

describe("Auth.Deployments.*", () => {
  it("refuses a caller without the admin capability", async () => {
    const user = await userSession(alice);
    expectAuthError(
      await user.client.rpc.auth.deploymentsCreate({ kind: "service", deploymentId: "x", namespaces: ["x"] }),
      "insufficient_permissions",
    );
    expectAuthError(await user.client.rpc.auth.deploymentsList({ limit: 10 }), "insufficient_permissions");
    expectAuthError(
      await user.client.rpc.auth.serviceInstancesProvision({
        deploymentId: "x",
        instanceKey: sessionKeyFromSeed(generateSessionSeed()),
      }),
      "insufficient_permissions",
    );
    expectAuthError(
      await user.client.rpc.auth.serviceInstancesList({ limit: 10 }),
      "insufficient_permissions",
    );
    const denied = [
      await user.client.rpc.auth.deploymentAuthorityList({ limit: 10 }),
      await user.client.rpc.auth.deploymentAuthorityGet({ deploymentId: "x" }),
      await user.client.rpc.auth.deploymentAuthorityPlan({
        deploymentId: "x",
        contract: authCli.CONTRACT,
        expectedDigest: authCli.CONTRACT_DIGEST,
      }),
      await user.client.rpc.auth.deploymentAuthorityPlansList({ limit: 10 }),
      await user.client.rpc.auth.deploymentAuthorityPlansGet({ planId: "p" }),
      await user.client.rpc.auth.deploymentAuthorityAcceptUpdate({ planId: "p" }),
      await user.client.rpc.auth.deploymentAuthorityAcceptMigration({ planId: "p", acknowledgement: "ok" }),
      await user.client.rpc.auth.deploymentAuthorityReject({ planId: "p" }),
      await user.client.rpc.auth.deploymentAuthorityReconcile({ deploymentId: "x" }),
    ];
    for (const result of denied) expectAuthError(result, "insufficient_permissions");
  });

  it("creates, lists, disables, enables and removes service deployments", async () => {
    const { client } = await userSession(admin, { capabilities: ["admin"] });
    const created = okValue(
      await client.rpc.auth.deploymentsCreate({
        kind: "service",
        deploymentId: "billing",
        namespaces: ["Billing", "Invoices"],
      }),
    );
    expect(created.deployment).toEqual({
      kind: "service",
      deploymentId: "billing",
      namespaces: ["Billing", "Invoices"],
      contractCompatibilityMode: "strict",
      disabled: false,
    });
    okValue(
      await client.rpc.auth.deploymentsCreate({
        kind: "service",
        deploymentId: "dev-box",
        namespaces: ["Dev"],
        contractCompatibilityMode: "mutable-dev",
      }),
    );
    expectAuthError(
      await client.rpc.auth.deploymentsCreate({ kind: "service", deploymentId: "billing", namespaces: [] }),
      "deployment_exists",
    );
    expectAuthError(
      await client.rpc.auth.deploymentsCreate({ kind: "device", deploymentId: "thermostats" }),
      "device_deployments_unsupported",
    );

    const all = okValue(await client.rpc.auth.deploymentsList({ limit: 10 }));
    expect(all.count).toBe(2);
    expect(all.entries.map((entry) => entry.deploymentId)).toEqual(["billing", "dev-box"]);
    expect(okValue(await client.rpc.auth.deploymentsList({ limit: 10, kind: "device" })).count).toBe(0);
    const firstPage = okValue(await client.rpc.auth.deploymentsList({ limit: 1 }));
    expect(firstPage).toMatchObject({ count: 2, offset: 0, limit: 1, nextOffset: 1 });

    const disabled = okValue(
      await client.rpc.auth.deploymentsDisable({ kind: "service", deploymentId: "billing" }),
    );
    expect(disabled.deployment.disabled).toBe(true);
    const onlyDisabled = okValue(await client.rpc.auth.deploymentsList({ limit: 10, disabled: true }));
    expect(onlyDisabled.entries.map((entry) => entry.deploymentId)).toEqual(["billing"]);
    const enabled = okValue(
      await client.rpc.auth.deploymentsEnable({ kind: "service", deploymentId: "billing" }),
    );
    expect(enabled.deployment.disabled).toBe(false);
    expectAuthError(
      await client.rpc.auth.deploymentsDisable({ kind: "service", deploymentId: "nope" }),
      "deployment_not_found",
    );
    expectAuthError(
      await client.rpc.auth.deploymentsEnable({ kind: "device", deploymentId: "billing" }),
      "device_deployments_unsupported",
    );

    expect(
      okValue(await client.rpc.auth.deploymentsRemove({ kind: "service", deploymentId: "dev-box" })),
    ).toEqual({
      success: true,
    });
    expectAuthError(
      await client.rpc.auth.deploymentsRemove({ kind: "service", deploymentId: "dev-box" }),
      "deployment_not_found",
    );
    expect(okValue(await client.rpc.auth.deploymentsList({ limit: 10 })).count).toBe(1);
  });
});

describe("Auth.ServiceInstances.*", () => {
  it("provisions instances under the derived id and refuses bad or duplicate keys", async () => {
    const { client } = await userSession(admin, { capabilities: ["admin"] });
    okValue(
      await client.rpc.auth.deploymentsCreate({
        kind: "service",
        deploymentId: "orders",
        namespaces: ["Orders"],
      }),
    );
    okValue(
      await client.rpc.auth.deploymentsCreate({
        kind: "service",
        deploymentId: "stock",
        namespaces: ["Stock"],
      }),
    );
    const instanceKey = sessionKeyFromSeed(generateSessionSeed());
    const expectedId = `svc_${createHash("sha256").update(instanceKey, "utf8").digest("base64url").slice(0, 22)}`;
    expect(serviceInstanceId(instanceKey)).toBe(expectedId);

    const { instance } = okValue(
      await client.rpc.auth.serviceInstancesProvision({ deploymentId: "orders", instanceKey }),
    );
    expect(instance).toMatchObject({
      instanceId: expectedId,
      deploymentId: "orders",
      instanceKey,
      disabled: false,
      capabilities: ["service"],
    });
    expect(Number.isNaN(Date.parse(instance.createdAt))).toBe(false);

    expectAuthError(
      await client.rpc.auth.serviceInstancesProvision({ deploymentId: "orders", instanceKey }),
      "instance_exists",
    );
    expectAuthError(
      await client.rpc.auth.serviceInstancesProvision({ deploymentId: "stock", instanceKey }),
      "instance_key_taken",
    );
    expectAuthError(
      await client.rpc.auth.serviceInstancesProvision({
        deploymentId: "missing",
        instanceKey: sessionKeyFromSeed(generateSessionSeed()),
      }),
      "deployment_not_found",
    );
    for (const badKey of ["short", `${instanceKey.slice(0, 42)}+`, `${instanceKey}A`]) {
      const bad = await client.rpc.auth.serviceInstancesProvision({
        deploymentId: "orders",
        instanceKey: badKey,
      });
      expect(bad.isErr(), badKey).toBe(true);
      if (bad.isErr()) expect(bad.error).toBeInstanceOf(ValidationError);
    }

    const second = okValue(
      await client.rpc.auth.serviceInstancesProvision({
        deploymentId: "stock",
        instanceKey: sessionKeyFromSeed(generateSessionSeed()),
      }),
    ).instance;
    const orders = okValue(await client.rpc.auth.serviceInstancesList({ limit: 10, deploymentId: "orders" }));
    expect(orders.entries.map((entry) => entry.instanceId)).toEqual([instance.instanceId]);
    const every = okValue(await client.rpc.auth.serviceInstancesList({ limit: 10 }));
    expect(every.entries.map((entry) => entry.instanceId).sort()).toEqual(
      [instance.instanceId, second.instanceId].sort(),
    );

    // A deployment with instances is kept unless the removal cascades.
    expectAuthError(
      await client.rpc.auth.deploymentsRemove({ kind: "service", deploymentId: "stock" }),
      "deployment_has_instances",
    );
    okValue(
      await client.rpc.auth.deploymentsRemove({ kind: "service", deploymentId: "stock", cascade: true }),
    );
    expect(store.serviceInstances.get(second.instanceId)).toBeUndefined();
    expect(okValue(await client.rpc.auth.serviceInstancesList({ limit: 10 })).count).toBe(1);
  });

  it("disable ends the instance's session, enable lifts it, remove deletes it", async () => {
    const { client } = await userSession(admin, { capabilities: ["admin"] });
    okValue(
      await client.rpc.auth.deploymentsCreate({
        kind: "service",
        deploymentId: "mailer",
        namespaces: ["Mail"],
      }),
    );
    const svc = await serviceSession("mailer");
    const { instance } = okValue(
      await client.rpc.auth.serviceInstancesProvision({
        deploymentId: "mailer",
        instanceKey: svc.sessionKey,
      }),
    );

    const disabled = okValue(
      await client.rpc.auth.serviceInstancesDisable({ instanceId: instance.instanceId }),
    );
    expect(disabled.instance.disabled).toBe(true);
    expect(store.sessions.get(svc.sessionKey, new Date())).toBeUndefined();
    await waitFor(() => eventsOf("Auth.Sessions.Revoked", svc.sessionKey).length === 1, "Sessions.Revoked");
    expect(
      okValue(await client.rpc.auth.serviceInstancesList({ limit: 10, disabled: true })).entries.map(
        (entry) => entry.instanceId,
      ),
    ).toEqual([instance.instanceId]);

    const enabled = okValue(
      await client.rpc.auth.serviceInstancesEnable({ instanceId: instance.instanceId }),
    );
    expect(enabled.instance.disabled).toBe(false);

    expect(
      okValue(await client.rpc.auth.serviceInstancesRemove({ instanceId: instance.instanceId })),
    ).toEqual({
      success: true,
    });
    expect(store.serviceInstances.get(instance.instanceId)).toBeUndefined();
    expectAuthError(
      await client.rpc.auth.serviceInstancesRemove({ instanceId: instance.instanceId }),
      "instance_not_found",
    );
    expectAuthError(
      await client.rpc.auth.serviceInstancesDisable({ instanceId: instance.instanceId }),
      "instance_not_found",
    );
    expectAuthError(
      await client.rpc.auth.serviceInstancesEnable({ instanceId: instance.instanceId }),
      "instance_not_found",
    );
  });
});

describe("migration 2", () => {
  it("adds the service tables to a database created at version 1", () => {
    const path = join(dir, "v1.sqlite");
    const v1 = MIGRATIONS.filter((migration) => migration.version === 1);
    const old = openDatabase(path, { migrations: v1 });
    old
      .prepare(
        "INSERT INTO users (id, user_id, name, created_at, updated_at) VALUES ('x', 'usr_1', 'U', 'a', 'a')",
      )
      .run();
    expect(appliedMigrations(old).map((m) => m.version)).toEqual([1]);
    old.close();

    const migrated = openStore(path);
    try {
      // Every later migration runs too; 1 and 2 are the ones this test is about.
      const applied = appliedMigrations(migrated.db).map((m) => [m.version, m.name]);
      expect(applied).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
      expect(applied.slice(0, 2)).toEqual([
        [1, "auth_core"],
        [2, "service_deployments"],
      ]);
      expect(migrated.users.get("usr_1")?.name).toBe("U");
      okValue(migrated.serviceDeployments.create({ deploymentId: "d", namespaces: ["D"] }));
      const key = sessionKeyFromSeed(generateSessionSeed());
      const instance = okValue(migrated.serviceInstances.provision({ deploymentId: "d", instanceKey: key }));
      expect(migrated.serviceInstances.getByKey(key)).toEqual(instance);
    } finally {
      migrated.close();
    }
  });
});
