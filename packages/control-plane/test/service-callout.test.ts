/**
 * Service principals on the real stack: nats-server in operator mode with the auth callout, the
 * control plane on a temp SQLite file. A provisioned, accepted and reconciled service connects with
 * exactly its materialized subjects; each denial reason of the service branch is refused; the
 * session authority and `Auth.Requests.Validate` see the same service principal.
 */
import { readFileSync } from "node:fs";
import { Kvm } from "@nats-io/kv";
import {
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  type NatsConnection,
  tokenAuthenticator,
} from "@nats-io/transport-node";
import { trellisCore } from "@trellis/builtin-contracts";
import { type ContractManifest, defineServiceContract } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { resolveLogger } from "@trellis/runtime";
import {
  generateSessionSeed,
  natsConnectToken,
  sessionKeyFromSeed,
  sha256,
  signRpcProof,
} from "@trellis/runtime/auth";
import { type PlatformHandle, startPlatform } from "@trellis/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { DeploymentReconciler } from "../src/authority/reconciliation.js";
import { resolveServiceSession, serviceTrellisId } from "../src/callout/service-principals.js";
import { resolveSessionPrincipal } from "../src/rpc/principals.js";
import { ReplayCache } from "../src/rpc/replay-cache.js";
import { validateRequest } from "../src/rpc/validate.js";
import type { ControlPlaneStore } from "../src/store/store.js";
import { type ProvisionedService, provisionService } from "./support/service-fixture.js";

/** `inventory@v1`: an RPC, an event, a KV bucket and a use of `Trellis.Catalog` (which needs a capability). */
function inventoryContract(id = "inventory@v1"): ContractManifest {
  return defineServiceContract({ schemas: { Any: z.object({}) } }, (ref) => ({
    id,
    displayName: "Inventory",
    description: "Stock levels.",
    uses: { required: { core: trellisCore.use({ rpc: { call: ["Trellis.Catalog"] } }) } },
    rpc: {
      [`${id === "inventory@v1" ? "Inventory" : "Other"}.Get`]: {
        version: "v1",
        input: ref.schema("Any"),
        output: ref.schema("Any"),
      },
    },
    events: {
      [`${id === "inventory@v1" ? "Inventory" : "Other"}.Changed`]: {
        version: "v1",
        event: ref.schema("Any"),
      },
    },
    resources: { kv: { stock: { purpose: "Stock levels", schema: ref.schema("Any") } } },
  })).CONTRACT;
}

let platform: PlatformHandle;
let store: ControlPlaneStore;
let trellis: NatsConnection;
let reconciler: DeploymentReconciler;
const opened: NatsConnection[] = [];
let counter = 0;

const now = () => Math.floor(Date.now() / 1000);

function lastDecision(sessionKey: string): string | undefined {
  return platform.controlPlane
    .recentCalloutDecisions()
    .filter((decision) => decision.sessionKey === sessionKey)
    .at(-1)?.outcome;
}

/** Connects as the sentinel presenting `digest` for `seed`; the connection, or the error. */
async function connectAs(seed: string, digest: string): Promise<NatsConnection | Error> {
  const sentinel = platform.controlPlane.context.sentinel;
  try {
    const nc = await connect({
      servers: platform.natsUrl,
      inboxPrefix: `_INBOX.${sessionKeyFromSeed(seed).slice(0, 16)}`,
      authenticator: [
        jwtAuthenticator(sentinel.jwt, new TextEncoder().encode(sentinel.seed)),
        tokenAuthenticator(natsConnectToken({ seed, iat: now(), contractDigest: digest })),
      ],
      maxReconnectAttempts: 0,
      timeout: 5000,
    });
    opened.push(nc);
    return nc;
  } catch (error) {
    return error as Error;
  }
}

async function provision(options: { capabilities?: string[]; manifest?: ContractManifest } = {}) {
  counter += 1;
  return provisionService(store, {
    deploymentId: `inventory-${counter}`,
    manifest: options.manifest ?? inventoryContract(),
    resolveContract: platform.controlPlane.context.catalog.resolver(),
    reconcile: (deploymentId) => reconciler.reconcile(deploymentId),
    ...(options.capabilities && { capabilities: options.capabilities }),
  });
}

async function expectDenied(service: ProvisionedService, code: string, digest = service.digest) {
  const result = await connectAs(service.seed, digest);
  expect(result).toBeInstanceOf(Error);
  expect(lastDecision(service.sessionKey)).toBe(code);
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  platform = await startPlatform();
  // The platform is typed from the built package, these tests call the sources: one store either way.
  store = platform.controlPlane.context.store as unknown as ControlPlaneStore;
  trellis = await connect({
    servers: platform.natsUrl,
    authenticator: credsAuthenticator(
      readFileSync(platform.controlPlane.context.config.nats.trellis.credsPath),
    ),
  });
  reconciler = new DeploymentReconciler({
    store,
    nc: trellis,
    catalog: () => platform.controlPlane.context.catalog.resolver(),
    logger: resolveLogger(false),
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close().catch(() => undefined)));
  await trellis?.close();
  await platform?.stop();
});

describe("service principals in the callout", () => {
  it("admits a reconciled service with exactly its materialized subjects and records its session", async () => {
    const service = await provision();
    const nc = await connectAs(service.seed, service.digest);
    expect(nc).not.toBeInstanceOf(Error);
    expect(lastDecision(service.sessionKey)).toBe("admitted");

    const session = store.sessions.get(service.sessionKey);
    expect(session).toMatchObject({
      type: "service",
      trellisId: serviceTrellisId(service.sessionKey),
      origin: "service",
      externalId: service.sessionKey,
      deploymentId: service.deploymentId,
      instanceId: service.instanceId,
      contractDigest: service.digest,
      participantKind: "service",
    });
    expect(store.offers.list({ instanceId: service.instanceId })[0]?.liveness).toBe("healthy");

    const resolved = resolveServiceSession(store, service.sessionKey, service.digest);
    if (!resolved?.ok) throw new Error("expected the service to resolve");
    const { principal } = resolved.value;
    expect(principal).toMatchObject({
      kind: "service",
      name: `${service.deploymentId}@trellis.internal`,
      respMax: 65535,
    });
    expect(principal.publish).toEqual(
      expect.arrayContaining([
        "events.v1.Inventory.Changed",
        "events.v1.Health.Heartbeat",
        "rpc.v1.Auth.Requests.Validate",
        `$KV.svc_${service.deploymentId}_stock.>`,
      ]),
    );
    expect(principal.subscribe).toEqual(
      expect.arrayContaining(["rpc.v1.Inventory.Get", "events.v1.Auth.Sessions.Revoked"]),
    );
    // Accepting the proposal granted the capability its use of Trellis.Catalog needs.
    expect(resolved.value.capabilities).toEqual(["service", "trellis.core::catalog.read"]);
    expect(principal.publish).toContain("rpc.v1.Trellis.Catalog");
    expect([...principal.publish, ...principal.subscribe].some((s) => s.includes("{"))).toBe(false);

    // The bound KV bucket works over the service's own connection...
    const kv = await new Kvm(nc as NatsConnection).open(`svc_${service.deploymentId}_stock`, {
      allow_direct: true,
    });
    await kv.put("sku-1", "5");
    expect((await kv.get("sku-1"))?.string()).toBe("5");
    // ...and a subject outside its grants is refused by the server.
    const denied = await (nc as NatsConnection)
      .request("rpc.v1.Auth.Users.List", "{}", { timeout: 2000 })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(String(denied)).toMatch(/permission/i);
  });

  it("grants capability-gated subjects only with the capability (desired state or instance)", async () => {
    /** Drops the capability from the desired state (an admin editing it) and reconciles. */
    const withoutDesiredCapability = async (service: ProvisionedService) => {
      const desired = store.authorities.get(service.deploymentId)?.desiredState;
      if (!desired) throw new Error("expected an authority");
      const needs = { ...desired.needs, capabilities: [] };
      store.authorities
        .setDesiredState(service.deploymentId, { ...desired, needs, capabilities: [] })
        .unwrap();
      expect((await reconciler.reconcile(service.deploymentId)).status).toBe("current");
      const resolved = resolveServiceSession(store, service.sessionKey, service.digest);
      if (!resolved?.ok) throw new Error("expected the service to resolve");
      return resolved.value;
    };
    const plain = await withoutDesiredCapability(await provision());
    expect(plain.capabilities).toEqual(["service"]);
    expect(plain.principal.publish).not.toContain("rpc.v1.Trellis.Catalog");
    expect(plain.principal.publish).toContain("events.v1.Inventory.Changed");

    const holder = await withoutDesiredCapability(
      await provision({ capabilities: ["trellis.core::catalog.read"] }),
    );
    expect(holder.capabilities).toEqual(["service", "trellis.core::catalog.read"]);
    expect(holder.principal.publish).toContain("rpc.v1.Trellis.Catalog");
  });

  it("marks the offer disconnected when its last connection closes", async () => {
    const service = await provision();
    const nc = await connectAs(service.seed, service.digest);
    expect(nc).not.toBeInstanceOf(Error);
    await (nc as NatsConnection).close();
    await waitFor(
      () => store.offers.list({ instanceId: service.instanceId })[0]?.liveness === "disconnected",
      "the offer to be disconnected",
    );
  });

  it("refuses a disabled instance or deployment (service_disabled)", async () => {
    const instance = await provision();
    store.serviceInstances.setDisabled(instance.instanceId, true).unwrap();
    await expectDenied(instance, "service_disabled");

    const deployment = await provision();
    store.serviceDeployments.setDisabled(deployment.deploymentId, true).unwrap();
    await expectDenied(deployment, "service_disabled");
  });

  it("refuses a digest without an accepted offer, or a retired one (contract_changed)", async () => {
    const service = await provision();
    await expectDenied(service, "contract_changed", trellisCore.CONTRACT_DIGEST);

    store.offers.staleDigests(service.deploymentId, [service.digest]);
    await expectDenied(service, "contract_changed");
  });

  it("refuses an offer whose contract id does not match the stored contract (contract_changed)", async () => {
    const service = await provision();
    store.db
      .prepare("UPDATE implementation_offers SET contract_id = 'someone-else@v1' WHERE instance_id = ?")
      .run(service.instanceId);
    await expectDenied(service, "contract_changed");
  });

  it("refuses until the authority's version is materialized (service_authority_miss)", async () => {
    const service = await provision();
    const authority = store.authorities.get(service.deploymentId);
    if (!authority) throw new Error("expected an authority");
    // A new desired version, not yet reconciled.
    const next = store.authorities.setDesiredState(service.deploymentId, authority.desiredState).unwrap();
    await expectDenied(service, "service_authority_miss");
    store.materialized.markPending(service.deploymentId, next.version);
    await expectDenied(service, "service_authority_miss");
    const failed = store.materialized.get(service.deploymentId);
    if (!failed) throw new Error("expected a materialization");
    store.materialized.put({ ...failed, status: "failed", error: "boom" });
    await expectDenied(service, "service_authority_miss");

    expect((await reconciler.reconcile(service.deploymentId)).status).toBe("current");
    expect(await connectAs(service.seed, service.digest)).not.toBeInstanceOf(Error);
    expect(lastDecision(service.sessionKey)).toBe("admitted");
  });

  it("refuses a disabled authority (service_authority_miss)", async () => {
    const service = await provision();
    store.db
      .prepare("UPDATE deployment_authorities SET disabled = 1 WHERE deployment_id = ?")
      .run(service.deploymentId);
    await expectDenied(service, "service_authority_miss");
  });
});

describe("service sessions in the session authority and Auth.Requests.Validate", () => {
  const replay = new ReplayCache();

  function validateAs(service: ProvisionedService, subject: string) {
    const iat = now();
    const requestId = `req-${Math.random()}`;
    const payload = "{}";
    return validateRequest(
      {
        resolve: (sessionKey, at) => resolveSessionPrincipal(store, sessionKey, at),
        now: () => new Date(),
        replay,
      },
      {
        sessionKey: service.sessionKey,
        proof: signRpcProof({ seed: service.seed, subject, payload, iat, requestId }),
        subject,
        payloadHash: sha256(payload).toString("base64url"),
        iat,
        requestId,
      },
    );
  }

  it("resolves a connected service to `service` plus its materialized capabilities", async () => {
    const service = await provision({ capabilities: ["acme::extra"] });
    expect(await connectAs(service.seed, service.digest)).not.toBeInstanceOf(Error);
    const principal = resolveSessionPrincipal(store, service.sessionKey, new Date());
    expect(principal.unwrap()).toMatchObject({
      kind: "service",
      id: service.deploymentId,
      capabilities: ["acme::extra", "service", "trellis.core::catalog.read"],
    });
  });

  it("allows a service caller only the subjects of its materialized publish grants", async () => {
    const service = await provision();
    expect(await connectAs(service.seed, service.digest)).not.toBeInstanceOf(Error);
    expect(validateAs(service, "events.v1.Health.Heartbeat").unwrap().allowed).toBe(true);
    expect(validateAs(service, "rpc.v1.Auth.Users.List").unwrap().allowed).toBe(false);
    expect(validateAs(service, "rpc.v1.Orders.Get").unwrap().allowed).toBe(false);
  });

  it("refuses a service session whose instance was disabled after it connected", async () => {
    const service = await provision();
    expect(await connectAs(service.seed, service.digest)).not.toBeInstanceOf(Error);
    store.serviceInstances.setDisabled(service.instanceId, true).unwrap();
    const resolved = resolveSessionPrincipal(store, service.sessionKey, new Date());
    expect(resolved.isErr() && resolved.error.reason).toBe("service_disabled");
    const validated = validateAs(service, "events.v1.Health.Heartbeat");
    expect(validated.isErr() && validated.error.reason).toBe("service_disabled");
  });

  it("refuses a service session without a recorded digest", () => {
    const seed = generateSessionSeed();
    const sessionKey = sessionKeyFromSeed(seed);
    store.sessions.upsert({ sessionKey, trellisId: "x", type: "service", session: {} });
    const resolved = resolveSessionPrincipal(store, sessionKey, new Date());
    expect(resolved).toEqual(Result.err(expect.objectContaining({ reason: "contract_changed" })));
  });
});
