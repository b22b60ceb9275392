/**
 * `Trellis.Bindings.Get` over a real nats-server and SQLite file: a service session (as the service
 * bootstrap records it) asks for its deployment's resource bindings, which come from the
 * materialized authority; user sessions and other deployments' contracts are refused.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { trellisCore } from "@trellis/builtin-contracts";
import { defineServiceContract } from "@trellis/contracts";
import {
  ProofCallerAuthenticator,
  RemoteError,
  RpcClient,
  SchemaSet,
  ServerClock,
  TrellisService,
  ValidationError,
} from "@trellis/runtime";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { mountCoreRpcs } from "../src/rpc/catalog.js";
import { ControlPlaneSessionAuthority } from "../src/rpc/session-authority.js";
import { EMPTY_GRANTS } from "../src/store/materialized-repository.js";
import { type ControlPlaneStore, openStore } from "../src/store/store.js";

const Any = z.object({});
const inventory = defineServiceContract({ schemas: { Any } }, (ref) => ({
  id: "acme.inventory@v1",
  displayName: "Inventory",
  description: "Stock levels.",
  rpc: { "Inventory.Count": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
}));
const other = defineServiceContract({ schemas: { Any } }, (ref) => ({
  id: "acme.other@v1",
  displayName: "Other",
  description: "Runs elsewhere.",
  rpc: { "Other.Call": { version: "v1", input: ref.schema("Any"), output: ref.schema("Any") } },
}));

const RESOURCES = {
  kv: { cache: { bucket: "svc_inventory_cache", history: 1, ttlMs: 0 } },
  eventConsumers: {
    audit: {
      stream: "trellis",
      consumerName: "inventory-audit",
      filterSubjects: ["events.v1.Inventory.>"],
      replay: "new" as const,
      ordering: "strict" as const,
      concurrency: 1,
      ackWaitMs: 30_000,
      maxDeliver: 5,
      backoffMs: [],
    },
  },
};

let server: NatsServerHandle;
let dir: string;
let store: ControlPlaneStore;
let service: TrellisService<typeof trellisCore>;
const connections: NatsConnection[] = [];
const descriptor = trellisCore.API.owned.rpc["Trellis.Bindings.Get"];
const schemas = SchemaSet.of(trellisCore.CONTRACT);

/** Marks the deployment's current desired version materialized, with {@link RESOURCES}. */
function materialize(deploymentId: string): void {
  store.materialized.put({
    deploymentId,
    desiredVersion: store.authorities.get(deploymentId)!.version,
    status: "current",
    grants: EMPTY_GRANTS,
    resourceBindings: RESOURCES,
    reconciledAt: new Date().toISOString(),
  });
}

/**
 * A participant whose session is recorded in the store as the service bootstrap records it (a
 * provisioned instance keyed by the session key, with an accepted offer of inventory's digest), or a
 * bare session of `type` without an instance; returns its RPC client.
 */
async function participant(
  session: { instanceOf: "inventory" } | { type: "service" | "user" },
): Promise<RpcClient> {
  const seed = generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  if ("instanceOf" in session) {
    const deploymentId = session.instanceOf;
    const instance = store.serviceInstances.provision({ deploymentId, instanceKey: sessionKey }).unwrap();
    store.offers.upsertAccepted({
      deploymentId,
      instanceId: instance.instanceId,
      contractId: inventory.CONTRACT_ID,
      contractDigest: inventory.CONTRACT_DIGEST,
    });
    store.sessions.upsert({
      sessionKey,
      trellisId: instance.instanceId,
      type: "service",
      deploymentId,
      instanceId: instance.instanceId,
      instanceKey: sessionKey,
      contractId: inventory.CONTRACT_ID,
      contractDigest: inventory.CONTRACT_DIGEST,
      session: {},
    });
  } else if (session.type === "service") {
    store.sessions.upsert({
      sessionKey,
      trellisId: `svc_${sessionKey.slice(0, 8)}`,
      type: "service",
      contractId: inventory.CONTRACT_ID,
      contractDigest: inventory.CONTRACT_DIGEST,
      session: {},
    });
  }
  const nc = await connect({ servers: server.url, inboxPrefix: `_INBOX.${sessionKey.slice(0, 16)}` });
  connections.push(nc);
  return new RpcClient({ nc, seed, clock: new ServerClock() });
}

function bindingsGet(client: RpcClient, input: { contractId?: string; digest?: string } = {}) {
  return client.request("Trellis.Bindings.Get", descriptor, schemas, input);
}

beforeAll(async () => {
  server = await startNatsServer();
  dir = mkdtempSync(join(tmpdir(), "trellis-bindings-"));
  store = openStore(join(dir, "trellis.sqlite"));
  for (const [deploymentId, module] of [
    ["inventory", inventory],
    ["other", other],
  ] as const) {
    store.serviceDeployments.create({ deploymentId, namespaces: [] }).unwrap();
    store.authorities.ensure(deploymentId);
    store.contracts.put(module.CONTRACT);
    store.authorities.activateContract(deploymentId, module.CONTRACT_ID, module.CONTRACT_DIGEST);
  }
  materialize("inventory");
  const authority = new ControlPlaneSessionAuthority({ store, now: () => new Date() });
  const seed = generateSessionSeed();
  const nc = await connect({
    servers: server.url,
    inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
  });
  connections.push(nc);
  service = await TrellisService.open({
    nc,
    contract: trellisCore,
    name: "trellis",
    sessionKeySeed: seed,
    authenticator: new ProofCallerAuthenticator({ authority }),
    heartbeat: false,
    logger: false,
  });
  mountCoreRpcs(service, { store });
  await service.start();
});

afterAll(async () => {
  await service?.stop();
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  store?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("Trellis.Bindings.Get", () => {
  const expected = {
    binding: { contractId: inventory.CONTRACT_ID, digest: inventory.CONTRACT_DIGEST, resources: RESOURCES },
    eventConsumers: RESOURCES.eventConsumers,
  };

  it("returns the session's contract binding from the current materialized authority", async () => {
    const client = await participant({ instanceOf: "inventory" });
    expect(await bindingsGet(client).unwrap()).toEqual(expected);
    expect(await bindingsGet(client, { contractId: inventory.CONTRACT_ID }).unwrap()).toEqual(expected);
    expect(await bindingsGet(client, { digest: inventory.CONTRACT_DIGEST }).unwrap()).toEqual(expected);
  });

  it("drops the binding while a newer desired state awaits reconciliation", async () => {
    const client = await participant({ instanceOf: "inventory" });
    // Authenticated (and cached by the authenticator) while the authority is current.
    expect(await bindingsGet(client).unwrap()).toEqual(expected);
    const current = store.authorities.get("inventory")!;
    store.authorities.setDesiredState("inventory", current.desiredState).unwrap();
    expect(await bindingsGet(client).unwrap()).toEqual({});
    materialize("inventory");
    expect(await bindingsGet(client).unwrap()).toEqual(expected);
  });

  it("refuses a contract or digest that is not active in the caller's deployment", async () => {
    const client = await participant({ instanceOf: "inventory" });
    const byId = await bindingsGet(client, { contractId: other.CONTRACT_ID });
    expect(byId.isErr() && byId.error).toBeInstanceOf(ValidationError);
    expect(byId.isErr() && byId.error.message).toContain(
      "contract 'acme.other@v1' is not active in deployment 'inventory'",
    );
    const byDigest = await bindingsGet(client, { digest: other.CONTRACT_DIGEST });
    expect(byDigest.isErr() && byDigest.error.message).toContain(
      `digest '${other.CONTRACT_DIGEST}' is not active in deployment 'inventory'`,
    );
  });

  it("refuses callers that are not a deployment's service", async () => {
    // trellis.core@v1 declares no AuthError on this RPC, so the client receives it as a RemoteError.
    const authErrorType = (result: Awaited<ReturnType<typeof bindingsGet>>) =>
      result.isErr() && result.error instanceof RemoteError ? result.error.remoteError.type : undefined;
    const loose = await participant({ type: "service" });
    expect(authErrorType(await bindingsGet(loose))).toBe("AuthError");
    const stranger = await participant({ type: "user" });
    expect(authErrorType(await bindingsGet(stranger))).toBe("AuthError");
  });
});
