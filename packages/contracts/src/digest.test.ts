import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  ContractManifestSchema,
  digestContractManifest,
  parseContractManifest,
  projectContractDigestManifest,
} from "./index.js";

const root = new URL("../../../conformance/", import.meta.url);
const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, root), "utf8"));

describe("reference manifests", () => {
  const digests: Record<string, string> = readJson("reference-manifests/digests.json");
  for (const [id, digest] of Object.entries(digests)) {
    it(`${id} digests to ${digest}`, () => {
      const manifest = ContractManifestSchema.parse(readJson(`reference-manifests/${id}.json`));
      expect(digestContractManifest(manifest)).toBe(digest);
    });
  }

  it("keeps rpc.*.internal in the digest (trellis.core@v1 only matches with it)", () => {
    const core = readJson("reference-manifests/trellis.core@v1.json");
    delete core.rpc["Trellis.Bindings.Get"].internal;
    expect(digestContractManifest(parseContractManifest(core))).toBe(
      "0fj3uwi0bP5Z59d1Hv5j7UAfHrwWHhCUvKEQDzojWxU",
    );
  });
});

/** The spec's §2.3 example: every section the digest looks at. */
function orders(): Record<string, any> {
  return {
    format: "trellis.contract.v1",
    id: "orders@v1",
    displayName: "Orders",
    description: "Order RPCs, refunds and change events.",
    kind: "service",
    capabilities: {
      "orders::orders.read": { displayName: "Read orders", description: "View orders." },
      "orders::orders.refund": {
        displayName: "Refund orders",
        description: "Start refunds.",
        consequence: "Moves money.",
      },
    },
    schemas: {
      GetOrder: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
      Order: {
        type: "object",
        properties: { id: { type: "string" }, total: { type: "number" } },
        required: ["id", "total"],
      },
      Refund: { type: "object", properties: { orderId: { type: "string" } }, required: ["orderId"] },
      RefundProgress: { type: "object", properties: { pct: { type: "integer" } } },
      OrderChanged: {
        type: "object",
        properties: { order: { type: "object", properties: { id: { type: "string" } }, required: ["id"] } },
        required: ["order"],
      },
      NotFoundErrorData: {
        type: "object",
        properties: {
          id: { type: "string" },
          type: { const: "NotFoundError", type: "string" },
          message: { type: "string" },
        },
        required: ["id", "type", "message"],
      },
      Unused: { type: "object" },
    },
    exports: { schemas: ["Order"] },
    uses: {
      required: {
        health: { contract: "trellis.health@v1", events: { publish: ["Health.Heartbeat"] } },
        core: { contract: "trellis.core@v1", rpc: { call: ["Trellis.Catalog"] } },
      },
    },
    rpc: {
      "Orders.Get": {
        version: "v1",
        subject: "rpc.v1.Orders.Get",
        input: { schema: "GetOrder" },
        output: { schema: "Order" },
        capabilities: { call: ["orders::orders.read"] },
        errors: [{ type: "NotFoundError" }, { type: "ValidationError" }],
      },
    },
    operations: {
      "Orders.Refund": {
        version: "v1",
        subject: "operations.v1.Orders.Refund",
        input: { schema: "Refund" },
        progress: { schema: "RefundProgress" },
        output: { schema: "Order" },
        capabilities: { call: ["orders::orders.refund"], observe: ["orders::orders.read"] },
        cancel: true,
      },
    },
    events: {
      "Orders.Changed": {
        version: "v1",
        subject: "events.v1.Orders.Changed.{/order/id}",
        params: ["/order/id"],
        event: { schema: "OrderChanged" },
        capabilities: { subscribe: ["orders::orders.read"] },
      },
    },
    jobs: { reindex: { payload: { schema: "GetOrder" }, maxDeliver: 3 } },
    resources: {
      kv: {
        cache: { purpose: "Order cache", schema: { schema: "Order" }, required: true, history: 1, ttlMs: 0 },
      },
    },
    errors: { NotFoundError: { type: "NotFoundError", schema: { schema: "NotFoundErrorData" } } },
  };
}

const digestOf = (manifest: unknown) => digestContractManifest(parseContractManifest(manifest));
const BASE = digestOf(orders());

function edited(mutate: (m: Record<string, any>) => void): string {
  const m = orders();
  mutate(m);
  return digestOf(m);
}

/** Rebuilds every object with its keys in a shuffled order. */
function shuffleKeys(value: unknown, rand: () => number): unknown {
  if (Array.isArray(value)) return value.map((item) => shuffleKeys(item, rand));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, rand)]));
}

const randomSource = fc.integer().map((seed) => {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
});

function permute<T>(list: T[], rand: () => number, duplicates: number): T[] {
  const out = [...list];
  for (let n = 0; n < duplicates && list.length > 0; n++) out.push(list[Math.floor(rand() * list.length)]!);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("digest invariants (§5.3, properties)", () => {
  it("reproduces the §2.3 example digest", () => {
    expect(BASE).toBe("D2oymqC8Yh0xGXAzMQuaTtjVKdhhf8KYXrPArOl0CQg");
  });

  it("ignores key order at every level", () => {
    fc.assert(
      fc.property(randomSource, (rand) => {
        const m = shuffleKeys(orders(), rand);
        expect(digestOf(m)).toBe(BASE);
      }),
    );
  });

  it("ignores docs, displayName, description and exports", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), fc.boolean(), (text, markdown, exportAll) => {
        const m = orders();
        m.displayName = text;
        m.description = text;
        m.docs = { summary: text, markdown };
        m.rpc["Orders.Get"].docs = { markdown };
        m.operations["Orders.Refund"].docs = { summary: text, markdown };
        m.events["Orders.Changed"].docs = { markdown };
        m.jobs.reindex.docs = { markdown };
        m.resources.kv.cache.docs = { markdown };
        m.exports = exportAll ? { schemas: Object.keys(m.schemas) } : { schemas: [] };
        expect(digestOf(m)).toBe(BASE);
      }),
    );
  });

  it("ignores unused schemas and unknown fields", () => {
    fc.assert(
      fc.property(
        fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v))),
        fc.string({ minLength: 1 }),
        (json, name) => {
          const m = orders();
          m.schemas.Unused = { type: "object", description: JSON.stringify(json) };
          m.schemas[`Extra${name}`] = { type: "string" };
          m.somethingFromTheFuture = json;
          expect(digestOf(m)).toBe(BASE);
        },
      ),
    );
  });

  it("ignores order and duplicates of capability lists, uses selectors and RPC error lists", () => {
    fc.assert(
      fc.property(randomSource, fc.nat(3), (rand, dups) => {
        const m = orders();
        const rpc = m.rpc["Orders.Get"];
        rpc.errors = permute(rpc.errors, rand, dups);
        rpc.capabilities.call = permute(["orders::orders.read"], rand, dups);
        const op = m.operations["Orders.Refund"];
        op.capabilities.observe = permute(op.capabilities.observe, rand, dups);
        m.uses.required.core.rpc.call = permute(["Trellis.Catalog"], rand, dups);
        m.uses.required.health.events.publish = permute(["Health.Heartbeat"], rand, dups);
        expect(digestOf(m)).toBe(BASE);
      }),
    );
  });

  it("ignores an optional alias shadowed by a required one", () => {
    expect(
      edited((m) => {
        m.uses.optional = { core: { contract: "trellis.core@v1", rpc: { call: ["Trellis.Contract.Get"] } } };
      }),
    ).toBe(BASE);
  });

  const semanticEdits: [string, (m: Record<string, any>) => void][] = [
    ["capability display name", (m) => (m.capabilities["orders::orders.read"].displayName = "Read")],
    ["capability consequence", (m) => (m.capabilities["orders::orders.read"].consequence = "Sees totals.")],
    [
      "a new capability",
      (m) => (m.capabilities["orders::orders.write"] = { displayName: "W", description: "W." }),
    ],
    ["rpc subject", (m) => (m.rpc["Orders.Get"].subject = "rpc.v1.Orders.Fetch")],
    ["rpc capabilities", (m) => (m.rpc["Orders.Get"].capabilities.call = ["admin"])],
    ["rpc error list", (m) => m.rpc["Orders.Get"].errors.push({ type: "AuthError" })],
    ["rpc internal flag", (m) => (m.rpc["Orders.Get"].internal = true)],
    ["a used schema", (m) => (m.schemas.Order.required = ["id"])],
    ["an error schema", (m) => (m.schemas.NotFoundErrorData.properties.extra = { type: "string" })],
    ["operation cancel", (m) => (m.operations["Orders.Refund"].cancel = false)],
    ["operation observe capabilities", (m) => (m.operations["Orders.Refund"].capabilities.observe = [])],
    [
      "operation signals",
      (m) => (m.operations["Orders.Refund"].signals = { go: { input: { schema: "GetOrder" } } }),
    ],
    [
      "event params and subject",
      (m) => {
        m.events["Orders.Changed"].subject = "events.v1.Orders.Changed";
        delete m.events["Orders.Changed"].params;
      },
    ],
    [
      "event capabilities",
      (m) => (m.events["Orders.Changed"].capabilities.publish = ["orders::orders.read"]),
    ],
    [
      "a feed",
      (m) =>
        (m.feeds = {
          "Orders.Live": {
            version: "v1",
            subject: "feeds.v1.Orders.Live",
            input: { schema: "GetOrder" },
            event: { schema: "Order" },
          },
        }),
    ],
    ["job maxDeliver", (m) => (m.jobs.reindex.maxDeliver = 4)],
    ["job backoff", (m) => (m.jobs.reindex.backoffMs = [1000])],
    ["kv required flag", (m) => (m.resources.kv.cache.required = false)],
    ["kv history", (m) => (m.resources.kv.cache.history = 2)],
    ["kv ttl", (m) => (m.resources.kv.cache.ttlMs = 1000)],
    ["a store", (m) => (m.resources.store = { files: { purpose: "Files", required: true, ttlMs: 0 } })],
    [
      "store params",
      (m) => {
        m.resources.store = { files: { purpose: "Files", required: true, ttlMs: 0, maxObjectBytes: 10 } };
      },
    ],
    ["uses selector", (m) => m.uses.required.core.rpc.call.push("Trellis.Contract.Get")],
    ["uses target", (m) => (m.uses.required.core.contract = "trellis.core@v2")],
    [
      "an optional use",
      (m) => (m.uses.optional = { jobs: { contract: "trellis.jobs@v1", rpc: { call: ["Jobs.List"] } } }),
    ],
    ["state", (m) => (m.state = { prefs: { kind: "value", schema: { schema: "GetOrder" } } })],
    ["event consumers", (m) => (m.eventConsumers = { sync: { self: ["Orders.Changed"] } })],
    ["kind", (m) => (m.kind = "device")],
    ["id", (m) => (m.id = "orders@v2")],
  ];
  for (const [name, mutate] of semanticEdits) {
    it(`changes when ${name} changes`, () => expect(edited(mutate)).not.toBe(BASE));
  }

  it("projection leaves out what the digest ignores", () => {
    const projection = projectContractDigestManifest(parseContractManifest(orders()));
    expect(Object.keys(projection).sort()).toEqual(
      [
        "capabilities",
        "errors",
        "events",
        "format",
        "id",
        "jobs",
        "kind",
        "operations",
        "resources",
        "rpc",
        "schemas",
        "uses",
      ].sort(),
    );
    expect(Object.keys(projection.schemas as object)).not.toContain("Unused");
  });
});
