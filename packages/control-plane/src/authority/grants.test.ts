import { trellisHealth, trellisJobs } from "@trellis/builtin-contracts";
import { CONTRACT_FORMAT_V1, type ContractManifest } from "@trellis/contracts";
import { describe, expect, it } from "vitest";
import {
  instanceSubjects,
  type MaterializeGrantsInput,
  materializeGrants,
  SERVICE_AUTH_EVENT_SUBSCRIPTIONS,
  StandInCollisionError,
  sessionGrantSubject,
} from "./grants.js";
import { SERVICE_SESSION_PREFIX_PLACEHOLDER } from "./reconciler.js";

const ref = (schema: string) => ({ schema });
const SESSION_KEY = "AbCdEfGhIjKlMnOp-rest-of-the-public-key_xy";
const SK16 = "AbCdEfGhIjKlMnOp";

const billing: ContractManifest = {
  format: CONTRACT_FORMAT_V1,
  id: "billing@v1",
  displayName: "Billing",
  description: "Billing",
  kind: "service",
  schemas: { Any: {} },
  rpc: {
    "Billing.Charge": {
      version: "v1",
      subject: "rpc.v1.Billing.Charge",
      input: ref("Any"),
      output: ref("Any"),
      capabilities: { call: ["billing::charge"] },
    },
    "Billing.Refund": {
      version: "v1",
      subject: "rpc.v1.Billing.Refund",
      input: ref("Any"),
      output: ref("Any"),
    },
  },
};

const orders: ContractManifest = {
  format: CONTRACT_FORMAT_V1,
  id: "orders@v1",
  displayName: "Orders",
  description: "Orders",
  kind: "service",
  schemas: { Any: {} },
  uses: {
    required: {
      health: { contract: "trellis.health@v1", events: { publish: ["Health.Heartbeat"] } },
      billing: { contract: "billing@v1", rpc: { call: ["Billing.Charge", "Billing.Refund"] } },
    },
    optional: { audit: { contract: "audit@v1", rpc: { call: ["Audit.Record"] } } },
  },
  rpc: {
    "Orders.Get": { version: "v1", subject: "rpc.v1.Orders.Get", input: ref("Any"), output: ref("Any") },
    "Orders.Export": {
      version: "v1",
      subject: "rpc.v1.Orders.Export",
      input: ref("Any"),
      output: ref("Any"),
      transfer: { direction: "receive" },
    },
  },
  events: {
    "Orders.Created": {
      version: "v1",
      subject: "events.v1.Orders.Created.{/id}",
      params: ["/id"],
      event: ref("Any"),
    },
  },
};

const catalog = new Map<string, ContractManifest>([
  [billing.id, billing],
  [trellisHealth.CONTRACT_ID, trellisHealth.CONTRACT],
]);

function input(overrides: Partial<MaterializeGrantsInput> = {}): MaterializeGrantsInput {
  return {
    contracts: [{ digest: "orders-digest", manifest: orders }],
    resolveContract: (id) => catalog.get(id),
    capabilities: ["billing::charge"],
    surfaces: [
      { contractId: "orders@v1", kind: "rpc", name: "Orders.Get" },
      { contractId: "orders@v1", kind: "rpc", name: "Orders.Export" },
      { contractId: "orders@v1", kind: "event", name: "Orders.Created" },
      { contractId: "billing@v1", kind: "rpc", name: "Billing.Charge" },
      { contractId: "trellis.health@v1", kind: "event", name: "Health.Heartbeat" },
    ],
    resourceBindings: {
      kv: { carts: { bucket: "svc_orders_carts", history: 1, ttlMs: 0 } },
      eventConsumers: {
        projector: {
          stream: "trellis",
          consumerName: "orders-projector",
          filterSubjects: ["events.v1.Orders.Created.*"],
          replay: "new",
          ordering: "strict",
          concurrency: 1,
          ackWaitMs: 300_000,
          maxDeliver: 6,
          backoffMs: [5000],
        },
      },
    },
    ...overrides,
  };
}

const subjectsOf = (direction: "publish" | "subscribe", result = materializeGrants(input())) =>
  result.grants.nats.filter((grant) => grant.direction === direction).map((grant) => grant.subject);

describe("materializeGrants", () => {
  it("grants owned and used surfaces of the desired state, with their sources and capabilities", () => {
    const { grants } = materializeGrants(input());
    const charge = grants.nats.find((grant) => grant.subject === "rpc.v1.Billing.Charge");
    expect(charge).toMatchObject({
      direction: "publish",
      requiredCapabilities: ["billing::charge"],
      grantSource: "uses",
      surface: { contractId: "billing@v1", kind: "rpc", name: "Billing.Charge", action: "call" },
    });
    const handle = grants.nats.find((grant) => grant.subject === "rpc.v1.Orders.Get");
    expect(handle).toMatchObject({
      direction: "subscribe",
      requiredCapabilities: ["service"],
      grantSource: "contract",
    });
    expect(subjectsOf("publish")).toEqual(
      expect.arrayContaining([
        "events.v1.Orders.Created.*",
        "events.v1.Health.Heartbeat",
        "rpc.v1.Auth.Requests.Validate",
      ]),
    );
    expect(grants.capabilities).toEqual(["billing::charge"]);
    expect(grants.surfaces.map((s) => `${s.contractId}:${s.kind}:${s.name}`)).toEqual([
      "billing@v1:rpc:Billing.Charge",
      "orders@v1:event:Orders.Created",
      "orders@v1:rpc:Orders.Export",
      "orders@v1:rpc:Orders.Get",
      "trellis.health@v1:event:Health.Heartbeat",
    ]);
  });

  it("drops rules of surfaces outside the desired state", () => {
    // Billing.Refund is used by the contract but not in the desired surfaces.
    expect(subjectsOf("publish")).not.toContain("rpc.v1.Billing.Refund");
    const withRefund = materializeGrants(
      input({
        surfaces: [...input().surfaces, { contractId: "billing@v1", kind: "rpc", name: "Billing.Refund" }],
      }),
    );
    expect(subjectsOf("publish", withRefund)).toContain("rpc.v1.Billing.Refund");
  });

  it("reports unresolved optional uses and grants nothing for them", () => {
    const result = materializeGrants(input());
    expect(result.unresolved).toEqual([
      { alias: "audit", contractId: "audit@v1", optional: true, reason: "unknown" },
    ]);
    expect(subjectsOf("publish", result).some((subject) => subject.includes("Audit"))).toBe(false);
  });

  it("uses the session placeholder for session-scoped subjects and never materializes the inbox", () => {
    const result = materializeGrants(input());
    const all = result.grants.nats.map((grant) => grant.subject);
    expect(all).toContain(`transfer.v1.download.${SERVICE_SESSION_PREFIX_PLACEHOLDER}.*`);
    expect(all.some((subject) => subject.startsWith("_INBOX."))).toBe(false);
    expect(all.some((subject) => subject.includes("zzSessionPrefix0"))).toBe(false);
  });

  it("subscribes services to the auth events that end sessions", () => {
    expect(SERVICE_AUTH_EVENT_SUBSCRIPTIONS).toEqual([
      "events.v1.Auth.Sessions.Revoked",
      "events.v1.Auth.Connections.Closed",
    ]);
    const platform = materializeGrants(input()).grants.nats.filter(
      (grant) => grant.direction === "subscribe" && grant.grantSource === "platform",
    );
    expect(platform.map((grant) => grant.subject)).toEqual(
      expect.arrayContaining([...SERVICE_AUTH_EVENT_SUBSCRIPTIONS]),
    );
    expect(platform.every((grant) => grant.requiredCapabilities.includes("service"))).toBe(true);
  });

  it("adds exact resource grants for KV buckets and event consumers", () => {
    const resource = materializeGrants(input())
      .grants.nats.filter((grant) => grant.grantSource === "resource")
      .map((grant) => grant.subject);
    expect(resource).toEqual(
      expect.arrayContaining([
        "$KV.svc_orders_carts.>",
        "$JS.API.STREAM.INFO.KV_svc_orders_carts",
        "$JS.API.CONSUMER.MSG.NEXT.trellis.orders-projector",
        "$JS.ACK.trellis.orders-projector.>",
      ]),
    );
    expect(resource.some((subject) => subject.includes("DURABLE.CREATE"))).toBe(false);
    expect(resource).not.toContain("$JS.API.STREAM.CREATE.KV_svc_orders_carts");
  });

  it("grants the deployment's operations bucket exactly, never the reference's per-session store", () => {
    const without = materializeGrants(input()).grants.nats.map((grant) => grant.subject);
    expect(without.some((subject) => subject.includes("trellis_operations_"))).toBe(false);
    expect(without.some((subject) => subject.includes("trellis_ops_"))).toBe(false);
    const base = input();
    const withOperations = materializeGrants({
      ...base,
      resourceBindings: { ...base.resourceBindings, operations: { bucket: "trellis_ops_orders" } },
    }).grants.nats.filter((grant) => grant.grantSource === "resource");
    const subjects = withOperations.map((grant) => grant.subject);
    expect(subjects).toEqual(
      expect.arrayContaining([
        "$KV.trellis_ops_orders.>",
        "$JS.API.DIRECT.GET.KV_trellis_ops_orders.>",
        "$JS.API.CONSUMER.CREATE.KV_trellis_ops_orders.>",
      ]),
    );
    expect(subjects).not.toContain("$JS.API.STREAM.CREATE.KV_trellis_ops_orders");
    expect(withOperations.every((grant) => grant.requiredCapabilities.includes("service"))).toBe(true);
  });

  it("gives the jobs-admin grants only to trellis.jobs@v1 at the builtin digest", () => {
    const jobs = { digest: trellisJobs.CONTRACT_DIGEST, manifest: trellisJobs.CONTRACT };
    const builtin = materializeGrants(input({ contracts: [jobs], surfaces: [] }));
    expect(subjectsOf("publish", builtin)).toContain("trellis.jobs.>");
    const other = materializeGrants(input({ contracts: [{ ...jobs, digest: "other" }], surfaces: [] }));
    expect(subjectsOf("publish", other)).not.toContain("trellis.jobs.>");
  });

  it("is deterministic and order-independent", () => {
    const a = materializeGrants(input());
    const b = materializeGrants(
      input({
        surfaces: [...input().surfaces].reverse(),
        capabilities: ["billing::charge", "billing::charge"],
      }),
    );
    expect(b).toEqual(a);
    expect(JSON.stringify(a)).toBe(JSON.stringify(materializeGrants(input())));
  });

  it("refuses a contract carrying the reserved stand-in token", () => {
    const sneaky: ContractManifest = { ...orders, description: "zzSessionPrefix0" };
    expect(() => materializeGrants(input({ contracts: [{ digest: "x", manifest: sneaky }] }))).toThrow(
      StandInCollisionError,
    );
  });
});

describe("instanceSubjects", () => {
  it("keeps grants whose capabilities are all held and substitutes the session prefix", () => {
    const { grants } = materializeGrants(input());
    const withCharge = instanceSubjects(
      grants,
      "publish",
      new Set(["service", "billing::charge"]),
      SESSION_KEY,
    );
    expect(withCharge).toContain("rpc.v1.Billing.Charge");
    const without = instanceSubjects(grants, "publish", new Set(["service"]), SESSION_KEY);
    expect(without).not.toContain("rpc.v1.Billing.Charge");
    const subscribe = instanceSubjects(grants, "subscribe", new Set(["service"]), SESSION_KEY);
    expect(subscribe).toContain(`transfer.v1.download.${SK16}.*`);
    expect(subscribe).toContain("rpc.v1.Orders.Get");
    expect(subscribe.some((subject) => subject.includes(SERVICE_SESSION_PREFIX_PLACEHOLDER))).toBe(false);
  });

  it("substitutes only valid session keys", () => {
    expect(sessionGrantSubject("a.{serviceSessionPrefix}.b", SESSION_KEY)).toBe(`a.${SK16}.b`);
    expect(() => sessionGrantSubject("a.{serviceSessionPrefix}.b", "short")).toThrow(/16 base64url/);
  });
});
