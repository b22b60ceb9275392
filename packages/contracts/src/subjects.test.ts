import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ContractManifestSchema, type EventDescriptor, type JsonSchema } from "./manifest.js";
import {
  clientInboxPrefix,
  clientInboxSubscription,
  decodeJsonPointer,
  defaultEventSubject,
  defaultFeedSubject,
  defaultOperationSubject,
  defaultRpcSubject,
  escapeSubjectToken,
  fillSubjectTemplate,
  isJsonPointer,
  JOB_EVENT_TYPES,
  JOBS_ADVISORIES_STREAM,
  JOBS_STREAM,
  JOBS_WORK_STREAM,
  jobEventSubject,
  jobQueueConsumerName,
  jobWorkerHeartbeatSubject,
  jobWorkSubject,
  operationControlSubject,
  operationStoreBucket,
  parseSubjectTemplate,
  resolveSchemaPointer,
  SubjectNameError,
  SubjectTemplateError,
  subjectCollisionKey,
  subjectNamespace,
  TRANSFER_DOWNLOAD_CALLER_SUBJECT,
  TRANSFER_UPLOAD_CALLER_SUBJECT,
  TRELLIS_SUBJECTS,
  templateToWildcard,
  transferDownloadSubject,
  transferDownloadSubscription,
  transferUploadSubject,
  transferUploadSubscription,
  validateEventSubject,
  validateSurfaceSubject,
} from "./subjects.js";

const SESSION_KEY = "ABCDEFGHIJKLMNOPqrstuvwxyz0123456789-_abcde";

describe("default subjects (§16.5)", () => {
  it("derives rpc, operation and feed subjects from version and logical name", () => {
    expect(defaultRpcSubject("v1", "X.Y")).toBe("rpc.v1.X.Y");
    expect(defaultOperationSubject("v1", "X.Y")).toBe("operations.v1.X.Y");
    expect(defaultFeedSubject("v2", "X.Y")).toBe("feeds.v2.X.Y");
  });

  it("appends one template token per event param, in order", () => {
    expect(defaultEventSubject("v1", "X.Y")).toBe("events.v1.X.Y");
    expect(defaultEventSubject("v1", "X.Y", ["/p1", "/p2"])).toBe("events.v1.X.Y.{/p1}.{/p2}");
    expect(defaultEventSubject("v1", "Partner.Changed", ["/partner/id/origin", "/partner/id/id"])).toBe(
      "events.v1.Partner.Changed.{/partner/id/origin}.{/partner/id/id}",
    );
  });

  it("turns templates into wildcards and derives the operation control subject", () => {
    expect(templateToWildcard("events.v1.X.Y.{/p1}.{/p2}")).toBe("events.v1.X.Y.*.*");
    expect(templateToWildcard("rpc.v1.X.Y")).toBe("rpc.v1.X.Y");
    expect(operationControlSubject("operations.v1.X.Y")).toBe("operations.v1.X.Y.control");
  });

  it("round-trips default event subjects through the template parser", () => {
    const params = ["/a", "/b~1c", "/d~0e"];
    const parsed = parseSubjectTemplate(defaultEventSubject("v1", "X.Y", params));
    expect(parsed.ok && parsed.value).toEqual(params);
  });
});

describe("collision keys (§16.14)", () => {
  it("makes templates that differ only in their pointers collide", () => {
    expect(subjectCollisionKey("events.v1.A.B.{/id}")).toBe(subjectCollisionKey("events.v1.A.B.{/other/id}"));
    expect(subjectCollisionKey("events.v1.A.B.{/id}")).toBe("events.v1.A.B.*");
  });

  it("keeps different subjects apart", () => {
    expect(subjectCollisionKey("rpc.v1.A.B")).not.toBe(subjectCollisionKey("rpc.v1.A.C"));
    expect(subjectCollisionKey("events.v1.A.B.{/id}")).not.toBe(subjectCollisionKey("events.v1.A.B"));
  });

  it("extracts the namespace token", () => {
    expect(subjectNamespace("rpc.v1.Orders.Get")).toBe("Orders");
    expect(subjectNamespace("events.v1.Orders.Changed.{/a.b}")).toBe("Orders");
    expect(subjectNamespace("rpc.v1")).toBeUndefined();
  });
});

describe("validateSurfaceSubject (§16.14)", () => {
  it("accepts well formed subjects", () => {
    expect(validateSurfaceSubject("rpc", "rpc.v1.Orders.Get", "v1")).toBeUndefined();
    expect(validateSurfaceSubject("operations", "operations.v2.Orders.Refund", "v2")).toBeUndefined();
    expect(validateSurfaceSubject("events", "events.v1.Orders.Changed.{/order/id}", "v1")).toBeUndefined();
    expect(validateSurfaceSubject("feeds", "feeds.v1.Orders.Live", "v1")).toBeUndefined();
  });

  it("refuses a version mismatch or a wrong family prefix", () => {
    expect(validateSurfaceSubject("rpc", "rpc.v2.Orders.Get", "v1")).toBe(
      "Subject 'rpc.v2.Orders.Get' must start with 'rpc.v1.' (version mismatch)",
    );
    expect(validateSurfaceSubject("events", "rpc.v1.Orders.Changed", "v1")).toBe(
      "Subject 'rpc.v1.Orders.Changed' must start with 'events.v1.' (version mismatch)",
    );
    expect(validateSurfaceSubject("operations", "operations.v1", "v1")).toMatch(
      /must start with 'operations.v1.'/,
    );
  });

  it("does not prefix-check feeds but still requires three tokens", () => {
    expect(validateSurfaceSubject("feeds", "live.v1.Orders", "v1")).toBeUndefined();
    expect(validateSurfaceSubject("feeds", "feeds.v1", "v1")).toBe(
      "Subject 'feeds.v1' must have at least 3 tokens",
    );
    expect(validateSurfaceSubject("feeds", "live.x.Orders", "v1")).toMatch(/version as its second token/);
  });

  it("refuses wildcards and empty tokens", () => {
    for (const kind of ["rpc", "operations", "events", "feeds"] as const) {
      expect(validateSurfaceSubject(kind, `${kind}.v1.Orders.*`, "v1")).toMatch(/must not contain wildcards/);
      expect(validateSurfaceSubject(kind, `${kind}.v1.Orders.>`, "v1")).toMatch(/must not contain wildcards/);
    }
    expect(validateSurfaceSubject("rpc", "rpc.v1..Get", "v1")).toMatch(/empty tokens/);
    expect(validateSurfaceSubject("rpc", "rpc.v1.Get.", "v1")).toMatch(/empty tokens/);
  });
});

describe("parseSubjectTemplate", () => {
  it("returns the pointers in subject order", () => {
    const parsed = parseSubjectTemplate("events.v1.X.{/b}.{/a}.{/b}");
    expect(parsed.ok && parsed.value).toEqual(["/b", "/a", "/b"]);
    const plain = parseSubjectTemplate("events.v1.X");
    expect(plain.ok && plain.value).toEqual([]);
  });

  it.each([
    ["nested", "events.v1.X.{/a{/b}}"],
    ["unclosed", "events.v1.X.{/a"],
    ["unopened", "events.v1.X./a}"],
    ["token glued to text", "events.v1.X.id{/a}"],
    ["two tokens in one subject token", "events.v1.X.{/a}{/b}"],
  ])("refuses a %s token as malformed", (_label, subject) => {
    const parsed = parseSubjectTemplate(subject);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error).toEqual([
        { rule: "malformed-token", message: "subject has malformed template token" },
      ]);
    }
  });

  it.each([["a"], [""], ["/a~2"], ["/a~"], ["a/b"]])(
    "refuses token '%s' that is not a JSON Pointer",
    (token) => {
      const parsed = parseSubjectTemplate(`events.v1.X.{${token}}`);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) {
        expect(parsed.error[0]?.message).toBe(`subject template token '${token}' must be a JSON Pointer`);
      }
    },
  );

  it("accepts pointers with escaped segments and dots", () => {
    const parsed = parseSubjectTemplate("events.v1.X.{/a~0b/c~1d}.{/e.f}");
    expect(parsed.ok && parsed.value).toEqual(["/a~0b/c~1d", "/e.f"]);
  });
});

describe("JSON Pointers", () => {
  it("validates pointer syntax", () => {
    expect(isJsonPointer("/a/b")).toBe(true);
    expect(isJsonPointer("/")).toBe(true);
    expect(isJsonPointer("/~0~1")).toBe(true);
    expect(isJsonPointer("")).toBe(false);
    expect(isJsonPointer("a")).toBe(false);
    expect(isJsonPointer("/~")).toBe(false);
    expect(isJsonPointer("/~2")).toBe(false);
  });

  it("decodes ~1 before ~0", () => {
    expect(decodeJsonPointer("/a~1b/c~0d/~01")).toEqual(["a/b", "c~d", "~1"]);
    expect(decodeJsonPointer("")).toEqual([]);
    expect(decodeJsonPointer("/")).toEqual([""]);
  });
});

const ORDER_CHANGED: JsonSchema = {
  type: "object",
  properties: {
    order: { type: "object", properties: { id: { type: "string" }, total: { type: "number" } } },
    count: { type: "integer" },
    code: { type: ["string", "number"] },
    mixed: { type: ["string", "null"] },
    flag: { type: "boolean" },
    kind: { const: "refund" },
    level: { const: 3 },
    nullConst: { const: null },
    color: { enum: ["red", 1] },
    emptyEnum: { enum: [] },
    badEnum: { enum: ["a", true] },
    list: { type: "array", items: { type: "string" } },
    anything: {},
    yes: true,
    no: false,
    "a/b": { type: "string" },
    "c~d": { type: "string" },
    either: { anyOf: [{ type: "string" }, { type: "integer" }] },
    eitherBad: { anyOf: [{ type: "string" }, { type: "object" }] },
    eitherLoose: { anyOf: [{ type: "string" }, {}] },
    stringWithVariants: { type: "string", anyOf: [{ minLength: 1 }, { pattern: "^x" }] },
    oneOfNumbers: { oneOf: [{ const: 1 }, { enum: [2, 3] }] },
    refined: { allOf: [{ type: "string" }, { minLength: 2 }] },
    refinedBad: { allOf: [{ type: "string" }, { type: "object" }] },
  },
  anyOf: [
    { properties: { variant: { type: "string" } }, required: ["variant"] },
    { properties: { variant: { type: "number" } } },
  ],
  oneOf: [{ properties: { partial: { type: "string" } } }, { properties: { other: { type: "string" } } }],
  allOf: [
    { properties: { fromAllOf: { type: "string" } } },
    { properties: { fromAllOf: { minLength: 1 }, allOfBad: { type: "boolean" } } },
    { required: ["order"] },
  ],
};

describe("resolveSchemaPointer (§16.10)", () => {
  it.each([
    "/order/id",
    "/order/total",
    "/count",
    "/code",
    "/kind",
    "/level",
    "/color",
    "/list/0",
    "/a~1b",
    "/c~0d",
    "/either",
    "/stringWithVariants",
    "/oneOfNumbers",
    "/refined",
    "/variant",
    "/fromAllOf",
  ])("resolves %s to a tokenable schema", (path) => {
    expect(resolveSchemaPointer(ORDER_CHANGED, path)).toEqual({ found: true, tokenable: true });
  });

  it.each([
    "/order",
    "/mixed",
    "/flag",
    "/nullConst",
    "/emptyEnum",
    "/badEnum",
    "/list",
    "/anything",
    "/yes",
    "/no",
    "/eitherBad",
    "/eitherLoose",
    "/refinedBad",
    "/allOfBad",
  ])("finds %s but refuses it as not tokenable", (path) => {
    expect(resolveSchemaPointer(ORDER_CHANGED, path)).toEqual({ found: true, tokenable: false });
  });

  it.each([
    "/missing",
    "/order/missing",
    "/count/deeper",
    "/partial",
    "/a/b",
    "/yes/deeper",
    "not-a-pointer",
  ])("does not find %s", (path) => {
    expect(resolveSchemaPointer(ORDER_CHANGED, path)).toEqual({ found: false, tokenable: false });
  });

  it("resolves the root and tuple items", () => {
    expect(resolveSchemaPointer({ type: "string" }, "")).toEqual({ found: true, tokenable: true });
    const tuple: JsonSchema = { type: "array", prefixItems: [{ type: "string" }, { type: "boolean" }] };
    expect(resolveSchemaPointer(tuple, "/0").tokenable).toBe(true);
    expect(resolveSchemaPointer(tuple, "/1")).toEqual({ found: true, tokenable: false });
    expect(resolveSchemaPointer(tuple, "/2").found).toBe(false);
  });

  it("does not treat additionalProperties as declaring a path", () => {
    const schema: JsonSchema = { type: "object", additionalProperties: { type: "string" } };
    expect(resolveSchemaPointer(schema, "/anything").found).toBe(false);
  });
});

describe("validateEventSubject (§16.10, §14)", () => {
  const schemas: Record<string, JsonSchema> = { OrderChanged: ORDER_CHANGED };
  const event = (subject: string, params?: string[]): EventDescriptor => ({
    version: "v1",
    subject,
    event: { schema: "OrderChanged" },
    ...(params ? { params } : {}),
  });

  it("accepts params equal to the template pointers in order", () => {
    expect(validateEventSubject("Orders.Changed", event("events.v1.Orders.Changed"), schemas)).toEqual([]);
    expect(
      validateEventSubject(
        "Orders.Changed",
        event("events.v1.Orders.Changed.{/order/id}.{/count}", ["/order/id", "/count"]),
        schemas,
      ),
    ).toEqual([]);
  });

  it("reports a malformed template token", () => {
    expect(validateEventSubject("E", event("events.v1.E.{/order/id", ["/order/id"]), schemas)).toEqual([
      {
        path: "/events/E/subject",
        rule: "event-template",
        message: "event 'E' subject has malformed template token",
      },
    ]);
  });

  it("reports a template token that is not a JSON Pointer", () => {
    expect(validateEventSubject("E", event("events.v1.E.{order}", ["/order"]), schemas)).toEqual([
      {
        path: "/events/E/subject",
        rule: "event-template",
        message: "event 'E' subject template token 'order' must be a JSON Pointer",
      },
    ]);
  });

  it("reports a param that is not a JSON Pointer", () => {
    const problems = validateEventSubject("E", event("events.v1.E.{/count}", ["count"]), schemas);
    expect(problems).toContainEqual({
      path: "/events/E/params/0",
      rule: "event-param",
      message: "event 'E' param 'count' must be a JSON Pointer",
    });
  });

  it.each([
    ["a template without params", "events.v1.E.{/count}", undefined],
    ["params without a template", "events.v1.E", ["/count"]],
    ["params out of order", "events.v1.E.{/count}.{/code}", ["/code", "/count"]],
    ["a missing param", "events.v1.E.{/count}.{/code}", ["/count"]],
    ["an extra param", "events.v1.E.{/count}", ["/count", "/code"]],
  ])("reports %s", (_label, subject, params) => {
    expect(validateEventSubject("E", event(subject, params), schemas)).toContainEqual({
      path: "/events/E/params",
      rule: "event-param",
      message: "event 'E' params must list subject template pointers in order",
    });
  });

  it("reports a pointer whose path is not in the schema", () => {
    expect(validateEventSubject("E", event("events.v1.E.{/order/nope}", ["/order/nope"]), schemas)).toEqual([
      {
        path: "/events/E/params/0",
        rule: "event-param",
        message: "Invalid event subject param pointer '/order/nope' for event 'E' (path not found in schema)",
      },
    ]);
  });

  it.each(["/order", "/flag", "/list", "/yes", "/eitherBad"])(
    "reports %s as not a string/number schema",
    (path) => {
      expect(validateEventSubject("E", event(`events.v1.E.{${path}}`, [path]), schemas)).toEqual([
        {
          path: "/events/E/params/0",
          rule: "event-param",
          message: `Invalid event subject param pointer '${path}' for event 'E' (must resolve to string/number schema)`,
        },
      ]);
    },
  );

  it("requires every anyOf/oneOf variant to declare the path", () => {
    const variants: JsonSchema = {
      type: "object",
      oneOf: [
        { properties: { id: { type: "string" } } },
        { properties: { id: { type: "number" } } },
        { properties: { name: { type: "string" } } },
      ],
    };
    expect(
      validateEventSubject("E", event("events.v1.E.{/id}", ["/id"]), { OrderChanged: variants })[0]?.message,
    ).toBe("Invalid event subject param pointer '/id' for event 'E' (path not found in schema)");
  });

  it("escapes the event name in problem paths and leaves unknown schemas to the schema-ref check", () => {
    const problems = validateEventSubject("A/B~C", event("events.v1.E.{x}"), schemas);
    expect(problems[0]?.path).toBe("/events/A~1B~0C/subject");
    expect(validateEventSubject("E", event("events.v1.E.{/nope}", ["/nope"]), {})).toEqual([]);
  });

  it("accepts every event of the Trellis-owned reference manifests", () => {
    const root = new URL("../../../conformance/reference-manifests/", import.meta.url);
    const digests: Record<string, string> = JSON.parse(readFileSync(new URL("digests.json", root), "utf8"));
    let templated = 0;
    for (const id of Object.keys(digests)) {
      const manifest = ContractManifestSchema.parse(
        JSON.parse(readFileSync(new URL(`${id}.json`, root), "utf8")),
      );
      for (const [name, descriptor] of Object.entries(manifest.events ?? {})) {
        expect(validateEventSubject(name, descriptor, manifest.schemas ?? {})).toEqual([]);
        expect(validateSurfaceSubject("events", descriptor.subject, descriptor.version)).toBeUndefined();
        if (descriptor.params?.length) templated++;
      }
      for (const method of Object.values(manifest.rpc ?? {})) {
        expect(validateSurfaceSubject("rpc", method.subject, method.version)).toBeUndefined();
      }
      for (const operation of Object.values(manifest.operations ?? {})) {
        expect(validateSurfaceSubject("operations", operation.subject, operation.version)).toBeUndefined();
      }
    }
    expect(templated).toBeGreaterThan(0);
  });
});

/** Reverses escapeSubjectToken for tokens that did not get the `_` prefix. */
function unescapeToken(token: string): string {
  return token.replace(/~([0-9A-F]+)~/g, (_match, hex: string) =>
    String.fromCodePoint(Number.parseInt(hex, 16)),
  );
}

describe("escapeSubjectToken", () => {
  it.each([
    ["space", "a b", "a~20~b"],
    ["dot", "a.b", "a~2E~b"],
    ["star", "*", "~2A~"],
    ["greater-than", "a>", "a~3E~"],
    ["tilde", "a~b", "a~7E~b"],
    ["NUL", "a\u0000b", "a~0~b"],
    ["tab", "\t", "~9~"],
    ["newline", "a\nb", "a~A~b"],
    ["no-break space", "a\u00a0b", "a~A0~b"],
    ["ideographic space", "\u3000", "~3000~"],
    ["empty", "", "_"],
    ["dollar prefix", "$x", "_$x"],
    ["dollar inside", "a$", "a$"],
    ["unicode letters", "héllo-wörld_日本", "héllo-wörld_日本"],
    ["astral symbol", "🎉", "🎉"],
    ["plain", "Order-42_x", "Order-42_x"],
    ["already escaped looking", "~2E~", "~7E~2E~7E~"],
  ])("escapes %s", (_label, input, expected) => {
    expect(escapeSubjectToken(input)).toBe(expected);
  });

  it("always yields one non-empty literal token", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (value) => {
        const token = escapeSubjectToken(value);
        expect(token).not.toBe("");
        expect(token).not.toMatch(/[\s.*>]/);
        expect(token).not.toContain("\u0000");
        expect(token.startsWith("$")).toBe(false);
      }),
    );
  });

  it("is reversible for tokens without the `_` prefix", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", minLength: 1 }), (value) => {
        fc.pre(!value.startsWith("$"));
        expect(unescapeToken(escapeSubjectToken(value))).toBe(value);
      }),
    );
  });
});

describe("fillSubjectTemplate", () => {
  const template = "events.v1.Orders.Changed.{/order/id}.{/count}";

  it("fills tokens from the data, stringifying numbers and escaping values", () => {
    expect(fillSubjectTemplate(template, { order: { id: "a.b c" }, count: 3 })).toBe(
      "events.v1.Orders.Changed.a~2E~b~20~c.3",
    );
    expect(fillSubjectTemplate(template, { order: { id: "" }, count: 1.5 })).toBe(
      "events.v1.Orders.Changed._.1~2E~5",
    );
    expect(fillSubjectTemplate("events.v1.X", {})).toBe("events.v1.X");
  });

  it("decodes escaped pointer segments and reads array items", () => {
    const data = { "a/b": { "c~d": "x" }, list: ["first", "second"] };
    expect(fillSubjectTemplate("events.v1.X.{/a~1b/c~0d}.{/list/1}", data)).toBe("events.v1.X.x.second");
  });

  it.each([
    ["missing", { order: {}, count: 1 }, "/order/id"],
    ["null", { order: { id: null }, count: 1 }, "/order/id"],
    ["missing parent", { count: 1 }, "/order/id"],
    ["second token", { order: { id: "a" } }, "/count"],
  ])("throws SubjectTemplateError for %s data, naming the pointer", (_label, data, path) => {
    try {
      fillSubjectTemplate(template, data);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(SubjectTemplateError);
      expect((error as SubjectTemplateError).message).toBe(
        `Missing required data for subject template: ${path}`,
      );
      expect((error as SubjectTemplateError).context).toEqual({ subject: template, pointer: path });
    }
  });

  it("uses `*` for missing, null and literal `*` values when wildcards are allowed", () => {
    expect(fillSubjectTemplate(template, {}, { allowWildcards: true })).toBe("events.v1.Orders.Changed.*.*");
    expect(fillSubjectTemplate(template, { order: { id: null }, count: "*" }, { allowWildcards: true })).toBe(
      "events.v1.Orders.Changed.*.*",
    );
    expect(fillSubjectTemplate(template, { order: { id: "*" }, count: 2 })).toBe(
      "events.v1.Orders.Changed.~2A~.2",
    );
  });

  it("refuses values that are neither strings nor numbers", () => {
    expect(() => fillSubjectTemplate(template, { order: { id: true }, count: 1 })).toThrow(
      SubjectTemplateError,
    );
    expect(() => fillSubjectTemplate(template, { order: { id: {} }, count: 1 })).toThrow(/string or number/);
  });

  it("refuses malformed templates", () => {
    expect(() => fillSubjectTemplate("events.v1.X.{/a", { a: 1 })).toThrow(
      "subject has malformed template token",
    );
    expect(() => fillSubjectTemplate("events.v1.X.{a}", { a: 1 })).toThrow(
      "subject template token 'a' must be a JSON Pointer",
    );
  });

  it("never lets data inject extra tokens or wildcards", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const subject = fillSubjectTemplate("events.v1.X.{/a}.{/b}", { a, b });
        expect(subject.split(".")).toHaveLength(5);
        expect(subject).not.toMatch(/[*>\s]/);
      }),
    );
  });
});

describe("session-scoped names", () => {
  it("scopes inbox, transfers and the operation store by the first 16 session key characters", () => {
    expect(clientInboxPrefix(SESSION_KEY)).toBe("_INBOX.ABCDEFGHIJKLMNOP");
    expect(clientInboxSubscription(SESSION_KEY)).toBe("_INBOX.ABCDEFGHIJKLMNOP.>");
    expect(transferUploadSubject(SESSION_KEY, "01J")).toBe("transfer.v1.upload.ABCDEFGHIJKLMNOP.01J");
    expect(transferDownloadSubject(SESSION_KEY, "01J")).toBe("transfer.v1.download.ABCDEFGHIJKLMNOP.01J");
    expect(transferUploadSubscription(SESSION_KEY)).toBe("transfer.v1.upload.ABCDEFGHIJKLMNOP.*");
    expect(transferDownloadSubscription(SESSION_KEY)).toBe("transfer.v1.download.ABCDEFGHIJKLMNOP.*");
    expect(operationStoreBucket(SESSION_KEY)).toBe("trellis_operations_ABCDEFGHIJKLMNOP");
    expect(TRANSFER_UPLOAD_CALLER_SUBJECT).toBe("transfer.v1.upload.*.*");
    expect(TRANSFER_DOWNLOAD_CALLER_SUBJECT).toBe("transfer.v1.download.*.*");
  });

  it("refuses session keys that are too short or not base64url", () => {
    expect(() => clientInboxPrefix("short")).toThrow(SubjectNameError);
    expect(() => operationStoreBucket("ABCDEFGH.JKLMNOPQRS")).toThrow(SubjectNameError);
    expect(() => transferUploadSubject(SESSION_KEY, "a.b")).toThrow(SubjectNameError);
  });
});

describe("jobs and baseline subjects", () => {
  it("spells the raw jobs subjects and streams", () => {
    expect(jobEventSubject("billing", "invoice", "01JOB", "created")).toBe(
      "trellis.jobs.billing.invoice.01JOB.created",
    );
    expect(jobWorkSubject("billing", "invoice")).toBe("trellis.work.billing.invoice");
    expect(jobWorkerHeartbeatSubject("billing", "invoice", "inst-1")).toBe(
      "trellis.jobs.workers.billing.invoice.inst-1.heartbeat",
    );
    expect(jobQueueConsumerName("billing", "invoice")).toBe("billing-invoice");
    expect([JOBS_STREAM, JOBS_WORK_STREAM, JOBS_ADVISORIES_STREAM]).toEqual([
      "JOBS",
      "JOBS_WORK",
      "JOBS_ADVISORIES",
    ]);
    expect(JOB_EVENT_TYPES).toHaveLength(12);
  });

  it("refuses job tokens that would add or wildcard subject tokens", () => {
    for (const bad of ["", "a.b", "*", ">", "a b"]) {
      expect(() => jobWorkSubject(bad, "invoice")).toThrow(SubjectNameError);
      expect(() => jobEventSubject("billing", "invoice", bad, "failed")).toThrow(SubjectNameError);
    }
  });

  it("lists the baseline Trellis subjects", () => {
    expect(Object.values(TRELLIS_SUBJECTS).sort()).toEqual([
      "events.v1.Health.Heartbeat",
      "rpc.v1.Auth.Requests.Validate",
      "rpc.v1.Auth.Sessions.Logout",
      "rpc.v1.Auth.Sessions.Me",
      "rpc.v1.State.Delete",
      "rpc.v1.State.Get",
      "rpc.v1.State.List",
      "rpc.v1.State.Put",
      "rpc.v1.Trellis.Bindings.Get",
      "rpc.v1.Trellis.Catalog",
      "rpc.v1.Trellis.Contract.Get",
      "rpc.v1.Trellis.Surface.Status",
    ]);
  });
});
