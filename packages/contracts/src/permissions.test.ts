import { describe, expect, it } from "vitest";
import { CONTRACT_FORMAT_V1, type ContractManifest } from "./manifest.js";
import {
  analyzeContract,
  authoritySurfaceKey,
  CLIENT_RESP_MAX,
  deriveCallerPermissions,
  deriveServicePermissions,
  eventConsumerGrants,
  grantedSubjects,
  jobsAdminGrants,
  kvResourceGrants,
  type PermissionRule,
  SERVICE_RESP_MAX,
} from "./permissions.js";
import { SubjectNameError } from "./subjects.js";

const SESSION_KEY = "SeSsIoNkEy012345-rest-of-the-public-key_xyz";
const SK16 = "SeSsIoNkEy012345";

const ref = (schema: string) => ({ schema });

/** A service owning rpc, operations (with cancel and transfer), events and a feed. */
const orders: ContractManifest = {
  format: CONTRACT_FORMAT_V1,
  id: "orders@v1",
  displayName: "Orders",
  description: "Orders service",
  kind: "service",
  schemas: { Any: {} },
  uses: {
    required: {
      health: { contract: "trellis.health@v1", events: { publish: ["Health.Heartbeat"] } },
      billing: { contract: "billing@v1", events: { subscribe: ["Billing.Paid"] } },
    },
  },
  rpc: {
    "Orders.Get": {
      version: "v1",
      subject: "rpc.v1.Orders.Get",
      input: ref("Any"),
      output: ref("Any"),
      capabilities: { call: ["orders::orders.read"] },
    },
    "Orders.Export": {
      version: "v1",
      subject: "rpc.v1.Orders.Export",
      input: ref("Any"),
      output: ref("Any"),
      capabilities: { call: ["orders::orders.read", "orders::orders.export"] },
      transfer: { direction: "receive" },
    },
    "Orders.Ping": { version: "v1", subject: "rpc.v1.Orders.Ping", input: ref("Any"), output: ref("Any") },
  },
  operations: {
    "Orders.Refund": {
      version: "v1",
      subject: "operations.v1.Orders.Refund",
      input: ref("Any"),
      output: ref("Any"),
      capabilities: {
        call: ["orders::orders.refund"],
        observe: ["orders::orders.read"],
        cancel: ["orders::orders.refund", "admin"],
      },
      cancel: true,
    },
    "Orders.Import": {
      version: "v1",
      subject: "operations.v1.Orders.Import",
      input: ref("Any"),
      output: ref("Any"),
      capabilities: { call: ["orders::orders.write"] },
      transfer: { direction: "send", store: "uploads", key: "/key" },
    },
    "Orders.Archive": {
      version: "v1",
      subject: "operations.v1.Orders.Archive",
      input: ref("Any"),
      output: ref("Any"),
      cancel: true,
    },
    "Orders.Purge": {
      version: "v1",
      subject: "operations.v1.Orders.Purge",
      input: ref("Any"),
      output: ref("Any"),
      capabilities: { call: ["admin"], cancel: ["admin"] },
    },
  },
  events: {
    "Orders.Changed": {
      version: "v1",
      subject: "events.v1.Orders.Changed.{/order/id}",
      params: ["/order/id"],
      event: ref("Any"),
      capabilities: { publish: ["orders::orders.write"], subscribe: ["orders::orders.read"] },
    },
    "Orders.Audited": { version: "v1", subject: "events.v1.Orders.Audited", event: ref("Any") },
  },
  feeds: {
    "Orders.Live": {
      version: "v1",
      subject: "feeds.v1.Orders.Live",
      input: ref("Any"),
      event: ref("Any"),
      capabilities: { subscribe: ["orders::orders.read"] },
    },
  },
  jobs: { reindex: { payload: ref("Any") } },
  resources: {
    kv: { cache: { purpose: "cache", schema: ref("Any") } },
    store: { uploads: { purpose: "uploads" } },
  },
};

const health: ContractManifest = {
  format: CONTRACT_FORMAT_V1,
  id: "trellis.health@v1",
  displayName: "Health",
  description: "Health",
  kind: "service",
  schemas: { Any: {} },
  events: { "Health.Heartbeat": { version: "v1", subject: "events.v1.Health.Heartbeat", event: ref("Any") } },
};

/** An app using most of the orders surfaces, plus unresolvable dependencies. */
const dashboard: ContractManifest = {
  format: CONTRACT_FORMAT_V1,
  id: "dashboard@v1",
  displayName: "Dashboard",
  description: "Dashboard app",
  kind: "app",
  uses: {
    required: {
      orders: {
        contract: "orders@v1",
        rpc: { call: ["Orders.Get", "Orders.Export", "Orders.Ping"] },
        operations: { call: ["Orders.Refund", "Orders.Import", "Orders.Archive", "Orders.Purge"] },
        events: { publish: ["Orders.Audited"], subscribe: ["Orders.Changed"] },
        feeds: { subscribe: ["Orders.Live"] },
      },
      ghost: { contract: "ghost@v1", rpc: { call: ["Ghost.Boo"] } },
      broken: { contract: "orders@v1", rpc: { call: ["Orders.Nope"] } },
      shared: { contract: "orders@v1", rpc: { call: ["Orders.Ping"] } },
    },
    optional: {
      extras: { contract: "extras@v1", rpc: { call: ["Extras.Get"] } },
      partial: { contract: "orders@v1", feeds: { subscribe: ["Orders.Gone"] } },
      shared: { contract: "unknown@v1", rpc: { call: ["Unknown.Get"] } },
    },
  },
};

const contracts = new Map([orders, health, dashboard].map((contract) => [contract.id, contract]));
const resolveContract = (id: string) => contracts.get(id);

/** Subject → required capabilities of every rule, for compact assertions. */
const table = (rules: PermissionRule[]) =>
  rules.map((rule) => [rule.subject, rule.requiredCapabilities.join(" & "), rule.surface.action]);

describe("deriveCallerPermissions (§16.13)", () => {
  const permissions = deriveCallerPermissions({
    contract: dashboard,
    resolveContract,
    sessionKey: SESSION_KEY,
  });

  it("grants publish rules for used rpc, operations, transfers, events and feeds", () => {
    expect(table(permissions.publish)).toEqual([
      ["rpc.v1.Orders.Export", "orders::orders.export & orders::orders.read", "call"],
      ["transfer.v1.download.*.*", "orders::orders.export & orders::orders.read", "download"],
      ["rpc.v1.Orders.Get", "orders::orders.read", "call"],
      ["rpc.v1.Orders.Ping", "", "call"],
      ["operations.v1.Orders.Archive", "", "call"],
      ["operations.v1.Orders.Archive.control", "", "observe"],
      ["operations.v1.Orders.Import", "orders::orders.write", "call"],
      ["operations.v1.Orders.Import.control", "orders::orders.write", "observe"],
      ["transfer.v1.upload.*.*", "orders::orders.write", "upload"],
      ["operations.v1.Orders.Purge", "admin", "call"],
      ["operations.v1.Orders.Purge.control", "admin", "observe"],
      ["operations.v1.Orders.Refund", "orders::orders.refund", "call"],
      ["operations.v1.Orders.Refund.control", "orders::orders.read", "observe"],
      ["operations.v1.Orders.Refund.control", "admin & orders::orders.refund", "cancel"],
      ["events.v1.Orders.Audited", "", "publish"],
      ["feeds.v1.Orders.Live", "orders::orders.read", "subscribe"],
    ]);
  });

  it("adds the cancel control rule only for cancel:true with declared cancel capabilities", () => {
    const cancels = permissions.publish.filter((rule) => rule.surface.action === "cancel");
    expect(cancels.map((rule) => rule.surface.name)).toEqual(["Orders.Refund"]);
  });

  it("subscribes to used events in wildcard form and to its own inbox", () => {
    expect(table(permissions.subscribe)).toEqual([
      ["events.v1.Orders.Changed.*", "orders::orders.read", "subscribe"],
      [`_INBOX.${SK16}.>`, "", "inbox"],
    ]);
  });

  it("records the surface of every rule", () => {
    expect(permissions.publish[0]?.surface).toEqual({
      contractId: "orders@v1",
      kind: "rpc",
      name: "Orders.Export",
      action: "call",
    });
    expect(permissions.publish.find((rule) => rule.surface.kind === "transfer")?.surface).toEqual({
      contractId: "orders@v1",
      kind: "transfer",
      name: "Orders.Export",
      action: "download",
    });
  });

  it("reports unresolved required and optional uses; required wins over an optional duplicate", () => {
    expect(permissions.unresolved).toEqual([
      {
        alias: "broken",
        contractId: "orders@v1",
        optional: false,
        reason: "missing",
        surface: { kind: "rpc", name: "Orders.Nope" },
      },
      { alias: "ghost", contractId: "ghost@v1", optional: false, reason: "unknown" },
      { alias: "extras", contractId: "extras@v1", optional: true, reason: "unknown" },
      {
        alias: "partial",
        contractId: "orders@v1",
        optional: true,
        reason: "missing",
        surface: { kind: "feed", name: "Orders.Gone" },
      },
    ]);
  });

  it("deduplicates identical rules from several aliases and uses resp.max 1", () => {
    expect(permissions.publish.filter((rule) => rule.subject === "rpc.v1.Orders.Ping")).toHaveLength(1);
    expect(permissions.respMax).toBe(CLIENT_RESP_MAX);
    expect(CLIENT_RESP_MAX).toBe(1);
  });

  it("grants an optional alias once it resolves", () => {
    const extras: ContractManifest = {
      format: CONTRACT_FORMAT_V1,
      id: "extras@v1",
      displayName: "Extras",
      description: "Extras",
      kind: "service",
      rpc: {
        "Extras.Get": { version: "v1", subject: "rpc.v1.Extras.Get", input: ref("A"), output: ref("A") },
      },
    };
    const withExtras = deriveCallerPermissions({
      contract: dashboard,
      resolveContract: (id) => (id === "extras@v1" ? extras : resolveContract(id)),
      sessionKey: SESSION_KEY,
    });
    expect(withExtras.publish.map((rule) => rule.subject)).toContain("rpc.v1.Extras.Get");
    expect(withExtras.unresolved.map((entry) => entry.alias)).not.toContain("extras");
  });

  it("grants only the subjects whose capabilities are all held", () => {
    const publish = (held: string[]) => grantedSubjects(permissions.publish, held);
    expect(publish([])).toEqual([
      "rpc.v1.Orders.Ping",
      "operations.v1.Orders.Archive",
      "operations.v1.Orders.Archive.control",
      "events.v1.Orders.Audited",
    ]);
    const reader = publish(["orders::orders.read"]);
    expect(reader).toContain("rpc.v1.Orders.Get");
    expect(reader).toContain("operations.v1.Orders.Refund.control");
    expect(reader).not.toContain("rpc.v1.Orders.Export");
    expect(reader).not.toContain("transfer.v1.download.*.*");
    const exporter = publish(["orders::orders.read", "orders::orders.export"]);
    expect(exporter).toContain("rpc.v1.Orders.Export");
    expect(exporter).toContain("transfer.v1.download.*.*");
    // Cancel alone (admin) does not grant the refund start subject.
    expect(publish(["admin"])).toEqual([
      "rpc.v1.Orders.Ping",
      "operations.v1.Orders.Archive",
      "operations.v1.Orders.Archive.control",
      "operations.v1.Orders.Purge",
      "operations.v1.Orders.Purge.control",
      "events.v1.Orders.Audited",
    ]);
    expect(publish(["admin", "orders::orders.refund"])).toContain("operations.v1.Orders.Refund.control");
    expect(grantedSubjects(permissions.subscribe, [])).toEqual([`_INBOX.${SK16}.>`]);
  });

  it("filters contract surfaces by the authority set but never platform grants", () => {
    const authority = new Set(["orders@v1:rpc:Orders.Get", "orders@v1:rpc:Orders.Export"]);
    const everything = ["orders::orders.read", "orders::orders.export", "orders::orders.write", "admin"];
    expect(grantedSubjects(permissions.publish, everything, authority)).toEqual([
      "rpc.v1.Orders.Export",
      "transfer.v1.download.*.*",
      "rpc.v1.Orders.Get",
    ]);
    expect(grantedSubjects(permissions.subscribe, everything, new Set())).toEqual([`_INBOX.${SK16}.>`]);
  });

  it("keys transfer rules by the surface they serve", () => {
    expect(authoritySurfaceKey({ contractId: "o@v1", kind: "transfer", name: "Imp", action: "upload" })).toBe(
      "o@v1:operation:Imp",
    );
    expect(
      authoritySurfaceKey({ contractId: "o@v1", kind: "transfer", name: "Exp", action: "download" }),
    ).toBe("o@v1:rpc:Exp");
    expect(
      authoritySurfaceKey({ contractId: "o@v1", kind: "kv", name: "b", action: "operation-store" }),
    ).toBe(undefined);
  });
});

describe("deriveServicePermissions (§16.13)", () => {
  const permissions = deriveServicePermissions({
    contract: orders,
    resolveContract,
    sessionKey: SESSION_KEY,
  });
  const service = ["service"];

  it("publishes owned events without capabilities, used surfaces, and service platform grants", () => {
    const publish = table(permissions.publish);
    expect(publish.slice(0, 3)).toEqual([
      ["events.v1.Orders.Audited", "", "publish"],
      ["events.v1.Orders.Changed.*", "", "publish"],
      ["events.v1.Health.Heartbeat", "", "publish"],
    ]);
    const bucket = `trellis_operations_${SK16}`;
    const kv = permissions.publish.filter((rule) => rule.surface.kind === "kv");
    expect(kv.map((rule) => rule.subject)).toEqual(kvResourceGrants(bucket, { create: true }));
    expect(
      kv.every((rule) => rule.requiredCapabilities.join() === "service" && rule.surface.name === bucket),
    ).toBe(true);
    expect(permissions.publish).toContainEqual({
      subject: "rpc.v1.Auth.Requests.Validate",
      requiredCapabilities: service,
      surface: {
        contractId: "orders@v1",
        kind: "platform",
        name: "Auth.Requests.Validate",
        action: "validate",
      },
    });
    expect(permissions.publish.some((rule) => rule.surface.kind === "jobs")).toBe(false);
  });

  it("subscribes to owned events, used events, handled surfaces, transfers and its inbox", () => {
    expect(table(permissions.subscribe)).toEqual([
      ["events.v1.Orders.Audited", "", "subscribe"],
      ["events.v1.Orders.Changed.*", "orders::orders.read", "subscribe"],
      ["rpc.v1.Orders.Export", "service", "handle"],
      [`transfer.v1.download.${SK16}.*`, "service", "download"],
      ["rpc.v1.Orders.Get", "service", "handle"],
      ["rpc.v1.Orders.Ping", "service", "handle"],
      ["operations.v1.Orders.Archive", "service", "handle"],
      ["operations.v1.Orders.Archive.control", "service", "control"],
      ["operations.v1.Orders.Import", "service", "handle"],
      ["operations.v1.Orders.Import.control", "service", "control"],
      [`transfer.v1.upload.${SK16}.*`, "service", "upload"],
      ["operations.v1.Orders.Purge", "service", "handle"],
      ["operations.v1.Orders.Purge.control", "service", "control"],
      ["operations.v1.Orders.Refund", "service", "handle"],
      ["operations.v1.Orders.Refund.control", "service", "control"],
      ["feeds.v1.Orders.Live", "service", "handle"],
      [`_INBOX.${SK16}.>`, "", "inbox"],
    ]);
  });

  it("reports the unresolved billing dependency and uses resp.max 65535", () => {
    expect(permissions.unresolved).toEqual([
      { alias: "billing", contractId: "billing@v1", optional: false, reason: "unknown" },
    ]);
    expect(permissions.respMax).toBe(SERVICE_RESP_MAX);
    expect(SERVICE_RESP_MAX).toBe(65535);
  });

  it("grants service-gated subjects only with the service capability", () => {
    const withService = grantedSubjects(permissions.subscribe, ["service"]);
    expect(withService).toContain("rpc.v1.Orders.Get");
    expect(withService).not.toContain("events.v1.Orders.Changed.*");
    const without = grantedSubjects(permissions.subscribe, ["orders::orders.read"]);
    expect(without).toEqual(["events.v1.Orders.Audited", "events.v1.Orders.Changed.*", `_INBOX.${SK16}.>`]);
    expect(grantedSubjects(permissions.publish, [])).toEqual([
      "events.v1.Orders.Audited",
      "events.v1.Orders.Changed.*",
      "events.v1.Health.Heartbeat",
    ]);
  });

  it("omits service-gated rules when the principal lacks the service capability", () => {
    const limited = deriveServicePermissions({
      contract: orders,
      resolveContract,
      sessionKey: SESSION_KEY,
      holdsServiceCapability: false,
    });
    expect(limited.publish.map((rule) => rule.subject)).toEqual([
      "events.v1.Orders.Audited",
      "events.v1.Orders.Changed.*",
      "events.v1.Health.Heartbeat",
    ]);
    expect(limited.subscribe.map((rule) => rule.subject)).toEqual([
      "events.v1.Orders.Audited",
      "events.v1.Orders.Changed.*",
      `_INBOX.${SK16}.>`,
    ]);
  });

  it("adds the jobs-admin grants when implementing trellis.jobs@v1", () => {
    const jobs = deriveServicePermissions({
      contract: orders,
      resolveContract,
      sessionKey: SESSION_KEY,
      implementsJobsAdmin: true,
    });
    const grants = jobs.publish.filter((rule) => rule.surface.kind === "jobs").map((rule) => rule.subject);
    expect(grants).toEqual(jobsAdminGrants());
    expect(grants).toContain("trellis.jobs.>");
    expect(grants).toContain("$JS.ACK.JOBS_ADVISORIES.jobs-advisories.>");
    expect(grants.some((subject) => subject.includes("DURABLE.CREATE"))).toBe(false);
  });
});

describe("resource grants", () => {
  it("lists the exact KV bucket grants", () => {
    expect(kvResourceGrants("cache")).toEqual([
      "$KV.cache.>",
      "$JS.API.STREAM.INFO.KV_cache",
      "$JS.API.DIRECT.GET.KV_cache",
      "$JS.API.DIRECT.GET.KV_cache.>",
      "$JS.API.CONSUMER.CREATE.KV_cache",
      "$JS.API.CONSUMER.CREATE.KV_cache.>",
      "$JS.API.CONSUMER.INFO.KV_cache.>",
      "$JS.API.CONSUMER.DELETE.KV_cache.>",
      "$JS.API.CONSUMER.MSG.NEXT.KV_cache.>",
      "$JS.ACK.KV_cache.>",
      "$JS.API.INFO",
    ]);
    expect(kvResourceGrants("cache", { create: true })).toContain("$JS.API.STREAM.CREATE.KV_cache");
    expect(kvResourceGrants("cache")).not.toContain("$JS.API.STREAM.CREATE.KV_cache");
  });

  it("lists the exact event consumer grants", () => {
    expect(eventConsumerGrants("trellis", "orders-changes")).toEqual([
      "$JS.API.CONSUMER.INFO.trellis.orders-changes",
      "$JS.API.CONSUMER.MSG.NEXT.trellis.orders-changes",
      "$JS.ACK.trellis.orders-changes.>",
    ]);
  });

  it("refuses names that would widen the grants", () => {
    expect(() => kvResourceGrants("a.>")).toThrow(SubjectNameError);
    expect(() => kvResourceGrants("")).toThrow(SubjectNameError);
    expect(() => eventConsumerGrants("trellis", "*")).toThrow(SubjectNameError);
  });
});

describe("analyzeContract", () => {
  const analysis = analyzeContract(orders);

  it("lists rpc methods and operations with their capabilities", () => {
    expect(analysis.rpcMethods[1]).toEqual({
      key: "Orders.Get",
      subject: "rpc.v1.Orders.Get",
      wildcardSubject: "rpc.v1.Orders.Get",
      callerCapabilities: ["orders::orders.read"],
    });
    expect(analysis.operations.find((operation) => operation.key === "Orders.Refund")).toEqual({
      key: "Orders.Refund",
      subject: "operations.v1.Orders.Refund",
      wildcardSubject: "operations.v1.Orders.Refund",
      controlSubject: "operations.v1.Orders.Refund.control",
      wildcardControlSubject: "operations.v1.Orders.Refund.control",
      callCapabilities: ["orders::orders.refund"],
      observeCapabilities: ["orders::orders.read"],
      cancelCapabilities: ["admin", "orders::orders.refund"],
      cancel: true,
    });
    expect(
      analysis.operations.find((operation) => operation.key === "Orders.Purge")?.cancelCapabilities,
    ).toEqual([]);
  });

  it("lists get/wait/watch controls with observe capabilities, and cancel when cancellable", () => {
    const refund = analysis.operationControls.filter((control) => control.operation === "Orders.Refund");
    expect(refund.map((control) => [control.action, control.requiredCapabilities.join(" & ")])).toEqual([
      ["get", "orders::orders.read"],
      ["wait", "orders::orders.read"],
      ["watch", "orders::orders.read"],
      ["cancel", "admin & orders::orders.refund"],
    ]);
    const imports = analysis.operationControls.filter((control) => control.operation === "Orders.Import");
    expect(imports.map((control) => control.requiredCapabilities)).toEqual([
      ["orders::orders.write"],
      ["orders::orders.write"],
      ["orders::orders.write"],
    ]);
  });

  it("lists NATS publish and subscribe entries by kind", () => {
    expect(
      analysis.nats.subscribe.find((entry) => entry.kind === "operation:control")?.requiredCapabilities,
    ).toEqual(["service"]);
    expect(
      analysis.nats.publish.find((entry) => entry.kind === "event:publish" && entry.key === "Orders.Changed"),
    ).toEqual({
      kind: "event:publish",
      key: "Orders.Changed",
      subject: "events.v1.Orders.Changed.*",
      requiredCapabilities: ["orders::orders.write"],
    });
    const kinds = new Set([...analysis.nats.publish, ...analysis.nats.subscribe].map((entry) => entry.kind));
    expect([...kinds].sort()).toEqual([
      "event:publish",
      "event:subscribe",
      "operation:call",
      "operation:control",
      "operation:handle",
      "rpc:call",
      "rpc:handle",
    ]);
  });

  it("summarizes the counts", () => {
    expect(analysis.namespaces).toEqual(["Orders"]);
    expect(analysis.summary).toEqual({
      rpcMethods: 3,
      operations: 4,
      operationControls: 4 * 3 + 1,
      events: 2,
      natsPublish: 3 + 4 * 2 + 1 + 2,
      natsSubscribe: 3 + 4 * 2 + 2,
      kvResources: 1,
      storeResources: 1,
      jobsQueues: 1,
      namespaces: 1,
    });
  });
});
