/**
 * `Auth.Deployments.*` and `Auth.ServiceInstances.*` over a real nats-server and a real SQLite file,
 * called by user sessions written straight into the store; plus migration 2 on a version-1 database.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trellisAuth } from "@trellis/builtin-contracts";
import { defineAgentContract, EVENTS_STREAM, EVENTS_STREAM_SUBJECTS } from "@trellis/contracts";
import type { BaseError, Result } from "@trellis/result";
import {
  AuthError,
  EventPublisher,
  ProofCallerAuthenticator,
  resolveLogger,
  SchemaSet,
  TrellisClient,
  TrellisService,
  ValidationError,
} from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectionRegistry } from "../src/callout/connections.js";
import { parseControlPlaneConfig } from "../src/config.js";
import type { AuthEvents, ControlPlaneContext } from "../src/context.js";
import { ControlPlaneSessionAuthority, mountAuthRpcs } from "../src/rpc/index.js";
import { appliedMigrations, openDatabase } from "../src/store/database.js";
import { MIGRATIONS } from "../src/store/migrations.js";
import { serviceInstanceId } from "../src/store/service-instances-repository.js";
import { type ControlPlaneStore, openStore } from "../src/store/store.js";
import type { User } from "../src/store/users-repository.js";
import { createLocalUser } from "../src/users/local-accounts.js";

const ALL_AUTH_RPCS = [
  "Auth.Deployments.Create",
  "Auth.Deployments.Disable",
  "Auth.Deployments.Enable",
  "Auth.Deployments.List",
  "Auth.Deployments.Remove",
  "Auth.ServiceInstances.Disable",
  "Auth.ServiceInstances.Enable",
  "Auth.ServiceInstances.List",
  "Auth.ServiceInstances.Provision",
  "Auth.ServiceInstances.Remove",
  "Auth.Capabilities.List",
  "Auth.CapabilityGroups.Delete",
  "Auth.CapabilityGroups.Get",
  "Auth.CapabilityGroups.List",
  "Auth.CapabilityGroups.Put",
  "Auth.Connections.Kick",
  "Auth.Connections.List",
  "Auth.Health",
  "Auth.IdentityGrants.List",
  "Auth.IdentityGrants.Revoke",
  "Auth.Requests.Validate",
  "Auth.Sessions.List",
  "Auth.Sessions.Logout",
  "Auth.Sessions.Me",
  "Auth.Sessions.Revoke",
  "Auth.Users.Create",
  "Auth.Users.Get",
  "Auth.Users.List",
  "Auth.Users.Password.Change",
  "Auth.Users.PasswordReset.Create",
  "Auth.Users.Update",
] as const;

/** The caller every test participant presents (what it may call is decided by its session). */
const authCli = defineAgentContract({}, () => ({
  id: "auth-test-cli@v1",
  displayName: "Auth test CLI",
  description: "Calls the auth RPCs in tests.",
  uses: { required: { auth: trellisAuth.use({ rpc: { call: [...ALL_AUTH_RPCS] } }) } },
}));

const PASSWORD = "correct horse battery";

let server: NatsServerHandle;
let dir: string;
let store: ControlPlaneStore;
let ctx: ControlPlaneContext;
let service: TrellisService<typeof trellisAuth>;
let registry: ConnectionRegistry;
const connections: NatsConnection[] = [];
const published: { event: string; payload: Record<string, unknown> }[] = [];

let admin: User;
let alice: User;

function expectAuthError(result: Result<unknown, BaseError>, reason: string): void {
  expect(result.isErr(), `expected AuthError(${reason})`).toBe(true);
  if (!result.isErr()) return;
  expect(result.error).toBeInstanceOf(AuthError);
  if (result.error instanceof AuthError) expect(result.error.reason).toBe(reason);
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function participant(seed: string): Promise<TrellisClient<typeof authCli>> {
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
  });
  connections.push(nc);
  return TrellisClient.open({ nc, contract: authCli, sessionKeySeed: seed, logger: false });
}

/** Writes a bound user session (as the login flow would) and returns a client signing with it. */
async function userSession(
  user: User,
  options: {
    capabilities?: string[];
    publish?: string[];
    identityGrantId?: string;
    seed?: string;
  } = {},
): Promise<{ seed: string; sessionKey: string; client: TrellisClient<typeof authCli> }> {
  const seed = options.seed ?? generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  const identity = store.identities.listByUser(user.userId)[0];
  if (!identity) throw new Error(`user ${user.userId} has no identity`);
  store.sessions.upsert({
    sessionKey,
    trellisId: user.userId,
    type: "user",
    origin: identity.provider,
    externalId: identity.subject,
    identityGrantId: options.identityGrantId ?? null,
    contractDigest: authCli.CONTRACT_DIGEST,
    contractId: authCli.CONTRACT_ID,
    participantKind: "agent",
    session: {
      userId: user.userId,
      identity: { identityId: identity.identityId, provider: identity.provider, subject: identity.subject },
      participantKind: "agent",
      delegatedCapabilities: options.capabilities ?? [],
      delegatedPublishSubjects: options.publish ?? ["rpc.v1.Auth.>"],
      delegatedSubscribeSubjects: [],
    },
  });
  return { seed, sessionKey, client: await participant(seed) };
}

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

beforeAll(async () => {
  server = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), "trellis-rpc-deployments-"));
  store = openStore(join(dir, "trellis.sqlite"));
  const logger = resolveLogger(false);

  const system = await connect({ servers: server.url });
  connections.push(system);
  const jsm = await jetstreamManager(system);
  await jsm.streams.add({ name: EVENTS_STREAM, subjects: [EVENTS_STREAM_SUBJECTS] });
  const kvm = new Kvm(system);
  const [pendingAuth, browserFlows, oauthStates, connectionsKv] = await Promise.all([
    kvm.create("trellis_pending_auth", { history: 1 }),
    kvm.create("trellis_browser_flows", { history: 1 }),
    kvm.create("trellis_oauth_states", { history: 1 }),
    kvm.create("trellis_connections", { history: 1 }),
  ]);
  // A plain server has no system account: kick requests find no responder, and the registry still
  // forgets the connection, which is what these tests observe.
  registry = new ConnectionRegistry(connectionsKv, system, logger);

  const publisher = new EventPublisher({
    js: jetstream(system),
    contract: trellisAuth,
    schemas: SchemaSet.of(trellisAuth.CONTRACT),
    logger,
  });
  const publish = async (event: string, data: Record<string, unknown>) => {
    const result = await publisher.publish(event as never, data as never);
    if (result.isErr()) throw result.error;
  };
  const events: AuthEvents = {
    sessionRevoked: (input) => publish("Auth.Sessions.Revoked", input),
    connectionOpened: (input) => publish("Auth.Connections.Opened", input),
    connectionClosed: (input) => publish("Auth.Connections.Closed", input),
    connectionKicked: (input) => publish("Auth.Connections.Kicked", input),
  };
  const observer = system.subscribe("events.v1.Auth.>");
  void (async () => {
    for await (const msg of observer) {
      published.push({
        event: msg.subject.replace(/^events\.v1\./, ""),
        payload: msg.json<Record<string, unknown>>(),
      });
    }
  })();

  ctx = {
    config: parseControlPlaneConfig(
      {
        nats: {
          servers: server.url,
          authCallout: {
            issuer: { nkey: `A${"A".repeat(55)}`, signingSeedFile: "issuer.seed" },
            target: { nkey: `A${"B".repeat(55)}`, signingSeedFile: "target.seed" },
            sxSeedFile: "xkey.seed",
          },
          auth: { credsPath: "auth.creds" },
          trellis: { credsPath: "trellis.creds" },
          system: { credsPath: "system.creds" },
          sentinelCredsPath: "sentinel.creds",
        },
        storage: { dbPath: join(dir, "trellis.sqlite") },
        http: { publicOrigin: "https://trellis.example.com" },
      },
      { baseDir: dir },
    ),
    store,
    logger,
    kv: { pendingAuth, browserFlows, oauthStates },
    connections: registry,
    events,
    sentinel: { jwt: "sentinel-jwt", seed: "sentinel-seed" },
    natsServers: [server.url],
    publicOrigin: "https://trellis.example.com",
    now: () => new Date(),
  };

  admin = (
    await createLocalUser(store, { username: "root", password: PASSWORD, capabilityGroups: ["admin"] })
  ).unwrap();
  alice = (
    await createLocalUser(store, {
      username: "alice",
      password: PASSWORD,
      email: "alice@example.com",
      capabilities: ["billing::read"],
    })
  ).unwrap();

  const serviceSeed = generateSessionSeed();
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(serviceSeed).slice(0, 16)}`,
  });
  const authority = new ControlPlaneSessionAuthority(ctx);
  service = await TrellisService.open({
    nc,
    contract: trellisAuth,
    name: "trellis",
    sessionKeySeed: serviceSeed,
    authenticator: new ProofCallerAuthenticator({ authority }),
    heartbeat: false,
    logger: false,
  });
  mountAuthRpcs(service, ctx, authority);
  await service.start();
});

afterAll(async () => {
  await service?.stop();
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server?.stop();
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
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
      expect(appliedMigrations(migrated.db).map((m) => [m.version, m.name])).toEqual([
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
