/**
 * Reconciliation over a real nats-server (JetStream) and a real SQLite file: KV buckets and event
 * consumers are created or adopted with the contract's settings, the materialized authority is
 * stored `current` (or `failed` with the reason), and a second run changes nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, DeliverPolicy, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import {
  CONTRACT_FORMAT_V1,
  type ContractManifest,
  type ContractResolver,
  digestContractManifest,
} from "@trellis/contracts";
import { resolveLogger } from "@trellis/runtime";
import { type NatsServerHandle, startNatsServer } from "@trellis/testing";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deriveProposal, desiredStateOf } from "../src/authority/proposal.js";
import { DeploymentReconciler } from "../src/authority/reconciliation.js";
import { OWNER_METADATA_KEY } from "../src/authority/resources.js";
import { ensureEventStream } from "../src/infrastructure.js";
import { type ControlPlaneStore, openStore } from "../src/store/store.js";

const ref = (schema: string) => ({ schema });

const billing: ContractManifest = {
  format: CONTRACT_FORMAT_V1,
  id: "billing@v1",
  displayName: "Billing",
  description: "Billing",
  kind: "service",
  schemas: { Any: {} },
  events: { "Billing.Paid": { version: "v1", subject: "events.v1.Billing.Paid", event: ref("Any") } },
};

function ordersContract(
  overrides: Partial<ContractManifest> = {},
  omit: readonly (keyof ContractManifest)[] = [],
): ContractManifest {
  const manifest: ContractManifest = {
    format: CONTRACT_FORMAT_V1,
    id: "orders@v1",
    displayName: "Orders",
    description: "Orders",
    kind: "service",
    schemas: { Any: {} },
    uses: {
      required: {
        health: { contract: "trellis.health@v1", events: { publish: ["Health.Heartbeat"] } },
        billing: { contract: "billing@v1", events: { subscribe: ["Billing.Paid"] } },
      },
      optional: { audit: { contract: "audit@v1", rpc: { call: ["Audit.Record"] } } },
    },
    rpc: {
      "Orders.Get": { version: "v1", subject: "rpc.v1.Orders.Get", input: ref("Any"), output: ref("Any") },
    },
    events: {
      "Orders.Created": {
        version: "v1",
        subject: "events.v1.Orders.Created.{/id}",
        params: ["/id"],
        event: ref("Any"),
      },
    },
    eventConsumers: {
      projector: {
        self: ["Orders.Created"],
        uses: { billing: ["Billing.Paid"] },
        replay: "all",
        ordering: "strict",
        concurrency: 1,
        maxDeliver: 3,
      },
    },
    jobs: { emails: { payload: ref("Any") } },
    resources: {
      kv: {
        carts: {
          purpose: "Shopping carts",
          schema: ref("Any"),
          history: 3,
          ttlMs: 60_000,
          maxValueBytes: 1024,
        },
      },
    },
    ...overrides,
  };
  for (const key of omit) delete manifest[key];
  return manifest;
}

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;
let store: ControlPlaneStore;
/** Contracts the catalog knows besides the builtins (tests add and remove billing). */
let extra: Map<string, ContractManifest>;

const catalog = (): ContractResolver => {
  const known = new Map<string, ContractManifest>(BUILTIN_CONTRACTS.map((m) => [m.CONTRACT_ID, m.CONTRACT]));
  for (const [id, manifest] of extra) known.set(id, manifest);
  return (id) => known.get(id);
};

function reconciler() {
  return new DeploymentReconciler({ store, nc, catalog, logger: resolveLogger(false) });
}

/** Creates a deployment running `manifest`, with the desired state its proposal asks for. */
function deploy(deploymentId: string, manifest: ContractManifest) {
  store.serviceDeployments.create({ deploymentId, namespaces: ["Orders"] }).unwrap();
  const digest = digestContractManifest(manifest);
  store.contracts.put(manifest);
  store.authorities.activateContract(deploymentId, manifest.id, digest);
  const proposal = deriveProposal(deploymentId, digest, manifest, catalog());
  return store.authorities.setDesiredState(deploymentId, desiredStateOf([proposal])).unwrap();
}

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await ensureEventStream(nc, 1);
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trellis-reconcile-"));
  store = openStore(join(dir, "trellis.sqlite"));
  extra = new Map([[billing.id, billing]]);
});

afterEach(async () => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
  for await (const name of jsm.streams.names()) {
    if (name.startsWith("KV_")) await jsm.streams.delete(name);
  }
  for await (const consumer of jsm.consumers.list("trellis")) {
    await jsm.consumers.delete("trellis", consumer.name);
  }
});

describe("DeploymentReconciler", () => {
  it("creates the KV bucket and event consumer and stores a current materialization", async () => {
    const authority = deploy("orders", ordersContract());
    const view = await reconciler().reconcile("orders");
    expect(view.error).toBeUndefined();
    expect(view).toMatchObject({
      deploymentId: "orders",
      desiredVersion: authority.version,
      status: "current",
    });
    expect(store.materialized.get("orders")).toEqual(view);

    const bucket = (await jsm.streams.info("KV_svc_orders_carts")).config;
    expect(bucket.max_msgs_per_subject).toBe(3);
    expect(bucket.max_age).toBe(60_000 * 1_000_000);
    expect(bucket.max_msg_size).toBe(1024);
    expect(bucket.metadata?.[OWNER_METADATA_KEY]).toBe("orders");

    const consumer = (await jsm.consumers.info("trellis", "orders-projector")).config;
    expect([...(consumer.filter_subjects ?? [])].sort()).toEqual([
      "events.v1.Billing.Paid",
      "events.v1.Orders.Created.*",
    ]);
    expect(consumer.deliver_policy).toBe(DeliverPolicy.All);
    expect(consumer.max_deliver).toBe(3);
    expect(consumer.max_ack_pending).toBe(1);
    expect(consumer.backoff).toEqual([5000, 30000].map((ms) => ms * 1_000_000));

    expect(view.resourceBindings.kv).toEqual({
      carts: { bucket: "svc_orders_carts", history: 3, ttlMs: 60_000, maxValueBytes: 1024 },
    });
    expect(view.resourceBindings.eventConsumers?.projector).toMatchObject({
      stream: "trellis",
      consumerName: "orders-projector",
      replay: "all",
      maxDeliver: 3,
      backoffMs: [5000, 30000],
    });
    // Job queues get their binding (their consumer and grants: jobs-runtime.test.ts).
    expect(view.resourceBindings.jobs?.queues.emails).toMatchObject({
      publishPrefix: "trellis.jobs.orders.emails",
      workSubject: "trellis.work.orders.emails",
      consumerName: "orders-emails",
      maxDeliver: 5,
    });
    const subjects = view.grants.nats.map((grant) => grant.subject);
    expect(subjects).toEqual(
      expect.arrayContaining([
        "$KV.svc_orders_carts.>",
        "$JS.API.CONSUMER.MSG.NEXT.trellis.orders-projector",
        "events.v1.Billing.Paid",
        "rpc.v1.Orders.Get",
        "events.v1.Auth.Sessions.Revoked",
      ]),
    );
    // The optional `audit` use does not resolve: it grants nothing and does not fail the deployment.
    expect(subjects.some((subject) => subject.includes("Audit"))).toBe(false);
  });

  it("is idempotent: a second run gives the same materialization and leaves the objects alone", async () => {
    deploy("orders", ordersContract());
    const first = await reconciler().reconcile("orders");
    const streamBefore = await jsm.streams.info("KV_svc_orders_carts");
    const consumerBefore = await jsm.consumers.info("trellis", "orders-projector");
    const second = await reconciler().reconcile("orders");
    expect({ ...second, reconciledAt: "" }).toEqual({ ...first, reconciledAt: "" });
    expect((await jsm.streams.info("KV_svc_orders_carts")).config).toEqual(streamBefore.config);
    expect((await jsm.consumers.info("trellis", "orders-projector")).config).toEqual(consumerBefore.config);
  });

  it("adopts an existing bucket and consumer and updates their settings", async () => {
    await new Kvm(nc).create("svc_orders_carts", { history: 1, allow_direct: false });
    await jsm.consumers.add("trellis", {
      durable_name: "orders-projector",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subjects: ["events.v1.Orders.Created.*"],
      max_deliver: 10,
    });
    deploy("orders", ordersContract());
    const view = await reconciler().reconcile("orders");
    expect(view.error).toBeUndefined();
    expect(view.status).toBe("current");
    const bucket = (await jsm.streams.info("KV_svc_orders_carts")).config;
    expect(bucket.max_msgs_per_subject).toBe(3);
    expect(bucket.max_msg_size).toBe(1024);
    expect(bucket.allow_direct).toBe(true);
    expect(bucket.metadata?.[OWNER_METADATA_KEY]).toBe("orders");
    const consumer = (await jsm.consumers.info("trellis", "orders-projector")).config;
    expect(consumer.max_deliver).toBe(3);
    expect([...(consumer.filter_subjects ?? [])].sort()).toEqual([
      "events.v1.Billing.Paid",
      "events.v1.Orders.Created.*",
    ]);
  });

  it("fails when a required dependency does not resolve, keeps previous grants, and recovers when it does", async () => {
    deploy("orders", ordersContract());
    const current = await reconciler().reconcile("orders");
    extra.delete(billing.id);
    const failed = await reconciler().reconcile("orders");
    expect(failed.status).toBe("failed");
    expect(failed.error).toContain("Dependency 'billing' references inactive contract 'billing@v1'");
    expect(failed.grants).toEqual(current.grants);
    expect(store.materialized.get("orders")?.status).toBe("failed");

    extra.set(billing.id, billing);
    await reconciler().reconcileDependentsOf("billing@v1");
    expect(store.materialized.get("orders")?.status).toBe("current");
    expect(store.materialized.get("orders")?.error).toBeUndefined();
  });

  it("re-reconciles only deployments whose desired needs reference the contract", async () => {
    deploy("orders", ordersContract());
    deploy(
      "plain",
      ordersContract({ id: "plain@v1" }, ["uses", "eventConsumers", "resources", "jobs", "rpc", "events"]),
    );
    await reconciler().reconcileDependentsOf("billing@v1");
    expect(store.materialized.get("orders")?.status).toBe("current");
    expect(store.materialized.get("plain")).toBeUndefined();
  });

  it("refuses a stream of the bucket's name that is not that KV bucket", async () => {
    await jsm.streams.add({ name: "KV_svc_orders_carts", subjects: ["not.a.bucket.>"] });
    deploy("orders", ordersContract());
    const view = await reconciler().reconcile("orders");
    expect(view.status).toBe("failed");
    expect(view.error).toContain(
      "Stream 'KV_svc_orders_carts' exists but is not the KV bucket 'svc_orders_carts'",
    );
  });

  it("refuses a bucket owned by another deployment whose name sanitizes the same", async () => {
    // Deployment `svc.a` alias `b` and deployment `svc` alias `a.b` would both be `svc_svc_a_b`.
    const kvOnly = (alias: string) =>
      ordersContract({ resources: { kv: { [alias]: { purpose: "p", schema: ref("Any") } } } }, [
        "uses",
        "eventConsumers",
        "jobs",
      ]);
    deploy("svc.a", kvOnly("b"));
    expect((await reconciler().reconcile("svc.a")).status).toBe("current");
    deploy("svc", { ...kvOnly("a.b"), id: "other@v1" });
    const view = await reconciler().reconcile("svc");
    expect(view.status).toBe("failed");
    expect(view.error).toContain("KV bucket 'svc_svc_a_b' belongs to deployment 'svc.a', not 'svc'");
  });

  it("refuses to change the replay policy of an existing consumer", async () => {
    await jsm.consumers.add("trellis", {
      durable_name: "orders-projector",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      filter_subjects: ["events.v1.Orders.Created.*"],
    });
    deploy("orders", ordersContract());
    const view = await reconciler().reconcile("orders");
    expect(view.status).toBe("failed");
    expect(view.error).toContain("exists with deliver policy 'new' but the group replays 'all'");
  });

  it("fails on resources it cannot materialize yet", async () => {
    deploy(
      "orders",
      ordersContract({ resources: { store: { uploads: { purpose: "Uploads" } } } }, ["eventConsumers"]),
    );
    const view = await reconciler().reconcile("orders");
    expect(view.status).toBe("failed");
    expect(view.error).toBe(
      "The store resource 'uploads' cannot be materialized: store resources are not supported yet",
    );
  });

  it("does not overwrite a newer desired version accepted while it ran", async () => {
    deploy("orders", ordersContract());
    const slow = new DeploymentReconciler({
      store,
      nc,
      logger: resolveLogger(false),
      catalog: () => {
        // The desired state changes between reading it and storing the result.
        store.authorities.setDesiredState("orders", store.authorities.get("orders")!.desiredState).unwrap();
        return catalog();
      },
    });
    const view = await slow.reconcile("orders");
    expect(store.materialized.get("orders")?.status).toBe("pending");
    expect(view.desiredVersion).not.toBe(store.authorities.get("orders")?.version);
  });

  it("rejects unknown deployments", async () => {
    await expect(reconciler().reconcile("ghost")).rejects.toThrow("Deployment 'ghost' not found");
  });
});
