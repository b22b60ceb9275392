import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ContractChange, type ContractDiff, diffContracts } from "./diff.js";
import { digestContractManifest } from "./digest.js";
import { CONTRACT_FORMAT_V1, type ContractManifest, type JsonSchema } from "./manifest.js";

// ---------------------------------------------------------------------------------------------
// Builders

const str: JsonSchema = { type: "string" };
const num: JsonSchema = { type: "number" };
const bool: JsonSchema = { type: "boolean" };

/** An object schema; `closed` sets `additionalProperties: false`. */
function obj(properties: Record<string, JsonSchema>, required: string[] = [], closed = false): JsonSchema {
  return { type: "object", properties, required, ...(closed ? { additionalProperties: false } : {}) };
}

const ref = (schema: string) => ({ schema });

/** A manifest with one of every surface, each using its own schemas so changes stay local. */
function base(): ContractManifest {
  return {
    format: CONTRACT_FORMAT_V1,
    id: "orders@v1",
    displayName: "Orders",
    description: "Order RPCs, refunds and change events.",
    kind: "service",
    capabilities: {
      "orders::read": { displayName: "Read orders", description: "View orders." },
      "orders::refund": {
        displayName: "Refund orders",
        description: "Start refunds.",
        consequence: "Moves money.",
      },
    },
    schemas: {
      GetOrder: obj({ id: str, verbose: bool }, ["id"]),
      Order: obj({ id: str, total: num, note: str }, ["id", "total"]),
      Refund: obj({ orderId: str, reason: str, meta: obj({ reason: str }, ["reason"]) }, ["orderId"]),
      RefundResult: obj({ refunded: num }, ["refunded"]),
      RefundProgress: obj({ pct: { type: "integer" } }),
      Approve: obj({ by: str }, ["by"]),
      OrderChanged: obj({ order: obj({ id: str }, ["id"]) }, ["order"]),
      WatchInput: obj({ id: str }, ["id"]),
      WatchFrame: obj({ status: { enum: ["open", "paid"] } }, ["status"]),
      ReindexPayload: obj({ id: str, force: bool }, ["id"]),
      ReindexResult: obj({ count: { type: "integer" } }, ["count"]),
      Prefs: obj({ theme: str }, ["theme"]),
      CacheEntry: obj({ id: str, total: num }, ["id"]),
      NotFoundData: obj({ id: str, type: { const: "NotFoundError" } }, ["id", "type"]),
      Unused: { type: "object" },
    },
    exports: { schemas: ["Order"] },
    uses: {
      required: {
        core: { contract: "trellis.core@v1", rpc: { call: ["Trellis.Catalog"] } },
        health: { contract: "trellis.health@v1", events: { publish: ["Health.Heartbeat"] } },
      },
    },
    state: { prefs: { kind: "value", schema: ref("Prefs") } },
    rpc: {
      "Orders.Get": {
        version: "v1",
        subject: "rpc.v1.Orders.Get",
        input: ref("GetOrder"),
        output: ref("Order"),
        capabilities: { call: ["orders::read"] },
        errors: [{ type: "NotFoundError" }],
      },
    },
    operations: {
      "Orders.Refund": {
        version: "v1",
        subject: "operations.v1.Orders.Refund",
        input: ref("Refund"),
        progress: ref("RefundProgress"),
        output: ref("RefundResult"),
        capabilities: { call: ["orders::refund"], observe: ["orders::read"], cancel: ["orders::refund"] },
        signals: { approve: { input: ref("Approve") } },
        cancel: true,
      },
    },
    events: {
      "Orders.Changed": {
        version: "v1",
        subject: "events.v1.Orders.Changed.{/order/id}",
        params: ["/order/id"],
        event: ref("OrderChanged"),
        capabilities: { subscribe: ["orders::read"] },
      },
    },
    feeds: {
      "Orders.Watch": {
        version: "v1",
        subject: "feeds.v1.Orders.Watch",
        input: ref("WatchInput"),
        event: ref("WatchFrame"),
        capabilities: { subscribe: ["orders::read"] },
      },
    },
    errors: { NotFoundError: { type: "NotFoundError", schema: ref("NotFoundData") } },
    jobs: { reindex: { payload: ref("ReindexPayload"), result: ref("ReindexResult"), maxDeliver: 3 } },
    eventConsumers: { projector: { self: ["Orders.Changed"] } },
    resources: {
      kv: { cache: { purpose: "Order cache", schema: ref("CacheEntry"), history: 1 } },
      store: { files: { purpose: "Receipts", maxObjectBytes: 1024 } },
    },
  };
}

/** A copy of the base manifest changed by `edit`. */
function edited(edit: (draft: ContractManifest) => void): ContractManifest {
  const draft = structuredClone(base());
  edit(draft);
  return draft;
}

/** Diffs the base manifest against an edited copy. */
function diffEdit(edit: (draft: ContractManifest) => void): ContractDiff {
  return diffContracts(base(), edited(edit));
}

function schemaOf(draft: ContractManifest, name: string): Record<string, unknown> {
  const schema = draft.schemas?.[name];
  if (typeof schema !== "object") throw new Error(`no object schema '${name}'`);
  return schema;
}

function propsOf(draft: ContractManifest, name: string): Record<string, JsonSchema> {
  const schema = schemaOf(draft, name);
  schema.properties ??= {};
  return schema.properties as Record<string, JsonSchema>;
}

function setRequired(draft: ContractManifest, name: string, required: string[]): void {
  schemaOf(draft, name).required = required;
}

function only(kind: ContractChange["kind"], path: string, message: string): ContractChange[] {
  return [{ kind, path, message }];
}

function expectKind(diff: ContractDiff, classification: ContractDiff["classification"]): void {
  expect(diff.classification, JSON.stringify(diff.changes, null, 2)).toBe(classification);
  expect(diff.breaking).toEqual(diff.changes.filter((change) => change.kind === "breaking"));
}

function messages(diff: ContractDiff): string[] {
  return diff.changes.map((change) => change.message);
}

// ---------------------------------------------------------------------------------------------

describe("diffContracts: identity", () => {
  it("a manifest is identical to itself", () => {
    expect(diffContracts(base(), base())).toEqual({ classification: "identical", changes: [], breaking: [] });
  });

  it("docs, displayName, description, exports and unreferenced schemas are identical", () => {
    const diff = diffEdit((draft) => {
      draft.displayName = "Orders service";
      draft.description = "Something else.";
      draft.docs = { markdown: "# Orders" };
      draft.exports = { schemas: ["Order", "Refund"] };
      draft.rpc!["Orders.Get"]!.docs = { summary: "Get", markdown: "Gets an order." };
      draft.operations!["Orders.Refund"]!.signals!.approve!.docs = { markdown: "Approves." };
      draft.schemas!.Unused = { type: "string" };
    });
    expect(diff).toEqual({ classification: "identical", changes: [], breaking: [] });
  });

  it("reordered capability lists and uses selectors are identical", () => {
    const diff = diffEdit((draft) => {
      draft.operations!["Orders.Refund"]!.capabilities!.call = ["orders::refund", "orders::refund"];
      draft.uses!.required!.core!.rpc!.call = ["Trellis.Catalog", "Trellis.Catalog"];
    });
    expect(diff.classification).toBe("identical");
  });

  it("different ids are one breaking change", () => {
    const diff = diffEdit((draft) => {
      draft.id = "billing@v2";
    });
    expectKind(diff, "breaking");
    expect(diff.changes).toEqual(
      only("breaking", "/id", "contract id changed from 'orders@v1' to 'billing@v2'"),
    );
  });

  it("a kind change is breaking", () => {
    const diff = diffEdit((draft) => {
      draft.kind = "app";
    });
    expect(diff.changes).toEqual(only("breaking", "/kind", "contract kind changed from 'service' to 'app'"));
  });
});

describe("diffContracts: surfaces", () => {
  it("adding an rpc is additive", () => {
    const diff = diffEdit((draft) => {
      draft.rpc!["Orders.List"] = {
        version: "v1",
        subject: "rpc.v1.Orders.List",
        input: ref("GetOrder"),
        output: ref("Order"),
      };
    });
    expectKind(diff, "additive");
    expect(diff.changes).toEqual(only("additive", "/rpc/Orders.List", "rpc 'Orders.List' added"));
  });

  it("adding every other kind of surface is additive", () => {
    const diff = diffEdit((draft) => {
      draft.schemas!.Fresh = obj({ x: str });
      draft.operations!["Orders.Export"] = {
        version: "v1",
        subject: "operations.v1.Orders.Export",
        input: ref("Fresh"),
        output: ref("Fresh"),
      };
      draft.operations!["Orders.Refund"]!.signals!.reject = { input: ref("Fresh") };
      draft.events!["Orders.Deleted"] = {
        version: "v1",
        subject: "events.v1.Orders.Deleted",
        event: ref("Fresh"),
      };
      draft.feeds!["Orders.Tail"] = {
        version: "v1",
        subject: "feeds.v1.Orders.Tail",
        input: ref("Fresh"),
        event: ref("Fresh"),
      };
      draft.jobs!.export = { payload: ref("Fresh") };
      draft.capabilities!["orders::export"] = { displayName: "Export", description: "Export orders." };
      draft.state!.drafts = { kind: "map", schema: ref("Fresh") };
      draft.resources!.kv!.index = { purpose: "Index", schema: ref("Fresh") };
      draft.resources!.store!.exports = { purpose: "Exports" };
      draft.eventConsumers!.audit = { self: ["Orders.Changed"] };
    });
    expectKind(diff, "additive");
    expect(messages(diff).sort()).toEqual(
      [
        "capability 'orders::export' added",
        "event 'Orders.Deleted' added",
        "event consumer group 'audit' added",
        "feed 'Orders.Tail' added",
        "job queue 'export' added",
        "kv resource 'index' added",
        "operation 'Orders.Export' added",
        "operation 'Orders.Refund' signal 'reject' added",
        "state store 'drafts' added",
        "store resource 'exports' added",
      ].sort(),
    );
  });

  it("removing an rpc is breaking", () => {
    const diff = diffEdit((draft) => {
      delete draft.rpc;
    });
    expectKind(diff, "breaking");
    expect(diff.changes).toEqual([
      { kind: "breaking", path: "/rpc/Orders.Get", message: "rpc 'Orders.Get' was removed" },
      {
        kind: "additive",
        path: "/errors/NotFoundError",
        message: "error 'NotFoundError' is no longer declared by any rpc",
      },
    ]);
  });

  it("renaming an rpc is breaking", () => {
    const diff = diffEdit((draft) => {
      const method = draft.rpc!["Orders.Get"]!;
      draft.rpc = { "Orders.Fetch": method };
    });
    expectKind(diff, "breaking");
    expect(diff.changes).toEqual([
      { kind: "additive", path: "/rpc/Orders.Fetch", message: "rpc 'Orders.Fetch' added" },
      { kind: "breaking", path: "/rpc/Orders.Get", message: "rpc 'Orders.Get' was removed" },
    ]);
  });

  const removals: [string, (draft: ContractManifest) => void, string][] = [
    ["operation", (d) => delete d.operations, "operation 'Orders.Refund' was removed"],
    [
      "signal",
      (d) => delete d.operations!["Orders.Refund"]!.signals,
      "operation 'Orders.Refund' signal 'approve' was removed",
    ],
    ["event", (d) => delete d.events, "event 'Orders.Changed' was removed"],
    ["feed", (d) => delete d.feeds, "feed 'Orders.Watch' was removed"],
    ["job queue", (d) => delete d.jobs, "job queue 'reindex' was removed"],
    ["state store", (d) => delete d.state, "state store 'prefs' was removed"],
    ["kv resource", (d) => delete d.resources!.kv, "kv resource 'cache' was removed"],
    ["store resource", (d) => delete d.resources!.store, "store resource 'files' was removed"],
    [
      "capability",
      (d) => delete d.capabilities!["orders::refund"],
      "capability 'orders::refund' was removed",
    ],
    ["event consumer group", (d) => delete d.eventConsumers, "event consumer group 'projector' was removed"],
  ];
  for (const [surface, edit, message] of removals) {
    it(`removing a ${surface} is breaking`, () => {
      const diff = diffEdit(edit);
      expectKind(diff, "breaking");
      expect(diff.breaking.map((change) => change.message)).toContain(message);
    });
  }
});

describe("diffContracts: wire identity and capabilities", () => {
  it("an event subject change is breaking", () => {
    const diff = diffEdit((draft) => {
      draft.events!["Orders.Changed"]!.subject = "events.v1.Orders.Updated.{/order/id}";
    });
    expect(diff.changes).toEqual(
      only(
        "breaking",
        "/events/Orders.Changed/subject",
        "event 'Orders.Changed' subject changed from 'events.v1.Orders.Changed.{/order/id}' to 'events.v1.Orders.Updated.{/order/id}'",
      ),
    );
  });

  it("version, subject and params changes are breaking", () => {
    const diff = diffEdit((draft) => {
      draft.rpc!["Orders.Get"]!.version = "v2";
      draft.operations!["Orders.Refund"]!.subject = "operations.v1.Orders.Refunds";
      draft.feeds!["Orders.Watch"]!.subject = "feeds.v1.Orders.Follow";
      draft.events!["Orders.Changed"]!.params = ["/order/id", "/order/id"];
    });
    expectKind(diff, "breaking");
    expect(diff.breaking.map((change) => change.path)).toEqual([
      "/rpc/Orders.Get/version",
      "/operations/Orders.Refund/subject",
      "/events/Orders.Changed/params",
      "/feeds/Orders.Watch/subject",
    ]);
  });

  it("requiring more or fewer capabilities is breaking", () => {
    const more = diffEdit((draft) => {
      draft.rpc!["Orders.Get"]!.capabilities = { call: ["orders::read", "orders::refund"] };
    });
    expect(more.changes).toEqual(
      only(
        "breaking",
        "/rpc/Orders.Get/capabilities/call",
        "rpc 'Orders.Get' call capabilities changed from [orders::read] to [orders::read, orders::refund]",
      ),
    );
    const fewer = diffEdit((draft) => {
      delete draft.rpc!["Orders.Get"]!.capabilities;
    });
    expect(messages(fewer)).toEqual([
      "rpc 'Orders.Get' call capabilities changed from [orders::read] to none",
    ]);
    expectKind(fewer, "breaking");
  });

  it("operation observe, cancel and control capability changes are breaking", () => {
    const diff = diffEdit((draft) => {
      const caps = draft.operations!["Orders.Refund"]!.capabilities!;
      caps.observe = ["orders::refund"];
      delete caps.cancel;
      caps.control = [];
    });
    expectKind(diff, "breaking");
    expect(messages(diff)).toEqual([
      "operation 'Orders.Refund' observe capabilities changed from [orders::read] to [orders::refund]",
      "operation 'Orders.Refund' cancel capabilities changed from [orders::refund] to not declared",
      "operation 'Orders.Refund' control capabilities changed from not declared to none",
    ]);
  });

  it("an omitted observe list means the call list", () => {
    const diff = diffContracts(
      edited((draft) => {
        delete draft.operations!["Orders.Refund"]!.capabilities!.observe;
      }),
      edited((draft) => {
        draft.operations!["Orders.Refund"]!.capabilities!.observe = ["orders::refund"];
      }),
    );
    expectKind(diff, "additive");
  });

  it("event publish/subscribe and feed subscribe capability changes are breaking", () => {
    const diff = diffEdit((draft) => {
      draft.events!["Orders.Changed"]!.capabilities = { publish: ["service"], subscribe: ["orders::read"] };
      draft.feeds!["Orders.Watch"]!.capabilities = { subscribe: [] };
    });
    expectKind(diff, "breaking");
    expect(messages(diff)).toEqual([
      "event 'Orders.Changed' publish capabilities changed from none to [service]",
      "feed 'Orders.Watch' subscribe capabilities changed from [orders::read] to none",
    ]);
  });

  it("operation cancel true→false is breaking, false→true additive", () => {
    const lost = diffEdit((draft) => {
      draft.operations!["Orders.Refund"]!.cancel = false;
    });
    expect(lost.changes).toEqual(
      only(
        "breaking",
        "/operations/Orders.Refund/cancel",
        "operation 'Orders.Refund' cancel changed from true to false",
      ),
    );
    const gained = diffContracts(
      edited((draft) => {
        delete draft.operations!["Orders.Refund"]!.cancel;
      }),
      base(),
    );
    expectKind(gained, "additive");
  });

  it("transfer changes are breaking", () => {
    const diff = diffEdit((draft) => {
      draft.rpc!["Orders.Get"]!.transfer = { direction: "receive" };
      draft.operations!["Orders.Refund"]!.transfer = { direction: "send", store: "files", key: "/orderId" };
    });
    expectKind(diff, "breaking");
    expect(diff.breaking.map((change) => change.path)).toEqual([
      "/rpc/Orders.Get/transfer",
      "/operations/Orders.Refund/transfer",
    ]);
  });

  it("making an rpc internal is breaking, making it public additive", () => {
    const hidden = diffEdit((draft) => {
      draft.rpc!["Orders.Get"]!.internal = true;
    });
    expectKind(hidden, "breaking");
    const shown = diffContracts(
      edited((draft) => {
        draft.rpc!["Orders.Get"]!.internal = true;
      }),
      base(),
    );
    expectKind(shown, "additive");
  });
});

describe("diffContracts: declared errors", () => {
  it("adding an error type to an rpc is additive", () => {
    const diff = diffEdit((draft) => {
      draft.rpc!["Orders.Get"]!.errors = [{ type: "NotFoundError" }, { type: "ValidationError" }];
    });
    expect(diff.changes).toEqual(
      only("additive", "/rpc/Orders.Get/errors", "rpc 'Orders.Get' error 'ValidationError' added"),
    );
  });

  it("removing an error type from an rpc is additive", () => {
    const diff = diffEdit((draft) => {
      draft.rpc!["Orders.Get"]!.errors = [];
    });
    expectKind(diff, "additive");
    expect(messages(diff)).toEqual([
      "rpc 'Orders.Get' error 'NotFoundError' was removed",
      "error 'NotFoundError' is no longer declared by any rpc",
    ]);
  });

  it("an error payload is compared like an output", () => {
    const diff = diffEdit((draft) => {
      setRequired(draft, "NotFoundData", ["type"]);
    });
    expect(diff.changes).toEqual(
      only(
        "breaking",
        "/errors/NotFoundError/schema",
        "error 'NotFoundError' payload field 'id' changed from required to optional",
      ),
    );
  });
});

describe("diffContracts: uses", () => {
  it("adding an alias or a selector is additive", () => {
    const diff = diffEdit((draft) => {
      draft.uses!.required!.core!.rpc!.call = ["Trellis.Catalog", "Trellis.Contract.Get"];
      draft.uses!.optional = { auth: { contract: "trellis.auth@v1", rpc: { call: ["Auth.Sessions.Me"] } } };
    });
    expectKind(diff, "additive");
    expect(messages(diff)).toEqual([
      "optional use 'auth' of 'trellis.auth@v1' added",
      "use 'core' now calls rpc 'Trellis.Contract.Get'",
    ]);
  });

  it("removing an alias or a selector is breaking", () => {
    const diff = diffEdit((draft) => {
      draft.uses!.required!.core!.rpc!.call = [];
      delete draft.uses!.required!.health;
    });
    expectKind(diff, "breaking");
    expect(diff.changes).toEqual([
      {
        kind: "breaking",
        path: "/uses/required/core/rpc/call",
        message: "use 'core' no longer calls rpc 'Trellis.Catalog'",
      },
      {
        kind: "breaking",
        path: "/uses/required/health",
        message: "required use 'health' of 'trellis.health@v1' was removed",
      },
    ]);
  });

  it("moving an alias to optional or to another contract is breaking", () => {
    const diff = diffEdit((draft) => {
      const health = draft.uses!.required!.health!;
      delete draft.uses!.required!.health;
      draft.uses!.optional = { health };
      draft.uses!.required!.core!.contract = "trellis.core@v2";
    });
    expectKind(diff, "breaking");
    expect(messages(diff)).toEqual([
      "use 'core' contract changed from 'trellis.core@v1' to 'trellis.core@v2'",
      "use 'health' changed from required to optional",
    ]);
  });
});

describe("diffContracts: input-like schemas", () => {
  it("adding an optional field is additive", () => {
    const diff = diffEdit((draft) => {
      propsOf(draft, "GetOrder").expand = { type: "array", items: str };
    });
    expect(diff.changes).toEqual(
      only("additive", "/rpc/Orders.Get/input", "rpc 'Orders.Get' input optional field 'expand' added"),
    );
  });

  it("adding a required field is breaking", () => {
    const diff = diffEdit((draft) => {
      propsOf(draft, "GetOrder").tenant = str;
      setRequired(draft, "GetOrder", ["id", "tenant"]);
    });
    expect(diff.changes).toEqual(
      only("breaking", "/rpc/Orders.Get/input", "rpc 'Orders.Get' input required field 'tenant' added"),
    );
  });

  it("optional→required is breaking, required→optional additive", () => {
    const tightened = diffEdit((draft) => {
      setRequired(draft, "GetOrder", ["id", "verbose"]);
    });
    expect(tightened.changes).toEqual(
      only(
        "breaking",
        "/rpc/Orders.Get/input",
        "rpc 'Orders.Get' input field 'verbose' changed from optional to required",
      ),
    );
    const loosened = diffEdit((draft) => {
      setRequired(draft, "Refund", []);
    });
    expectKind(loosened, "additive");
  });

  it("removing a required field is breaking", () => {
    const diff = diffEdit((draft) => {
      delete propsOf(draft, "ReindexPayload").id;
      setRequired(draft, "ReindexPayload", []);
    });
    expect(diff.changes).toEqual(
      only("breaking", "/jobs/reindex/payload", "job queue 'reindex' payload field 'id' was removed"),
    );
  });

  it("dropping an optional field is additive unless the object is closed", () => {
    const open = diffEdit((draft) => {
      delete propsOf(draft, "ReindexPayload").force;
    });
    expect(open.changes).toEqual(
      only(
        "additive",
        "/jobs/reindex/payload",
        "job queue 'reindex' payload optional field 'force' was removed",
      ),
    );
    const closed = diffEdit((draft) => {
      draft.schemas!.ReindexPayload = obj({ id: str }, ["id"], true);
    });
    expectKind(closed, "breaking");
    expect(messages(closed)).toContain("job queue 'reindex' payload optional field 'force' was removed");
  });

  it("a nested type change is breaking and names the dotted field", () => {
    const diff = diffEdit((draft) => {
      propsOf(draft, "Refund").meta = obj({ reason: num }, ["reason"]);
    });
    expect(diff.changes).toEqual(
      only(
        "breaking",
        "/operations/Orders.Refund/input",
        "operation 'Orders.Refund' input field 'meta.reason' type changed from string to number",
      ),
    );
  });

  it("narrowing a type union is breaking, widening it additive", () => {
    const narrowed = diffContracts(
      edited((draft) => {
        propsOf(draft, "WatchInput").id = { type: ["string", "null"] };
      }),
      base(),
    );
    expect(messages(narrowed)).toEqual([
      "feed 'Orders.Watch' input field 'id' type changed from null | string to string",
    ]);
    expectKind(narrowed, "breaking");
    const widened = diffEdit((draft) => {
      propsOf(draft, "WatchInput").id = { type: ["string", "integer"] };
    });
    expectKind(widened, "additive");
  });

  it("enum narrowing is breaking, widening additive", () => {
    const narrowed = diffEdit((draft) => {
      propsOf(draft, "Approve").by = { enum: ["alice"] };
    });
    expectKind(narrowed, "breaking");
    const before = edited((draft) => {
      propsOf(draft, "Approve").by = { enum: ["alice", "bob"] };
    });
    const removed = diffContracts(
      before,
      edited((draft) => {
        propsOf(draft, "Approve").by = { enum: ["alice"] };
      }),
    );
    expect(messages(removed)).toEqual([
      "operation 'Orders.Refund' signal 'approve' input field 'by' enum value 'bob' was removed",
    ]);
    const widened = diffContracts(
      before,
      edited((draft) => {
        propsOf(draft, "Approve").by = { enum: ["alice", "bob", "carol"] };
      }),
    );
    expectKind(widened, "additive");
  });

  it("a const change is breaking", () => {
    const before = edited((draft) => {
      propsOf(draft, "GetOrder").version = { const: 1 };
    });
    const diff = diffContracts(
      before,
      edited((draft) => {
        propsOf(draft, "GetOrder").version = { const: 2 };
      }),
    );
    expect(messages(diff)).toEqual(["rpc 'Orders.Get' input field 'version' const changed from 1 to 2"]);
    expectKind(diff, "breaking");
  });

  it("tightening additionalProperties is breaking, loosening additive", () => {
    const tightened = diffEdit((draft) => {
      schemaOf(draft, "GetOrder").additionalProperties = false;
    });
    expect(messages(tightened)).toEqual([
      "rpc 'Orders.Get' input additional properties changed from allowed to forbidden",
    ]);
    expectKind(tightened, "breaking");
    const loosened = diffContracts(
      edited((draft) => {
        schemaOf(draft, "GetOrder").additionalProperties = false;
      }),
      base(),
    );
    expectKind(loosened, "additive");
  });

  it("an array item type change is breaking", () => {
    const before = edited((draft) => {
      propsOf(draft, "GetOrder").tags = { type: "array", items: str };
    });
    const diff = diffContracts(
      before,
      edited((draft) => {
        propsOf(draft, "GetOrder").tags = { type: "array", items: num };
      }),
    );
    expect(messages(diff)).toEqual([
      "rpc 'Orders.Get' input field 'tags[]' type changed from string to number",
    ]);
    expectKind(diff, "breaking");
  });

  it("removing an anyOf variant is breaking, adding one additive", () => {
    const withVariants = (variants: JsonSchema[]) =>
      edited((draft) => {
        propsOf(draft, "GetOrder").key = { anyOf: variants };
      });
    const removed = diffContracts(withVariants([str, num]), withVariants([str]));
    expect(messages(removed)).toEqual([
      "rpc 'Orders.Get' input field 'key' anyOf variant {\"type\":\"number\"} was removed",
    ]);
    expectKind(removed, "breaking");
    expectKind(diffContracts(withVariants([str]), withVariants([str, num])), "additive");
  });

  it("an unsupported keyword that differs is breaking and named", () => {
    const diff = diffEdit((draft) => {
      propsOf(draft, "GetOrder").id = { type: "string", pattern: "^o_" };
    });
    expect(diff.changes).toEqual(
      only(
        "breaking",
        "/rpc/Orders.Get/input",
        "rpc 'Orders.Get' input field 'id' schema keyword 'pattern' changed",
      ),
    );
  });

  it("a higher minimum length is breaking, a lower one additive", () => {
    const at = (minLength: number) =>
      edited((draft) => {
        propsOf(draft, "GetOrder").id = { type: "string", minLength };
      });
    expect(messages(diffContracts(at(1), at(3)))).toEqual([
      "rpc 'Orders.Get' input field 'id' minLength changed from 1 to 3",
    ]);
    expectKind(diffContracts(at(1), at(3)), "breaking");
    expectKind(diffContracts(at(3), at(1)), "additive");
  });

  it("annotation-only and renamed schemas are additive", () => {
    const annotated = diffEdit((draft) => {
      propsOf(draft, "GetOrder").id = { type: "string", description: "Order id", examples: ["o_1"] };
    });
    expect(annotated.changes).toEqual(
      only(
        "additive",
        "/rpc/Orders.Get/input",
        "rpc 'Orders.Get' input schema changed without affecting what it accepts",
      ),
    );
    const renamed = diffEdit((draft) => {
      draft.schemas!.OrderQuery = draft.schemas!.GetOrder!;
      draft.rpc!["Orders.Get"]!.input = ref("OrderQuery");
    });
    expect(renamed.changes).toEqual(
      only(
        "additive",
        "/rpc/Orders.Get/input",
        "rpc 'Orders.Get' input schema renamed from 'GetOrder' to 'OrderQuery'",
      ),
    );
  });
});

describe("diffContracts: output-like schemas", () => {
  it("required→optional is breaking", () => {
    const diff = diffEdit((draft) => {
      setRequired(draft, "Order", ["id"]);
    });
    expect(diff.changes).toEqual(
      only(
        "breaking",
        "/rpc/Orders.Get/output",
        "rpc 'Orders.Get' output field 'total' changed from required to optional",
      ),
    );
  });

  it("optional→required and a new required field are additive", () => {
    const diff = diffEdit((draft) => {
      propsOf(draft, "Order").currency = str;
      setRequired(draft, "Order", ["id", "total", "note", "currency"]);
    });
    expectKind(diff, "additive");
    expect(messages(diff)).toEqual([
      "rpc 'Orders.Get' output required field 'currency' added",
      "rpc 'Orders.Get' output field 'note' changed from optional to required",
    ]);
  });

  it("removing a required field is breaking, an optional one additive", () => {
    const required = diffEdit((draft) => {
      delete propsOf(draft, "OrderChanged").order;
      setRequired(draft, "OrderChanged", []);
    });
    expect(messages(required)).toEqual(["event 'Orders.Changed' payload field 'order' was removed"]);
    expectKind(required, "breaking");
    const optional = diffEdit((draft) => {
      delete propsOf(draft, "Order").note;
    });
    expectKind(optional, "additive");
  });

  it("a new field in a closed output object is breaking", () => {
    const closed = edited((draft) => {
      schemaOf(draft, "RefundResult").additionalProperties = false;
    });
    const diff = diffContracts(
      closed,
      edited((draft) => {
        schemaOf(draft, "RefundResult").additionalProperties = false;
        propsOf(draft, "RefundResult").fee = num;
      }),
    );
    expect(messages(diff)).toEqual(["operation 'Orders.Refund' output optional field 'fee' added"]);
    expectKind(diff, "breaking");
  });

  it("widening an output enum is breaking, narrowing it additive", () => {
    const widened = diffEdit((draft) => {
      propsOf(draft, "WatchFrame").status = { enum: ["open", "paid", "refunded"] };
    });
    expect(widened.changes).toEqual(
      only(
        "breaking",
        "/feeds/Orders.Watch/event",
        "feed 'Orders.Watch' event field 'status' enum value 'refunded' added",
      ),
    );
    const narrowed = diffEdit((draft) => {
      propsOf(draft, "WatchFrame").status = { enum: ["open"] };
    });
    expectKind(narrowed, "additive");
  });

  it("job result and operation progress: removal breaking, addition additive", () => {
    const removed = diffEdit((draft) => {
      delete draft.jobs!.reindex!.result;
      delete draft.operations!["Orders.Refund"]!.progress;
    });
    expectKind(removed, "breaking");
    expect(messages(removed)).toEqual([
      "operation 'Orders.Refund' progress was removed",
      "job queue 'reindex' result was removed",
    ]);
    const added = diffContracts(
      edited((draft) => {
        delete draft.jobs!.reindex!.result;
      }),
      base(),
    );
    expect(added.changes).toEqual(
      only("additive", "/jobs/reindex/result", "job queue 'reindex' result added"),
    );
  });

  it("a job result type change is breaking", () => {
    const diff = diffEdit((draft) => {
      propsOf(draft, "ReindexResult").count = str;
    });
    expect(messages(diff)).toEqual([
      "job queue 'reindex' result field 'count' type changed from integer to string",
    ]);
    expectKind(diff, "breaking");
  });
});

describe("diffContracts: stored values, state and resources", () => {
  it("kv values: an optional field is additive, a required one or required→optional breaking", () => {
    const optional = diffEdit((draft) => {
      propsOf(draft, "CacheEntry").note = str;
    });
    expectKind(optional, "additive");
    const required = diffEdit((draft) => {
      propsOf(draft, "CacheEntry").note = str;
      setRequired(draft, "CacheEntry", ["id", "note"]);
    });
    expect(required.changes).toEqual(
      only("breaking", "/resources/kv/cache/schema", "kv resource 'cache' value required field 'note' added"),
    );
    const relaxed = diffEdit((draft) => {
      setRequired(draft, "Prefs", []);
    });
    expect(messages(relaxed)).toEqual([
      "state store 'prefs' value field 'theme' changed from required to optional",
    ]);
    expectKind(relaxed, "breaking");
  });

  it("state store kind, stateVersion and accepted versions", () => {
    const diff = diffEdit((draft) => {
      draft.state!.prefs!.kind = "map";
      draft.state!.prefs!.stateVersion = "v2";
    });
    expect(messages(diff)).toEqual([
      "state store 'prefs' kind changed from 'value' to 'map'",
      "state store 'prefs' stateVersion changed from unset (default 'v1') to 'v2'",
    ]);
    expectKind(diff, "breaking");
    const accepted = diffEdit((draft) => {
      draft.state!.prefs!.acceptedVersions = { v0: ref("Prefs") };
    });
    expectKind(accepted, "additive");
    const dropped = diffContracts(
      edited((draft) => {
        draft.state!.prefs!.acceptedVersions = { v0: ref("Prefs") };
      }),
      base(),
    );
    expect(messages(dropped)).toEqual(["state store 'prefs' accepted version 'v0' was removed"]);
    expectKind(dropped, "breaking");
  });

  it("any kv/store resource parameter change is breaking", () => {
    const diff = diffEdit((draft) => {
      draft.resources!.kv!.cache!.history = 5;
      draft.resources!.kv!.cache!.required = false;
      draft.resources!.store!.files!.maxObjectBytes = 2048;
    });
    expectKind(diff, "breaking");
    expect(diff.changes).toEqual([
      {
        kind: "breaking",
        path: "/resources/kv/cache/required",
        message: "kv resource 'cache' required changed from unset (default true) to false",
      },
      {
        kind: "breaking",
        path: "/resources/kv/cache/history",
        message: "kv resource 'cache' history changed from 1 to 5",
      },
      {
        kind: "breaking",
        path: "/resources/store/files/maxObjectBytes",
        message: "store resource 'files' maxObjectBytes changed from 1024 to 2048",
      },
    ]);
  });

  it("spelling out a resource default is additive", () => {
    const diff = diffEdit((draft) => {
      draft.resources!.kv!.cache!.ttlMs = 0;
    });
    expectKind(diff, "additive");
    expect(messages(diff)).toEqual(["kv resource 'cache' ttlMs changed from unset (default 0) to 0"]);
  });

  it("job queue and event consumer settings are breaking", () => {
    const diff = diffEdit((draft) => {
      draft.jobs!.reindex!.maxDeliver = 5;
      draft.eventConsumers!.projector!.replay = "all";
    });
    expectKind(diff, "breaking");
    expect(messages(diff)).toEqual([
      "job queue 'reindex' maxDeliver changed from 3 to 5",
      "event consumer group 'projector' replay changed from 'new' to 'all'",
    ]);
  });

  it("capability metadata changes are additive", () => {
    const diff = diffEdit((draft) => {
      draft.capabilities!["orders::refund"]!.consequence = "Moves a lot of money.";
    });
    expect(diff.changes).toEqual(
      only(
        "additive",
        "/capabilities/orders::refund/consequence",
        "capability 'orders::refund' consequence changed from 'Moves money.' to 'Moves a lot of money.'",
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const schemaArb: fc.Memo<JsonSchema> = fc.memo((depth) => {
  const leaf = fc.constantFrom<JsonSchema>(
    true,
    str,
    num,
    bool,
    { type: "integer", minimum: 0 },
    { type: ["string", "null"] },
    { enum: ["a", "b"] },
    { const: 1 },
    { type: "string", pattern: "^x" },
  );
  if (depth <= 1) return leaf;
  const names = ["a", "b", "c"];
  const object = fc
    .record({
      properties: fc.dictionary(fc.constantFrom(...names), schemaArb(depth - 1), { maxKeys: 3 }),
      required: fc.subarray(names),
      closed: fc.boolean(),
    })
    .map(({ properties, required, closed }) =>
      obj(
        properties,
        required.filter((name) => name in properties),
        closed,
      ),
    );
  const array = schemaArb(depth - 1).map((items): JsonSchema => ({ type: "array", items }));
  const anyOf = fc
    .array(schemaArb(depth - 1), { minLength: 1, maxLength: 3 })
    .map((v): JsonSchema => ({ anyOf: v }));
  return fc.oneof(leaf, object, array, anyOf);
});

const schemaNames = ["S0", "S1", "S2"] as const;
const schemaName = fc.constantFrom(...schemaNames);
const capabilityList = fc.option(fc.subarray(["orders::read", "orders::write", "admin"]), { nil: undefined });

const manifestArb: fc.Arbitrary<ContractManifest> = fc
  .record({
    kind: fc.constantFrom("service", "app", "agent", "device"),
    schemas: fc.tuple(schemaArb(3), schemaArb(3), schemaArb(3)),
    rpc: fc.dictionary(
      fc.constantFrom("Orders.Get", "Orders.List", "Orders.Put"),
      fc.record({ input: schemaName, output: schemaName, call: capabilityList }),
      { maxKeys: 3 },
    ),
    events: fc.dictionary(
      fc.constantFrom("Orders.Changed", "Orders.Deleted"),
      fc.record({ event: schemaName, subscribe: capabilityList }),
      { maxKeys: 2 },
    ),
    jobs: fc.dictionary(
      fc.constantFrom("reindex", "export"),
      fc.record({ payload: schemaName, maxDeliver: fc.nat(5) }),
      {
        maxKeys: 2,
      },
    ),
  })
  .map(({ kind, schemas, rpc, events, jobs }) => ({
    format: CONTRACT_FORMAT_V1,
    id: "orders@v1",
    displayName: "Orders",
    description: "Generated.",
    kind,
    schemas: Object.fromEntries(schemaNames.map((name, index) => [name, schemas[index] ?? true])),
    rpc: Object.fromEntries(
      Object.entries(rpc).map(([name, method]) => [
        name,
        {
          version: "v1",
          subject: `rpc.v1.${name}`,
          input: ref(method.input),
          output: ref(method.output),
          ...(method.call ? { capabilities: { call: method.call } } : {}),
        },
      ]),
    ),
    events: Object.fromEntries(
      Object.entries(events).map(([name, event]) => [
        name,
        {
          version: "v1",
          subject: `events.v1.${name}`,
          event: ref(event.event),
          ...(event.subscribe ? { capabilities: { subscribe: event.subscribe } } : {}),
        },
      ]),
    ),
    jobs: Object.fromEntries(
      Object.entries(jobs).map(([name, job]) => [
        name,
        { payload: ref(job.payload), maxDeliver: job.maxDeliver + 1 },
      ]),
    ),
  }));

describe("diffContracts: properties", () => {
  it("a manifest is always identical to a copy of itself", () => {
    fc.assert(
      fc.property(manifestArb, (manifest) => {
        expect(diffContracts(manifest, structuredClone(manifest))).toEqual({
          classification: "identical",
          changes: [],
          breaking: [],
        });
      }),
    );
  });

  it("adding a new rpc is always additive", () => {
    fc.assert(
      fc.property(manifestArb, schemaName, schemaName, (manifest, input, output) => {
        const next = structuredClone(manifest);
        next.rpc = {
          ...next.rpc,
          "Fresh.Added": {
            version: "v1",
            subject: "rpc.v1.Fresh.Added",
            input: ref(input),
            output: ref(output),
          },
        };
        expect(diffContracts(manifest, next)).toEqual({
          classification: "additive",
          changes: only("additive", "/rpc/Fresh.Added", "rpc 'Fresh.Added' added"),
          breaking: [],
        });
      }),
    );
  });

  it("classification agrees with the changes and the digests", () => {
    fc.assert(
      fc.property(manifestArb, manifestArb, (previous, next) => {
        const diff = diffContracts(previous, next);
        const same = digestContractManifest(previous) === digestContractManifest(next);
        expect(diff.classification === "identical").toBe(same);
        expect(diff.changes.length === 0).toBe(same);
        expect(diff.breaking).toEqual(diff.changes.filter((change) => change.kind === "breaking"));
        if (!same) expect(diff.classification).toBe(diff.breaking.length > 0 ? "breaking" : "additive");
        for (const change of diff.changes) expect(change.path).toMatch(/^(\/[^/]+)*$/);
      }),
    );
  });

  it("a stored value breaks exactly when the same change breaks an input or an output", () => {
    fc.assert(
      fc.property(schemaArb(3), schemaArb(3), (a, b) => {
        const using = (name: string, schema: JsonSchema) =>
          edited((draft) => {
            draft.schemas![name] = schema;
          });
        const breaks = (name: string) =>
          diffContracts(using(name, a), using(name, b)).classification === "breaking";
        expect(breaks("CacheEntry")).toBe(breaks("GetOrder") || breaks("Order"));
      }),
    );
  });

  it("editing an unreferenced schema is identical", () => {
    fc.assert(
      fc.property(schemaArb(3), (schema) => {
        const next = edited((draft) => {
          draft.schemas!.Unused = schema;
        });
        expect(diffContracts(base(), next).classification).toBe("identical");
      }),
    );
  });
});
