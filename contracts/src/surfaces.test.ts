/**
 * The authored builtin contracts must expose the same surfaces as the Trellis 0.10 reference
 * manifests in `conformance/reference-manifests/`. Digests differ (a different schema emitter), so the
 * comparison is structural: names, subjects, versions, flags, capabilities, errors, uses, and a
 * normalized "field signature" of every payload schema.
 */
import { readFileSync } from "node:fs";
import {
  type AnyContractModule,
  type ContractManifest,
  digestContractManifest,
  type EventPayload,
  parseContractManifest,
  type RpcErrorType,
  type RpcInput,
} from "@trellis/contracts";
import { describe, expect, expectTypeOf, it, vi } from "vitest";
import { trellisAuth } from "./trellis-auth.js";
import { trellisCore } from "./trellis-core.js";
import { trellisHealth } from "./trellis-health.js";
import { trellisJobs } from "./trellis-jobs.js";
import { trellisState } from "./trellis-state.js";

const REFERENCE_DIR = new URL("../../conformance/reference-manifests/", import.meta.url);

function readReferenceJson(file: string): unknown {
  return JSON.parse(readFileSync(new URL(file, REFERENCE_DIR), "utf8"));
}

function loadReference(id: string): ContractManifest {
  return parseContractManifest(readReferenceJson(`${id}.json`));
}

// ---------------------------------------------------------------------------------------------
// Field signatures.
//
// A schema is reduced to a normalized tree that keeps what a payload may contain — JSON types,
// object fields and whether each is required, array items, literal values, union variants, string
// formats, and what unlisted object keys may hold — and drops what only narrows values or documents
// them (descriptions, titles, defaults, numeric/length bounds, regex patterns). The reduction only
// merges spellings that mean the same thing in JSON Schema:
//   - `const`, `enum` and `anyOf`/`oneOf` of literals become one sorted set of literal values;
//   - `type: [a, b]` becomes a union of the single types; nested unions are flattened and sorted;
//   - `patternProperties: { "^.*$": X }` and `additionalProperties: X` both mean "every other key
//     holds X"; an absent `additionalProperties`, `true` and `{}` all mean "anything";
//   - `propertyNames: { type: "string" }` is always true for JSON objects and is dropped;
//   - `allOf` of open objects is the one object with every member's fields (required if required
//     anywhere); any other `allOf` fails the comparison.
// `additionalProperties: false` (a closed object) is kept distinct from an open one.
// Any keyword not listed below fails the comparison loudly instead of being silently ignored.

type Sig =
  | { kind: "any" }
  | { kind: "never" }
  | { kind: "literals"; values: string[] }
  | { kind: "union"; variants: Sig[] }
  | { kind: "array"; items: Sig }
  | {
      kind: "object";
      fields: Record<string, { required: boolean; sig: Sig }>;
      rest: Sig;
      patterns?: Record<string, Sig>;
    }
  | { kind: "scalar"; type: string; format?: string };

const IGNORED_KEYWORDS = new Set([
  "description",
  "title",
  "default",
  "examples",
  "$schema",
  "$comment",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "pattern",
  "minItems",
  "maxItems",
  "uniqueItems",
  "minProperties",
  "maxProperties",
]);
const STRUCTURAL_KEYWORDS = new Set([
  "type",
  "properties",
  "required",
  "items",
  "anyOf",
  "oneOf",
  "enum",
  "const",
  "format",
  "patternProperties",
  "additionalProperties",
  "propertyNames",
  "allOf",
]);
const MATCH_ALL_PATTERNS = new Set(["^.*$", ".*", "^(.*)$"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const canonical = (value: unknown): string => JSON.stringify(sortKeys(value));
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys(value[key])]),
  );
}

/** Literal values a schema allows, when it allows nothing but literals. */
function literalValues(schema: Record<string, unknown>): unknown[] | undefined {
  if ("const" in schema) return [schema.const];
  if (Array.isArray(schema.enum)) return schema.enum;
  const variants = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(variants) && variants.length > 0) {
    const all: unknown[] = [];
    for (const variant of variants) {
      const values = isRecord(variant) ? literalValues(variant) : undefined;
      if (!values) return undefined;
      all.push(...values);
    }
    return all;
  }
  return undefined;
}

function unionOf(variants: Sig[]): Sig {
  const flat: Sig[] = [];
  const literals = new Set<string>();
  for (const variant of variants) {
    for (const inner of variant.kind === "union" ? variant.variants : [variant]) {
      if (inner.kind === "literals") for (const value of inner.values) literals.add(value);
      else flat.push(inner);
    }
  }
  if (flat.some((variant) => variant.kind === "any")) return { kind: "any" };
  if (literals.size > 0) flat.push({ kind: "literals", values: [...literals].sort() });
  const unique = [...new Map(flat.map((variant) => [canonical(variant), variant])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, variant]) => variant);
  if (unique.length === 0) return { kind: "never" };
  return unique.length === 1 ? (unique[0] as Sig) : { kind: "union", variants: unique };
}

/** `allOf` of open objects: one object holding every member's fields. */
function mergeAllOf(members: Sig[], at: string): Sig {
  const fields: Record<string, { required: boolean; sig: Sig }> = {};
  for (const member of members) {
    if (member.kind !== "object" || member.rest.kind !== "any" || member.patterns) {
      throw new Error(`${at}: allOf is only supported over open objects`);
    }
    for (const [key, field] of Object.entries(member.fields)) {
      const seen = fields[key];
      if (seen && canonical(seen.sig) !== canonical(field.sig)) {
        throw new Error(`${at}: allOf members disagree on field '${key}'`);
      }
      fields[key] = { required: field.required || (seen?.required ?? false), sig: field.sig };
    }
  }
  const sorted: typeof fields = {};
  for (const [key, field] of Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))) sorted[key] = field;
  return { kind: "object", fields: sorted, rest: { kind: "any" } };
}

function signature(schema: unknown, at: string): Sig {
  if (schema === true) return { kind: "any" };
  if (schema === false) return { kind: "never" };
  if (!isRecord(schema)) throw new Error(`${at}: not a JSON Schema: ${JSON.stringify(schema)}`);
  for (const key of Object.keys(schema)) {
    if (!IGNORED_KEYWORDS.has(key) && !STRUCTURAL_KEYWORDS.has(key)) {
      throw new Error(`${at}: unsupported JSON Schema keyword '${key}' in field signature`);
    }
  }
  if (Array.isArray(schema.allOf)) {
    const { allOf, ...siblings } = schema;
    if (Object.keys(siblings).some((key) => STRUCTURAL_KEYWORDS.has(key))) {
      throw new Error(`${at}: allOf with structural sibling keywords is not supported`);
    }
    return mergeAllOf(
      allOf.map((member, index) => signature(member, `${at}&${index}`)),
      at,
    );
  }
  const literals = literalValues(schema);
  if (literals) return { kind: "literals", values: [...new Set(literals.map(canonical))].sort() };

  const variants = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(variants)) {
    const { anyOf: _anyOf, oneOf: _oneOf, ...siblings } = schema;
    if (Object.keys(siblings).some((key) => STRUCTURAL_KEYWORDS.has(key))) {
      throw new Error(`${at}: union with structural sibling keywords is not supported`);
    }
    return unionOf(variants.map((variant, index) => signature(variant, `${at}|${index}`)));
  }
  if (Array.isArray(schema.type)) {
    return unionOf(schema.type.map((type) => signature({ ...schema, type }, at)));
  }

  const type = schema.type ?? ("properties" in schema ? "object" : undefined);
  if (type === undefined) {
    const structural = Object.keys(schema).filter((key) => STRUCTURAL_KEYWORDS.has(key));
    if (structural.length > 0) throw new Error(`${at}: untyped schema with ${structural.join(", ")}`);
    return { kind: "any" };
  }
  if (type === "array") return { kind: "array", items: signature(schema.items ?? {}, `${at}/[]`) };
  if (type === "object") {
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const properties = isRecord(schema.properties) ? schema.properties : {};
    const fields: Record<string, { required: boolean; sig: Sig }> = {};
    for (const key of Object.keys(properties).sort()) {
      fields[key] = { required: required.has(key), sig: signature(properties[key], `${at}/${key}`) };
    }
    let rest: Sig =
      "additionalProperties" in schema
        ? signature(schema.additionalProperties, `${at}/{*}`)
        : { kind: "any" };
    const patterns: Record<string, Sig> = {};
    if (isRecord(schema.patternProperties)) {
      for (const [pattern, value] of Object.entries(schema.patternProperties)) {
        if (MATCH_ALL_PATTERNS.has(pattern)) rest = signature(value, `${at}/{*}`);
        else patterns[pattern] = signature(value, `${at}/{${pattern}}`);
      }
    }
    if ("propertyNames" in schema && canonical(schema.propertyNames) !== canonical({ type: "string" })) {
      throw new Error(`${at}: propertyNames other than {type: string} is not supported`);
    }
    return {
      kind: "object",
      fields,
      rest,
      ...(Object.keys(patterns).length > 0 && { patterns }),
    };
  }
  if (typeof type !== "string") throw new Error(`${at}: invalid type ${JSON.stringify(type)}`);
  return {
    kind: "scalar",
    type,
    ...(typeof schema.format === "string" && { format: schema.format }),
  };
}

/** One line per position in the payload, keyed by JSON-Pointer-like path, for readable diffs. */
function flattenSig(sig: Sig, path = "", out: Record<string, string> = {}): Record<string, string> {
  const at = path === "" ? "(root)" : path;
  switch (sig.kind) {
    case "any":
    case "never":
      out[at] = sig.kind;
      break;
    case "literals":
      out[at] = `one of ${sig.values.join(" | ")}`;
      break;
    case "scalar":
      out[at] = sig.format ? `${sig.type} (${sig.format})` : sig.type;
      break;
    case "array":
      out[at] = "array";
      flattenSig(sig.items, `${path}/[]`, out);
      break;
    case "union":
      out[at] = `union of ${sig.variants.length}`;
      sig.variants.forEach((variant, index) => {
        flattenSig(variant, `${path}|${index}`, out);
      });
      break;
    case "object":
      out[at] = "object";
      for (const [key, field] of Object.entries(sig.fields)) {
        const sub = `${path}/${key}`;
        flattenSig(field.sig, sub, out);
        out[sub] = `${field.required ? "required" : "optional"} ${out[sub]}`;
      }
      flattenSig(sig.rest, `${path}/{*}`, out);
      for (const [pattern, value] of Object.entries(sig.patterns ?? {})) {
        flattenSig(value, `${path}/{${pattern}}`, out);
      }
      break;
  }
  return out;
}

/** The field signature of a named schema of a manifest. */
function fieldSignature(manifest: ContractManifest, name: string): Record<string, string> {
  const schema = manifest.schemas?.[name];
  if (schema === undefined) throw new Error(`${manifest.id}: unknown schema '${name}'`);
  return flattenSig(signature(schema, `${manifest.id}#${name}`));
}

describe("fieldSignature", () => {
  const sig = (schema: unknown) => flattenSig(signature(schema, "test"));

  it("merges spellings of the same literal set and record", () => {
    expect(
      sig({
        anyOf: [
          { const: "a", type: "string" },
          { const: "b", type: "string" },
        ],
      }),
    ).toEqual(sig({ type: "string", enum: ["b", "a"] }));
    expect(sig({ type: "object", patternProperties: { "^.*$": {} } })).toEqual(
      sig({ type: "object", propertyNames: { type: "string" }, additionalProperties: {} }),
    );
    expect(sig({ type: ["string", "null"], minLength: 1 })).toEqual(
      sig({ anyOf: [{ type: "null" }, { type: "string" }] }),
    );
  });

  it("keeps requiredness, types, formats and closedness apart", () => {
    const base = { type: "object", properties: { a: { type: "integer" } }, required: ["a"] };
    expect(sig(base)).not.toEqual(sig({ ...base, required: [] }));
    expect(sig(base)).not.toEqual(sig({ ...base, properties: { a: { type: "number" } } }));
    expect(sig(base)).not.toEqual(sig({ ...base, additionalProperties: false }));
    expect(sig({ type: "string", format: "date-time" })).not.toEqual(sig({ type: "string" }));
    expect(() => sig({ type: "string", not: {} })).toThrow(/unsupported JSON Schema keyword 'not'/);
  });
});

// ---------------------------------------------------------------------------------------------
// Surface comparison.

const SURFACE_KINDS = ["rpc", "operations", "events", "feeds"] as const;
type SurfaceKind = (typeof SURFACE_KINDS)[number];
type AnySurface = {
  version: string;
  subject: string;
  internal?: boolean;
  params?: string[];
  capabilities?: Record<string, string[]>;
  errors?: { type: string }[];
  docs?: unknown;
} & Record<string, unknown>;

function surfacesOf(manifest: ContractManifest, kind: SurfaceKind): Record<string, AnySurface> {
  return (manifest[kind] ?? {}) as Record<string, AnySurface>;
}

/** The schema references of a surface, by role (`input`, `output`, `event`, `progress`, `signal:x`). */
function payloadRefs(surface: AnySurface): Record<string, string> {
  const refs: Record<string, string> = {};
  for (const role of ["input", "output", "progress", "event"]) {
    const ref = surface[role];
    if (isRecord(ref) && typeof ref.schema === "string") refs[role] = ref.schema;
  }
  const signals = surface.signals;
  if (isRecord(signals)) {
    for (const [name, signal] of Object.entries(signals)) {
      if (isRecord(signal) && isRecord(signal.input) && typeof signal.input.schema === "string") {
        refs[`signal:${name}`] = signal.input.schema;
      }
    }
  }
  return refs;
}

const sortedKeys = (record: object | undefined) => Object.keys(record ?? {}).sort();
const errorTypes = (surface: AnySurface | undefined) =>
  [...new Set((surface?.errors ?? []).map((error) => error.type))].sort();
const capabilityLists = (surface: AnySurface | undefined) =>
  Object.fromEntries(
    Object.entries(surface?.capabilities ?? {})
      .map(([action, list]) => [action, [...list].sort()] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );

/**
 * `partial` contracts declare a subset of the reference surfaces (the rest arrive with later work):
 * what they declare must match the reference, and nothing they declare may be missing from it.
 */
const CASES: { name: string; module: AnyContractModule; partial?: boolean }[] = [
  { name: "trellis.core@v1", module: trellisCore },
  { name: "trellis.health@v1", module: trellisHealth },
  { name: "trellis.state@v1", module: trellisState },
  { name: "trellis.jobs@v1", module: trellisJobs },
  { name: "trellis.auth@v1", module: trellisAuth, partial: true },
];

describe.each(CASES)("$name matches the reference manifest", ({ name, module, partial = false }) => {
  const reference = loadReference(name);
  const mine = module.CONTRACT;
  /** The keys to compare: all of the reference's, or (partial) the declared ones, which must exist there. */
  const comparedKeys = (label: string, myRecord: object | undefined, refRecord: object | undefined) => {
    if (!partial) {
      expect(sortedKeys(myRecord), label).toEqual(sortedKeys(refRecord));
      return sortedKeys(refRecord);
    }
    const missing = sortedKeys(myRecord).filter((key) => !(key in (refRecord ?? {})));
    expect(missing, `${label} not in the reference`).toEqual([]);
    return sortedKeys(myRecord);
  };

  it("has the same identity", () => {
    expect(mine.id).toBe(reference.id);
    expect(module.CONTRACT_ID).toBe(reference.id);
    expect(mine.kind).toBe(reference.kind);
    expect(mine.format).toBe(reference.format);
    expect(mine.displayName, "displayName").toBe(reference.displayName);
    expect(mine.docs?.summary, "contract docs").toBeTruthy();
  });

  for (const kind of SURFACE_KINDS) {
    const refSurfaces = surfacesOf(reference, kind);
    const mySurfaces = surfacesOf(mine, kind);

    it(`has the same ${kind} names`, () => {
      comparedKeys(`${kind} names`, mySurfaces, refSurfaces);
    });

    const names = sortedKeys(partial ? mySurfaces : refSurfaces).filter(
      (surface) => surface in mySurfaces && surface in refSurfaces,
    );
    if (names.length === 0) continue;

    it(`has the same ${kind} subjects, versions, params, internal flags and docs`, () => {
      for (const surface of names) {
        const ref = refSurfaces[surface] as AnySurface;
        const my = mySurfaces[surface] as AnySurface;
        expect(my.subject, `${kind} '${surface}' subject`).toBe(ref.subject);
        expect(my.version, `${kind} '${surface}' version`).toBe(ref.version);
        expect(my.params ?? [], `${kind} '${surface}' params`).toEqual(ref.params ?? []);
        expect(my.internal ?? false, `${kind} '${surface}' internal`).toBe(ref.internal ?? false);
        expect(my.docs !== undefined, `${kind} '${surface}' docs present`).toBe(ref.docs !== undefined);
      }
    });

    it(`has the same ${kind} capabilities`, () => {
      for (const surface of names) {
        expect(capabilityLists(mySurfaces[surface]), `${kind} '${surface}' capabilities`).toEqual(
          capabilityLists(refSurfaces[surface]),
        );
      }
    });

    if (kind === "rpc") {
      it("has the same rpc error types", () => {
        for (const surface of names) {
          expect(errorTypes(mySurfaces[surface]), `rpc '${surface}' errors`).toEqual(
            errorTypes(refSurfaces[surface]),
          );
        }
      });
    }

    it.each(names)(`has the same payload fields for ${kind} %s`, (surface) => {
      const refRefs = payloadRefs(refSurfaces[surface] as AnySurface);
      const myRefs = payloadRefs(mySurfaces[surface] as AnySurface);
      expect(sortedKeys(myRefs), `${kind} '${surface}' payload roles`).toEqual(sortedKeys(refRefs));
      for (const [role, refSchema] of Object.entries(refRefs)) {
        const mySchema = myRefs[role] as string;
        expect(mySchema, `${kind} '${surface}' ${role} schema name`).toBe(refSchema);
        expect(fieldSignature(mine, mySchema), `${kind} '${surface}' ${role} fields (${mySchema})`).toEqual(
          fieldSignature(reference, refSchema),
        );
      }
    });
  }

  it("declares the same capabilities with the same metadata keys", () => {
    for (const key of comparedKeys("capability keys", mine.capabilities, reference.capabilities)) {
      expect(sortedKeys(mine.capabilities?.[key]), `capability '${key}' metadata keys`).toEqual(
        sortedKeys(reference.capabilities?.[key]),
      );
    }
  });

  it("declares the same errors with the same payload fields", () => {
    expect(sortedKeys(mine.errors), "declared errors").toEqual(sortedKeys(reference.errors));
    for (const [local, decl] of Object.entries(reference.errors ?? {})) {
      const my = mine.errors?.[local];
      expect(my?.type, `error '${local}' type`).toBe(decl.type);
      expect(my?.schema === undefined, `error '${local}' has a payload schema`).toBe(
        decl.schema === undefined,
      );
      if (my?.schema && decl.schema) {
        expect(fieldSignature(mine, my.schema.schema), `error '${local}' payload fields`).toEqual(
          fieldSignature(reference, decl.schema.schema),
        );
      }
    }
  });

  it("has the same uses (aliases, contracts and selectors)", () => {
    expect(mine.uses?.required ?? {}, "required uses").toEqual(reference.uses?.required ?? {});
    expect(mine.uses?.optional ?? {}, "optional uses").toEqual(reference.uses?.optional ?? {});
  });

  it("has no extra owned sections", () => {
    for (const section of ["state", "jobs", "resources", "eventConsumers", "exports"] as const) {
      expect(sortedKeys(mine[section]), section).toEqual(sortedKeys(reference[section]));
    }
  });

  it("names every reference schema, with the same fields", () => {
    for (const schemaName of comparedKeys("schemas", mine.schemas, reference.schemas)) {
      expect(mine.schemas?.[schemaName], `schema '${schemaName}' exists`).toBeDefined();
      expect(fieldSignature(mine, schemaName), `schema '${schemaName}' fields`).toEqual(
        fieldSignature(reference, schemaName),
      );
    }
  });

  it("emits a valid manifest with a stable digest", async () => {
    const reparsed = parseContractManifest(JSON.parse(JSON.stringify(mine)));
    expect(digestContractManifest(reparsed)).toBe(module.CONTRACT_DIGEST);
    expect(module.CONTRACT_DIGEST).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Defining the contract again (a fresh module graph) yields the same digest.
    vi.resetModules();
    const fresh = (await import("./index.js")).BUILTIN_CONTRACTS.find((m) => m.CONTRACT_ID === name);
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(module);
    expect(fresh?.CONTRACT_DIGEST).toBe(module.CONTRACT_DIGEST);
  });
});

describe("trellis.auth@v1", () => {
  it("declares the surfaces the control plane serves", () => {
    expect(Object.keys(trellisAuth.API.owned.rpc).sort()).toEqual([
      "Auth.Capabilities.List",
      "Auth.CapabilityGroups.Delete",
      "Auth.CapabilityGroups.Get",
      "Auth.CapabilityGroups.List",
      "Auth.CapabilityGroups.Put",
      "Auth.Connections.Kick",
      "Auth.Connections.List",
      "Auth.DeploymentAuthority.AcceptMigration",
      "Auth.DeploymentAuthority.AcceptUpdate",
      "Auth.DeploymentAuthority.Get",
      "Auth.DeploymentAuthority.List",
      "Auth.DeploymentAuthority.Plan",
      "Auth.DeploymentAuthority.Plans.Get",
      "Auth.DeploymentAuthority.Plans.List",
      "Auth.DeploymentAuthority.Reconcile",
      "Auth.DeploymentAuthority.Reject",
      "Auth.Deployments.Create",
      "Auth.Deployments.Disable",
      "Auth.Deployments.Enable",
      "Auth.Deployments.List",
      "Auth.Deployments.Remove",
      "Auth.Health",
      "Auth.IdentityGrants.List",
      "Auth.IdentityGrants.Revoke",
      "Auth.Requests.Validate",
      "Auth.ServiceInstances.Disable",
      "Auth.ServiceInstances.Enable",
      "Auth.ServiceInstances.List",
      "Auth.ServiceInstances.Provision",
      "Auth.ServiceInstances.Remove",
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
    ]);
    expect(Object.keys(trellisAuth.API.owned.events).sort()).toEqual([
      "Auth.Connections.Closed",
      "Auth.Connections.Kicked",
      "Auth.Connections.Opened",
      "Auth.Sessions.Revoked",
    ]);
    expect(Object.keys(trellisAuth.CONTRACT.capabilities ?? {}).sort()).toEqual([
      "trellis.auth::device.review",
      "trellis.auth::events.auth",
    ]);
  });

  it("requires a signed service caller for Validate", () => {
    const validate = trellisAuth.API.owned.rpc["Auth.Requests.Validate"];
    expect(validate.subject).toBe("rpc.v1.Auth.Requests.Validate");
    expect(validate.authRequired).toBe(true);
    expect(validate.callerCapabilities).toEqual(["service"]);
  });

  it("resolves the auth and core RPCs trellis.jobs uses", () => {
    expect(Object.keys(trellisJobs.API.used.rpc).sort()).toEqual([
      "Auth.Requests.Validate",
      "Trellis.Bindings.Get",
      "Trellis.Catalog",
    ]);
    expect(trellisJobs.API.used.rpc["Auth.Requests.Validate"]).toBe(
      trellisAuth.API.owned.rpc["Auth.Requests.Validate"],
    );
  });
});

describe("typed API", () => {
  it("infers payload and error types from the authored modules", () => {
    expectTypeOf<RpcInput<typeof trellisJobs, "Jobs.Get">>().toEqualTypeOf<{ id: string }>();
    expectTypeOf<RpcErrorType<typeof trellisJobs, "Jobs.Get">>().toEqualTypeOf<
      "NotFoundError" | "UnexpectedError" | "ValidationError"
    >();
    expectTypeOf<RpcInput<typeof trellisCore, "Trellis.Contract.Get">>().toEqualTypeOf<{ digest: string }>();
    expectTypeOf<EventPayload<typeof trellisHealth, "Health.Heartbeat">["status"]>().toEqualTypeOf<
      "healthy" | "unhealthy" | "degraded"
    >();
    expect(trellisJobs.API.trellis.rpc["Trellis.Catalog"].subject).toBe("rpc.v1.Trellis.Catalog");
    expectTypeOf<RpcInput<typeof trellisAuth, "Auth.Sessions.Revoke">>().toEqualTypeOf<{
      sessionKey: string;
    }>();
    expectTypeOf<RpcErrorType<typeof trellisAuth, "Auth.Sessions.Me">>().toEqualTypeOf<
      "AuthError" | "UnexpectedError"
    >();
    expectTypeOf<
      EventPayload<typeof trellisAuth, "Auth.Sessions.Revoked">["revokedBy"]
    >().toEqualTypeOf<string>();
  });
});
