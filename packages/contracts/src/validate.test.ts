import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type ContractProblem,
  ContractValidationError,
  digestContractManifest,
  parseContractManifest,
  validateContractManifest,
} from "./index.js";

const conformance = new URL("../../../conformance/", import.meta.url);
const readJson = (path: string) => JSON.parse(readFileSync(new URL(path, conformance), "utf8"));

type Json = Record<string, unknown>;

/** A small valid service manifest; each test breaks one thing. */
function base(): Json {
  return {
    format: "trellis.contract.v1",
    id: "orders@v1",
    displayName: "Orders",
    description: "Orders.",
    kind: "service",
    schemas: {
      Id: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
      Order: {
        type: "object",
        properties: {
          order: { type: "object", properties: { id: { type: "string" }, open: { type: "boolean" } } },
        },
      },
    },
    rpc: {
      "Orders.Get": {
        version: "v1",
        subject: "rpc.v1.Orders.Get",
        input: { schema: "Id" },
        output: { schema: "Order" },
      },
    },
    events: {
      "Orders.Changed": {
        version: "v1",
        subject: "events.v1.Orders.Changed.{/order/id}",
        params: ["/order/id"],
        event: { schema: "Order" },
      },
    },
    uses: { required: { other: { contract: "other@v1", events: { subscribe: ["Other.Changed"] } } } },
  };
}

function problemsOf(value: unknown): ContractProblem[] {
  const result = validateContractManifest(value);
  if (result.isOk()) throw new Error("expected the manifest to be refused");
  return result.error.problems;
}

function expectProblem(value: unknown, expected: Partial<ContractProblem>) {
  expect(problemsOf(value)).toContainEqual(expect.objectContaining(expected));
}

function edit(mutate: (m: Json & Record<string, any>) => void): Json {
  const m = base();
  mutate(m as Json & Record<string, any>);
  return m;
}

describe("parseContractManifest accepts valid manifests", () => {
  it("accepts the base fixture", () => expect(parseContractManifest(base()).id).toBe("orders@v1"));

  const digests: Record<string, string> = readJson("reference-manifests/digests.json");
  for (const id of Object.keys(digests)) {
    it(`accepts the reference manifest ${id}`, () => {
      const manifest = parseContractManifest(readJson(`reference-manifests/${id}.json`));
      expect(digestContractManifest(manifest)).toBe(digests[id]);
    });
  }

  it("reproduces the contract digest vector", () => {
    for (const vector of readJson("contract-digest/vectors.json") as { input: unknown; digest: string }[]) {
      expect(digestContractManifest(parseContractManifest(vector.input))).toBe(vector.digest);
    }
  });

  it("drops unknown fields at every level", () => {
    const parsed = parseContractManifest(
      edit((m) => {
        m.future = true;
        m.rpc["Orders.Get"].extra = 1;
        m.rpc["Orders.Get"].input.extra = 2;
      }),
    );
    expect(parsed).not.toHaveProperty("future");
    expect(parsed.rpc?.["Orders.Get"]).not.toHaveProperty("extra");
    expect(parsed.rpc?.["Orders.Get"]?.input).toEqual({ schema: "Id" });
  });
});

describe("structure (§14)", () => {
  it("refuses a non-object", () => {
    for (const value of [[], "x", null, 3]) {
      expectProblem(value, { path: "", rule: "object", message: "Expected object JSON value" });
    }
  });

  it("refuses non-JSON values, naming the path", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Id.properties.id.maxLength = Number.NaN;
      }),
      { path: "/schemas/Id/properties/id/maxLength", rule: "pure-json" },
    );
  });

  it("refuses top-level subjects", () => {
    expectProblem(
      edit((m) => {
        m.subjects = {};
      }),
      { path: "/subjects", message: "Contract subjects are not supported in v1" },
    );
  });

  for (const key of ["jobs", "stream", "streams"]) {
    it(`refuses resources.${key}`, () => {
      const problems = problemsOf(
        edit((m) => {
          m.resources = { [key]: {} };
        }),
      );
      expect(problems).toContainEqual(
        expect.objectContaining({
          path: `/resources/${key}`,
          message: expect.stringContaining(`/resources/${key} is not supported in v1`),
        }),
      );
      expect(problems).toHaveLength(1);
    });
  }

  it("refuses subjects inside a use", () => {
    expectProblem(
      edit((m) => {
        m.uses.required.other.subjects = {};
      }),
      {
        path: "/uses/required/other/subjects",
        message: "Contract uses 'other' declares unsupported subjects",
      },
    );
  });

  it("refuses flat (ungrouped) uses aliases", () => {
    expectProblem(
      edit((m) => {
        m.uses = { other: { contract: "other@v1" } };
      }),
      { path: "/uses", rule: "shape:unrecognized_keys" },
    );
  });

  it("refuses missing and malformed required fields", () => {
    const problems = problemsOf(
      edit((m) => {
        delete m.id;
        m.kind = "robot";
        m.format = "trellis.contract.v2";
        m.rpc["Orders.Get"].version = "1";
        m.displayName = "";
      }),
    );
    const paths = problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(["/id", "/kind", "/format", "/rpc/Orders.Get/version", "/displayName"]),
    );
    expect(problems.find((p) => p.path === "/id")?.message).toBe("is required");
  });

  it("reports every problem, not only the first", () => {
    const error = (() => {
      try {
        parseContractManifest(
          edit((m) => {
            m.rpc["Orders.Get"].input = { schema: "Missing" };
            m.rpc["Orders.Get"].output = { schema: "AlsoMissing" };
            m.exports = { schemas: ["Nope"] };
          }),
        );
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ContractValidationError);
    const problems = (error as ContractValidationError).problems;
    expect(problems).toHaveLength(3);
    expect((error as Error).message).toContain(
      "/rpc/Orders.Get/input/schema: rpc 'Orders.Get' input: unknown schema 'Missing'",
    );
  });
});

describe("embedded schemas (§14)", () => {
  it("refuses a schema that is neither an object nor a boolean", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Bad = "string";
      }),
      { path: "/schemas/Bad", message: "embedded schema must be a JSON object or boolean" },
    );
  });

  it("accepts boolean schemas", () => {
    expect(
      validateContractManifest(
        edit((m) => {
          m.schemas.Any = true;
        }),
      ).isOk(),
    ).toBe(true);
  });

  it("refuses a local $ref", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Id.properties.id = { $ref: "#/$defs/X" };
      }),
      {
        path: "/schemas/Id/properties/id/$ref",
        rule: "schema-no-ref",
        message: "schemas.Id/properties/id/$ref: $ref is not supported in embedded schemas",
      },
    );
  });

  it("refuses a remote $ref", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Id.properties.id = { $ref: "https://example.com/s.json" };
      }),
      {
        rule: "schema-no-ref",
        message: "schemas.Id/properties/id/$ref: remote $ref is not supported in embedded schemas",
      },
    );
  });

  it("allows a property that happens to be named $ref or type", () => {
    expect(
      validateContractManifest(
        edit((m) => {
          m.schemas.Id.properties.$ref = { type: "string" };
          m.schemas.Id.properties.type = { type: "string" };
        }),
      ).isOk(),
    ).toBe(true);
  });

  it("refuses an unknown type", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Id.properties.id.type = "text";
      }),
      {
        path: "/schemas/Id/properties/id/type",
        rule: "schema-type",
        message: "schemas.Id/properties/id/type: unknown JSON Schema type 'text'",
      },
    );
  });

  it("refuses an unknown type inside a type array", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Id.properties.id.type = ["string", "date"];
      }),
      {
        rule: "schema-type",
        message: "schemas.Id/properties/id/type: type array contains an unknown JSON Schema type",
      },
    );
  });
});

describe("schema references (§14)", () => {
  const sites: [string, (m: Record<string, any>) => void, string, string][] = [
    [
      "exports",
      (m) => (m.exports = { schemas: ["X"] }),
      "/exports/schemas/0",
      "contract exports reference unknown schema 'X'",
    ],
    [
      "state",
      (m) => (m.state = { prefs: { kind: "value", schema: { schema: "X" } } }),
      "/state/prefs/schema/schema",
      "state store 'prefs': unknown schema 'X'",
    ],
    [
      "state accepted version",
      (m) =>
        (m.state = {
          prefs: { kind: "value", schema: { schema: "Id" }, acceptedVersions: { v0: { schema: "X" } } },
        }),
      "/state/prefs/acceptedVersions/v0/schema",
      "state store 'prefs' accepted version 'v0': unknown schema 'X'",
    ],
    [
      "kv",
      (m) => (m.resources = { kv: { cache: { purpose: "c", schema: { schema: "X" } } } }),
      "/resources/kv/cache/schema/schema",
      "kv resource 'cache': unknown schema 'X'",
    ],
    [
      "rpc input",
      (m) => (m.rpc["Orders.Get"].input = { schema: "X" }),
      "/rpc/Orders.Get/input/schema",
      "rpc 'Orders.Get' input: unknown schema 'X'",
    ],
    [
      "rpc output",
      (m) => (m.rpc["Orders.Get"].output = { schema: "X" }),
      "/rpc/Orders.Get/output/schema",
      "rpc 'Orders.Get' output: unknown schema 'X'",
    ],
    ...(["input", "progress", "output"] as const).map(
      (field): [string, (m: Record<string, any>) => void, string, string] => [
        `operation ${field}`,
        (m) =>
          (m.operations = {
            "Orders.Refund": {
              version: "v1",
              subject: "operations.v1.Orders.Refund",
              input: { schema: "Id" },
              output: { schema: "Id" },
              [field]: { schema: "X" },
            },
          }),
        `/operations/Orders.Refund/${field}/schema`,
        `operation 'Orders.Refund' ${field}: unknown schema 'X'`,
      ],
    ),
    [
      "operation signal",
      (m) =>
        (m.operations = {
          "Orders.Refund": {
            version: "v1",
            subject: "operations.v1.Orders.Refund",
            input: { schema: "Id" },
            output: { schema: "Id" },
            signals: { approve: { input: { schema: "X" } } },
          },
        }),
      "/operations/Orders.Refund/signals/approve/input/schema",
      "operation 'Orders.Refund' signal 'approve' input: unknown schema 'X'",
    ],
    [
      "event",
      (m) => (m.events["Orders.Changed"].event = { schema: "X" }),
      "/events/Orders.Changed/event/schema",
      "event 'Orders.Changed': unknown schema 'X'",
    ],
    ...(["input", "event"] as const).map(
      (field): [string, (m: Record<string, any>) => void, string, string] => [
        `feed ${field}`,
        (m) =>
          (m.feeds = {
            "Orders.Live": {
              version: "v1",
              subject: "feeds.v1.Orders.Live",
              input: { schema: "Id" },
              event: { schema: "Id" },
              [field]: { schema: "X" },
            },
          }),
        `/feeds/Orders.Live/${field}/schema`,
        `feed 'Orders.Live' ${field}: unknown schema 'X'`,
      ],
    ),
    [
      "error",
      (m) => (m.errors = { NotFound: { type: "NotFoundError", schema: { schema: "X" } } }),
      "/errors/NotFound/schema/schema",
      "error 'NotFound': unknown schema 'X'",
    ],
    [
      "job payload",
      (m) => (m.jobs = { reindex: { payload: { schema: "X" } } }),
      "/jobs/reindex/payload/schema",
      "job queue 'reindex' payload: unknown schema 'X'",
    ],
    [
      "job result",
      (m) => (m.jobs = { reindex: { payload: { schema: "Id" }, result: { schema: "X" } } }),
      "/jobs/reindex/result/schema",
      "job queue 'reindex' result: unknown schema 'X'",
    ],
  ];
  for (const [name, mutate, path, message] of sites) {
    it(`refuses an unknown schema in ${name}`, () => expectProblem(edit(mutate), { path, message }));
  }

  it("refuses a transfer to an unknown store", () => {
    expectProblem(
      edit((m) => {
        m.operations = {
          "Files.Upload": {
            version: "v1",
            subject: "operations.v1.Files.Upload",
            input: { schema: "Id" },
            output: { schema: "Id" },
            transfer: { direction: "send", store: "uploads", key: "/id" },
          },
        };
      }),
      {
        path: "/operations/Files.Upload/transfer/store",
        message: "Operation 'Files.Upload' references unknown store resource 'uploads'",
      },
    );
  });
});

describe("subjects (§6, §14)", () => {
  it("refuses an RPC subject with the wrong prefix", () => {
    expectProblem(
      edit((m) => {
        m.rpc["Orders.Get"].subject = "rpc.v2.Orders.Get";
      }),
      {
        path: "/rpc/Orders.Get/subject",
        rule: "subject",
        message: "Subject 'rpc.v2.Orders.Get' must start with 'rpc.v1.' (version mismatch)",
      },
    );
  });

  it("refuses wildcards in subjects", () => {
    expectProblem(
      edit((m) => {
        m.rpc["Orders.Get"].subject = "rpc.v1.Orders.*";
      }),
      { path: "/rpc/Orders.Get/subject", rule: "subject" },
    );
  });

  const event = (subject: string, params?: string[]) =>
    edit((m) => {
      m.events["Orders.Changed"].subject = subject;
      if (params) m.events["Orders.Changed"].params = params;
      else delete m.events["Orders.Changed"].params;
    });

  it("refuses a malformed template token", () => {
    expectProblem(event("events.v1.Orders.Changed.{/order/id"), {
      rule: "event-template",
      message: expect.stringContaining("malformed template token"),
    });
  });

  it("refuses a template token that is not a JSON Pointer", () => {
    expectProblem(event("events.v1.Orders.Changed.{order}", ["/order/id"]), {
      rule: "event-template",
      message: "event 'Orders.Changed' subject template token 'order' must be a JSON Pointer",
    });
  });

  it("refuses a param that is not a JSON Pointer", () => {
    expectProblem(event("events.v1.Orders.Changed.{/order/id}", ["order/id"]), {
      path: "/events/Orders.Changed/params/0",
    });
  });

  it("refuses a template without params", () => {
    expectProblem(event("events.v1.Orders.Changed.{/order/id}"), {
      message: "event 'Orders.Changed' params must list subject template pointers in order",
    });
  });

  it("refuses params in a different order", () => {
    expectProblem(
      edit((m) => {
        m.schemas.Order.properties.order.properties.region = { type: "string" };
        m.events["Orders.Changed"].subject = "events.v1.Orders.Changed.{/order/id}.{/order/region}";
        m.events["Orders.Changed"].params = ["/order/region", "/order/id"];
      }),
      { message: "event 'Orders.Changed' params must list subject template pointers in order" },
    );
  });

  it("refuses a param whose path is not in the schema", () => {
    expectProblem(event("events.v1.Orders.Changed.{/order/nope}", ["/order/nope"]), {
      message:
        "Invalid event subject param pointer '/order/nope' for event 'Orders.Changed' (path not found in schema)",
    });
  });

  it("refuses a param that resolves to a non-tokenable schema", () => {
    expectProblem(event("events.v1.Orders.Changed.{/order/open}", ["/order/open"]), {
      message:
        "Invalid event subject param pointer '/order/open' for event 'Orders.Changed' (must resolve to string/number schema)",
    });
  });
});

describe("event consumers (§7)", () => {
  const group = (value: Record<string, unknown>) =>
    edit((m) => {
      m.eventConsumers = { sync: value };
    });

  it("accepts a valid group and writes its defaults", () => {
    const parsed = parseContractManifest(
      group({ uses: { other: ["Other.Changed"] }, self: ["Orders.Changed"] }),
    );
    expect(parsed.eventConsumers?.sync).toEqual({
      uses: { other: ["Other.Changed"] },
      self: ["Orders.Changed"],
      replay: "new",
      ordering: "strict",
      concurrency: 1,
    });
  });

  const refusals: [string, Record<string, unknown>, string][] = [
    ["no events", {}, "event consumer group 'sync' must declare at least one dependency or self event"],
    [
      "strict with concurrency",
      { self: ["Orders.Changed"], concurrency: 4 },
      "event consumer group 'sync' with strict ordering requires concurrency 1",
    ],
    ["unknown use", { uses: { ghost: ["X"] } }, "event consumer group 'sync' references unknown use 'ghost'"],
    [
      "event not subscribed",
      { uses: { other: ["Other.Deleted"] } },
      "event consumer group 'sync' references event 'Other.Deleted' that use 'other' does not subscribe to",
    ],
    [
      "unknown owned event",
      { self: ["Orders.Deleted"] },
      "event consumer group 'sync' references unknown owned event 'Orders.Deleted'",
    ],
  ];
  for (const [name, value, message] of refusals) {
    it(`refuses ${name}`, () => expectProblem(group(value), { rule: "event-consumer", message }));
  }

  it("refuses a use that declares no events", () => {
    expectProblem(
      edit((m) => {
        m.uses.required.plain = { contract: "plain@v1", rpc: { call: ["Plain.Get"] } };
        m.eventConsumers = { sync: { uses: { plain: ["Plain.Changed"] } } };
      }),
      { message: "event consumer group 'sync' use 'plain' must declare events" },
    );
  });

  it("refuses an empty event list for a use", () => {
    expectProblem(group({ uses: { other: [] } }), { path: "/eventConsumers/sync/uses/other" });
  });
});
