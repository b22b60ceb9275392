/**
 * The authoring API (contracts spec §7, §8.1, §10): `defineServiceContract`, `defineAppContract`,
 * `defineAgentContract` and `defineDeviceContract` turn a TypeScript description with zod schemas
 * into a normalized `trellis.contract.v1` manifest, its digest and typed runtime descriptors.
 */
import type { z } from "zod";
import type {
  ApiSurfaces,
  ContractModule,
  ContractUseRef,
  EventRuntimeDescriptor,
  FeedDescriptor,
  JobQueueTypes,
  OperationDescriptor,
  RpcDescriptor,
  TypedJobs,
  UseSelection,
} from "./api.js";
import { digestJson } from "./canonical.js";
import { assertLocalCapabilityName, globalCapabilityName, projectCapabilityList } from "./capabilities.js";
import { digestContractManifest } from "./digest.js";
import {
  BUILTIN_ERROR_TYPES,
  type BuiltinErrorType,
  type ErrorClassLike,
  errorClassFromManifest,
  isDefinedErrorClass,
} from "./errors.js";
import { type SchemaView, toManifestJsonSchema } from "./json-schema.js";
import {
  type CapabilityMetadata,
  CONTRACT_FORMAT_V1,
  type ContractKind,
  type ContractManifest,
  type ContractUse,
  type Docs,
  type JsonSchema,
  type SchemaRef,
} from "./manifest.js";
import { sortedUnique, sortUseSelectors } from "./normalize.js";
import { ContractDefinitionError, ContractValidationError } from "./problems.js";
import {
  defaultEventSubject,
  defaultFeedSubject,
  defaultOperationSubject,
  defaultRpcSubject,
  operationControlSubject,
  resolveSchemaPointer,
} from "./subjects.js";
import { validateContractManifest } from "./validate.js";

/** The symbol under which a `use()` result points back at its contract module. */
export const CONTRACT_MODULE_SYMBOL: unique symbol = Symbol.for(
  "@trellis/contracts/contract-module",
) as never;

/** Named zod schemas of a contract. */
export type SchemaRegistry = Record<string, z.ZodType>;
/** Declared error classes of a service contract, by local name. */
export type ErrorRegistry = Record<string, ErrorClassLike>;

/** A schema reference typed with the schema's name. */
export interface SchemaRefTo<K extends string> {
  /** Name of a schema in the contract's registry. */
  readonly schema: K;
}

/** Helpers handed to the contract body builder. */
export interface ContractRefHelpers<S extends SchemaRegistry, E extends ErrorRegistry> {
  /** References a schema of the registry by name. */
  schema<K extends keyof S & string>(name: K): SchemaRefTo<K>;
  /** References a declared error (local name) or a builtin error type. */
  error<K extends (keyof E & string) | BuiltinErrorType>(name: K): K;
  /** References a global capability (`namespace::local`) or a platform capability. */
  capability<K extends `${string}::${string}` | "admin" | "service">(key: K): K;
}

type Ref<S> = SchemaRefTo<keyof S & string>;
type CapabilityList = readonly string[];

/** An RPC method as written in a contract body. */
export interface RpcSource<S extends SchemaRegistry, E extends ErrorRegistry> {
  version: string;
  input: Ref<S>;
  output: Ref<S>;
  capabilities?: { call?: CapabilityList };
  errors?: readonly ((keyof E & string) | BuiltinErrorType)[];
  transfer?: { direction: "receive" };
  authRequired?: boolean;
  subject?: string;
  internal?: boolean;
  docs?: Docs;
}

/** An operation as written in a contract body. */
export interface OperationSource<S extends SchemaRegistry> {
  version: string;
  input: Ref<S>;
  output: Ref<S>;
  progress?: Ref<S>;
  transfer?: {
    direction: "send";
    store: string;
    key: string;
    contentType?: string;
    metadata?: string;
    expiresInMs?: number;
    maxBytes?: number;
  };
  capabilities?: {
    call?: CapabilityList;
    observe?: CapabilityList;
    cancel?: CapabilityList;
    control?: CapabilityList;
  };
  signals?: Record<string, { input: Ref<S>; docs?: Docs }>;
  cancel?: boolean;
  subject?: string;
  docs?: Docs;
}

/** An event as written in a contract body. */
export interface EventSource<S extends SchemaRegistry> {
  version: string;
  event: Ref<S>;
  params?: readonly string[];
  capabilities?: { publish?: CapabilityList; subscribe?: CapabilityList };
  subject?: string;
  docs?: Docs;
}

/** A feed as written in a contract body. */
export interface FeedSource<S extends SchemaRegistry> {
  version: string;
  input: Ref<S>;
  event: Ref<S>;
  capabilities?: { subscribe?: CapabilityList };
  subject?: string;
  docs?: Docs;
}

/** A state store as written in a contract body. */
export interface StateSource<S extends SchemaRegistry> {
  kind: "value" | "map";
  schema: Ref<S>;
  stateVersion?: string;
  acceptedVersions?: Record<string, Ref<S>>;
  docs?: Docs;
}

/** A job queue as written in a contract body (defaults are applied in bindings, not here). */
export interface JobSource<S extends SchemaRegistry> {
  payload: Ref<S>;
  result?: Ref<S>;
  maxDeliver?: number;
  backoffMs?: readonly number[];
  ackWaitMs?: number;
  defaultDeadlineMs?: number;
  progress?: boolean;
  logs?: boolean;
  dlq?: boolean;
  concurrency?: number;
  docs?: Docs;
}

/** An event consumer group as written in a contract body. */
export interface EventConsumerSource {
  uses?: Record<string, readonly string[]>;
  self?: readonly string[];
  replay?: "new" | "all";
  ordering?: "strict";
  concurrency?: number;
  ackWaitMs?: number;
  maxDeliver?: number;
  backoffMs?: readonly number[];
  docs?: Docs;
}

/** Resources as written in a contract body. */
export interface ResourcesSource<S extends SchemaRegistry> {
  kv?: Record<
    string,
    {
      purpose: string;
      schema: Ref<S>;
      required?: boolean;
      history?: number;
      ttlMs?: number;
      maxValueBytes?: number;
      docs?: Docs;
    }
  >;
  store?: Record<
    string,
    {
      purpose: string;
      required?: boolean;
      ttlMs?: number;
      maxObjectBytes?: number;
      maxTotalBytes?: number;
      docs?: Docs;
    }
  >;
}

/** Dependencies, grouped; each entry is the result of `module.use(...)`. */
export interface UsesSource {
  required?: Record<string, ContractUseRef>;
  optional?: Record<string, ContractUseRef>;
}

/** Fields every contract body has. */
export interface ContractBodyBase<S extends SchemaRegistry> {
  /** Lineage id, `<name>@v<N>`. */
  id: string;
  /** Human name. */
  displayName: string;
  /** One-sentence description. */
  description: string;
  /** Longer documentation. */
  docs?: Docs;
  /** Capabilities this contract defines, by local name. */
  capabilities?: Record<string, CapabilityMetadata>;
  /** Schemas exported for SDK type aliases. */
  exports?: { schemas?: readonly (keyof S & string)[] };
  /** Dependencies on other contracts. */
  uses?: UsesSource;
  /** Per-user state stores. */
  state?: Record<string, StateSource<S>>;
}

/** The body of a service contract. */
export interface ServiceContractBody<S extends SchemaRegistry, E extends ErrorRegistry>
  extends ContractBodyBase<S> {
  rpc?: Record<string, RpcSource<S, E>>;
  operations?: Record<string, OperationSource<S>>;
  events?: Record<string, EventSource<S>>;
  feeds?: Record<string, FeedSource<S>>;
  jobs?: Record<string, JobSource<S>>;
  eventConsumers?: Record<string, EventConsumerSource>;
  resources?: ResourcesSource<S>;
}

/** The body of an app or agent contract: a pure caller. */
export type ClientContractBody<S extends SchemaRegistry> = ContractBodyBase<S>;

/** The body of a device contract: a caller that may also publish its own events. */
export interface DeviceContractBody<S extends SchemaRegistry> extends ContractBodyBase<S> {
  events?: Record<string, EventSource<S>>;
}

type AnyBody = ServiceContractBody<SchemaRegistry, ErrorRegistry>;

// ---------------------------------------------------------------------------------------------
// Type-level derivation of the API from a body.

type SchemaName<R> = R extends { schema: infer K } ? K : never;
type InputType<S, R> =
  SchemaName<R> extends keyof S
    ? S[SchemaName<R>] extends z.ZodType
      ? z.input<S[SchemaName<R>]>
      : unknown
    : unknown;
type OutputType<S, R> =
  SchemaName<R> extends keyof S
    ? S[SchemaName<R>] extends z.ZodType
      ? z.output<S[SchemaName<R>]>
      : unknown
    : unknown;
type ErrorTypeName<E, N> = N extends keyof E
  ? E[N] extends ErrorClassLike<infer T>
    ? T
    : N & string
  : N & string;
type Section<B, K extends string> = B extends { [P in K]?: infer R }
  ? R extends Record<string, unknown>
    ? R
    : Record<never, never>
  : Record<never, never>;

type OwnedRpc<S, E, B> = {
  [K in keyof Section<B, "rpc">]: Section<B, "rpc">[K] extends { input: infer I; output: infer O }
    ? RpcDescriptor<
        InputType<S, I>,
        OutputType<S, O>,
        Section<B, "rpc">[K] extends { errors: readonly (infer N)[] } ? ErrorTypeName<E, N> : never
      >
    : never;
};
type SignalTypes<S, G> = { [K in keyof G]: G[K] extends { input: infer I } ? InputType<S, I> : never };
type OwnedOperations<S, B> = {
  [K in keyof Section<B, "operations">]: Section<B, "operations">[K] extends {
    input: infer I;
    output: infer O;
  }
    ? OperationDescriptor<
        InputType<S, I>,
        Section<B, "operations">[K] extends { progress: infer P } ? OutputType<S, P> : never,
        OutputType<S, O>,
        Section<B, "operations">[K] extends { signals: infer G } ? SignalTypes<S, G> : Record<never, never>
      >
    : never;
};
type OwnedEvents<S, B> = {
  [K in keyof Section<B, "events">]: Section<B, "events">[K] extends { event: infer V }
    ? EventRuntimeDescriptor<OutputType<S, V>>
    : never;
};
type OwnedFeeds<S, B> = {
  [K in keyof Section<B, "feeds">]: Section<B, "feeds">[K] extends { input: infer I; event: infer V }
    ? FeedDescriptor<InputType<S, I>, OutputType<S, V>>
    : never;
};

type OwnedJobs<S, B> = {
  [K in keyof Section<B, "jobs">]: Section<B, "jobs">[K] extends { payload: infer P }
    ? JobQueueTypes<
        OutputType<S, P>,
        InputType<S, P>,
        Section<B, "jobs">[K] extends { result: infer R } ? OutputType<S, R> : unknown
      >
    : never;
};

/** The owned API a body declares. */
export type OwnedApiOf<S, E, B> = {
  rpc: OwnedRpc<S, E, B>;
  operations: OwnedOperations<S, B>;
  events: OwnedEvents<S, B>;
  feeds: OwnedFeeds<S, B>;
};

type UnionToIntersection<U> = (U extends unknown ? (arg: U) => void : never) extends (arg: infer I) => void
  ? I
  : never;
type UseRefsOf<B> = B extends { uses: infer U }
  ?
      | (U extends { required: infer R } ? R[keyof R] : never)
      | (U extends { optional: infer O } ? O[keyof O] : never)
  : never;
type Selected<Sel, Kind extends string, Action extends string> = Sel extends { [P in Kind]?: infer A }
  ? A extends { [Q in Action]?: readonly (infer N)[] }
    ? N
    : never
  : never;
type OwnedOfRef<U> = U extends { readonly " types"?: { module: infer M } }
  ? M extends ContractModule<string, infer O, ApiSurfaces>
    ? O
    : never
  : never;
type SelectionOfRef<U> = U extends { readonly " types"?: { selection: infer Sel } } ? Sel : never;
type PickSurface<U, Kind extends keyof ApiSurfaces, Keys> = U extends unknown
  ? Pick<OwnedOfRef<U>[Kind], Keys & keyof OwnedOfRef<U>[Kind]>
  : never;
type Flatten<T> = [T] extends [never]
  ? Record<never, never>
  : { [K in keyof UnionToIntersection<T>]: UnionToIntersection<T>[K] };

/** The used API a body declares through its `uses`. */
export type UsedApiOf<B> = {
  rpc: Flatten<PickSurface<UseRefsOf<B>, "rpc", Selected<SelectionOfRef<UseRefsOf<B>>, "rpc", "call">>>;
  operations: Flatten<
    PickSurface<UseRefsOf<B>, "operations", Selected<SelectionOfRef<UseRefsOf<B>>, "operations", "call">>
  >;
  events: Flatten<
    PickSurface<
      UseRefsOf<B>,
      "events",
      | Selected<SelectionOfRef<UseRefsOf<B>>, "events", "publish">
      | Selected<SelectionOfRef<UseRefsOf<B>>, "events", "subscribe">
    >
  >;
  feeds: Flatten<
    PickSurface<UseRefsOf<B>, "feeds", Selected<SelectionOfRef<UseRefsOf<B>>, "feeds", "subscribe">>
  >;
};

type IdOf<B> = B extends { id: infer I extends string } ? I : string;

/** The module type produced for a body. */
export type DefinedContract<S, E, B> = ContractModule<
  IdOf<B>,
  AsSurfaces<OwnedApiOf<S, E, B>>,
  AsSurfaces<UsedApiOf<B>>
> &
  TypedJobs<OwnedJobs<S, B>>;

type AsSurfaces<T> = T extends infer O extends ApiSurfaces ? O : never;

// ---------------------------------------------------------------------------------------------
// Implementation.

const BUILTIN_ERRORS = new Set<string>(BUILTIN_ERROR_TYPES);

interface Registry {
  schemas?: SchemaRegistry;
  errors?: ErrorRegistry;
}

function fail(message: string): never {
  throw new ContractDefinitionError(message);
}

function makeRefHelpers(registry: Registry): ContractRefHelpers<SchemaRegistry, ErrorRegistry> {
  return {
    schema(name) {
      if (!registry.schemas) fail(`Contract builder ref.schema('${name}') requires a schemas registry`);
      if (!(name in registry.schemas))
        fail(`ref.schema('${name}') references a schema that is not in the registry`);
      return { schema: name };
    },
    error(name) {
      if (!BUILTIN_ERRORS.has(name) && !(registry.errors && name in registry.errors)) {
        fail(`ref.error('${name}') references an error that is neither declared nor builtin`);
      }
      return name;
    },
    capability(key) {
      return key;
    },
  };
}

/** Collects, per schema name, whether it is read as input (sent by callers) or output (produced). */
function schemaViews(body: AnyBody): Map<string, Set<SchemaView>> {
  const views = new Map<string, Set<SchemaView>>();
  const mark = (ref: SchemaRef | undefined, view: SchemaView) => {
    if (!ref) return;
    const set = views.get(ref.schema) ?? new Set<SchemaView>();
    set.add(view);
    views.set(ref.schema, set);
  };
  for (const rpc of Object.values(body.rpc ?? {})) {
    mark(rpc.input, "input");
    mark(rpc.output, "output");
  }
  for (const op of Object.values(body.operations ?? {})) {
    mark(op.input, "input");
    mark(op.progress, "output");
    mark(op.output, "output");
    for (const signal of Object.values(op.signals ?? {})) mark(signal.input, "input");
  }
  for (const event of Object.values(body.events ?? {})) mark(event.event, "output");
  for (const feed of Object.values(body.feeds ?? {})) {
    mark(feed.input, "input");
    mark(feed.event, "output");
  }
  for (const job of Object.values(body.jobs ?? {})) {
    mark(job.payload, "input");
    mark(job.result, "output");
  }
  for (const store of Object.values(body.state ?? {})) {
    mark(store.schema, "output");
    for (const ref of Object.values(store.acceptedVersions ?? {})) mark(ref, "output");
  }
  for (const kv of Object.values(body.resources?.kv ?? {})) mark(kv.schema, "output");
  return views;
}

function emitSchemas(registry: SchemaRegistry, body: AnyBody): Record<string, JsonSchema> {
  const views = schemaViews(body);
  const out: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(registry)) {
    const used = views.get(name) ?? new Set<SchemaView>(["output"]);
    const emitted = [...used].map((view) => toManifestJsonSchema(name, schema, view));
    const [first, second] = emitted;
    if (second !== undefined && digestJson(first) !== digestJson(second)) {
      fail(
        `schema '${name}' is used both as an input and as an output, but its input and output views differ ` +
          "(defaults or transforms); declare separate schemas for each direction",
      );
    }
    out[name] = first as JsonSchema;
  }
  return out;
}

/** Finds (or adds) the schema that describes a declared error's wire payload. */
function emitErrors(
  errors: ErrorRegistry,
  schemas: Record<string, JsonSchema>,
): Record<string, { type: string; schema: SchemaRef }> {
  const out: Record<string, { type: string; schema: SchemaRef }> = {};
  for (const [name, errorClass] of Object.entries(errors)) {
    if (!isDefinedErrorClass(errorClass)) continue;
    const json = toManifestJsonSchema(`${name} error`, errorClass.schema, "output");
    const digest = digestJson(json);
    let schemaName = Object.keys(schemas).find((key) => digestJson(schemas[key]) === digest);
    if (!schemaName) {
      const candidates = [`${errorClass.type}Data`, `${name}Data`];
      schemaName = candidates.find((candidate) => !(candidate in schemas));
      for (let n = 2; !schemaName; n++) {
        if (!(`${errorClass.type}Data${n}` in schemas)) schemaName = `${errorClass.type}Data${n}`;
      }
      schemas[schemaName] = json;
    }
    out[name] = { type: errorClass.type, schema: { schema: schemaName } };
  }
  return out;
}

function moduleOfUse(use: ContractUseRef): ContractModule | undefined {
  const module: unknown = Reflect.get(use, CONTRACT_MODULE_SYMBOL);
  return typeof module === "object" && module !== null && "CONTRACT_ID" in module
    ? (module as ContractModule)
    : undefined;
}

function mergeUse(alias: string, target: ContractUse, extra: ContractUse): ContractUse {
  if (target.contract !== extra.contract) {
    fail(`Contract use '${alias}' references both '${target.contract}' and '${extra.contract}'`);
  }
  const union = (a?: string[], b?: string[]) =>
    a || b ? sortedUnique([...(a ?? []), ...(b ?? [])]) : undefined;
  const out: ContractUse = { contract: target.contract };
  const rpc = union(target.rpc?.call, extra.rpc?.call);
  if (rpc) out.rpc = { call: rpc };
  const ops = union(target.operations?.call, extra.operations?.call);
  if (ops) out.operations = { call: ops };
  const publish = union(target.events?.publish, extra.events?.publish);
  const subscribe = union(target.events?.subscribe, extra.events?.subscribe);
  if (publish || subscribe) out.events = { ...(publish && { publish }), ...(subscribe && { subscribe }) };
  const feeds = union(target.feeds?.subscribe, extra.feeds?.subscribe);
  if (feeds) out.feeds = { subscribe: feeds };
  return out;
}

/** The baseline dependencies every contract of a kind gets (contracts spec §7). */
function baselineUses(kind: ContractKind, id: string, hasState: boolean): Record<string, ContractUse> {
  const uses: Record<string, ContractUse> = {};
  if (kind !== "service") {
    uses.auth = { contract: "trellis.auth@v1", rpc: { call: ["Auth.Sessions.Logout", "Auth.Sessions.Me"] } };
  }
  if (hasState) {
    uses.state = {
      contract: "trellis.state@v1",
      rpc: { call: ["State.Delete", "State.Get", "State.List", "State.Put"] },
    };
  }
  if ((kind === "service" || kind === "device") && id !== "trellis.health@v1") {
    uses.health = { contract: "trellis.health@v1", events: { publish: ["Health.Heartbeat"] } };
  }
  return uses;
}

function emitUses(
  kind: ContractKind,
  body: AnyBody,
): {
  uses: { required?: Record<string, ContractUse>; optional?: Record<string, ContractUse> };
  modules: Map<string, ContractModule>;
} {
  const modules = new Map<string, ContractModule>();
  const group = (entries: Record<string, ContractUseRef> | undefined) => {
    const out: Record<string, ContractUse> = {};
    for (const [alias, use] of Object.entries(entries ?? {})) {
      const module = moduleOfUse(use);
      if (!module) {
        fail(
          `Contract use '${alias}' must be created with contractModule.use(...) so its provenance is known`,
        );
      }
      if (module.CONTRACT_ID !== use.contract) {
        fail(`Contract use '${alias}' references '${use.contract}' but module id is '${module.CONTRACT_ID}'`);
      }
      modules.set(alias, module);
      out[alias] = sortUseSelectors(use);
    }
    return out;
  };
  const required = group(body.uses?.required);
  const optional = group(body.uses?.optional);
  for (const [alias, use] of Object.entries(
    baselineUses(kind, body.id, Object.keys(body.state ?? {}).length > 0),
  )) {
    const existing = required[alias];
    required[alias] = existing ? mergeUse(alias, existing, use) : use;
  }
  for (const alias of Object.keys(required)) delete optional[alias];
  const uses: { required?: Record<string, ContractUse>; optional?: Record<string, ContractUse> } = {};
  if (Object.keys(required).length > 0) uses.required = required;
  if (Object.keys(optional).length > 0) uses.optional = optional;
  return { uses, modules };
}

/** Builds the manifest and the owned runtime descriptors of a body. */
function emitContract(kind: ContractKind, registry: Registry, body: AnyBody) {
  const id = body.id;
  if (typeof id !== "string" || !/^.+@v[0-9]+$/.test(id))
    fail(`contract id '${String(id)}' must look like '<name>@v<N>'`);
  const declared = new Set(Object.keys(body.capabilities ?? {}));
  for (const local of declared) assertLocalCapabilityName(id, local);
  const caps = (list: CapabilityList | undefined, context: string) =>
    list === undefined ? undefined : projectCapabilityList(id, declared, list, context);

  const manifest: ContractManifest = {
    format: CONTRACT_FORMAT_V1,
    id,
    displayName: body.displayName,
    description: body.description,
    kind,
  };
  if (body.docs) manifest.docs = body.docs;
  if (body.capabilities) {
    manifest.capabilities = Object.fromEntries(
      Object.entries(body.capabilities).map(([local, meta]) => [globalCapabilityName(id, local), meta]),
    );
  }
  const schemas = emitSchemas(registry.schemas ?? {}, body);
  const errorDecls = emitErrors(registry.errors ?? {}, schemas);
  if (Object.keys(schemas).length > 0) manifest.schemas = schemas;
  if (body.exports?.schemas) manifest.exports = { schemas: [...body.exports.schemas] };
  const { uses, modules } = emitUses(kind, body);
  if (uses.required || uses.optional) manifest.uses = uses;

  const rpcRuntime: Record<string, RpcRuntimeOptions> = {};
  const errorTypeOf = (name: string) => registry.errors?.[name]?.type ?? name;

  if (body.rpc) {
    manifest.rpc = {};
    for (const [name, src] of Object.entries(body.rpc)) {
      for (const error of src.errors ?? []) {
        if (!BUILTIN_ERRORS.has(error) && !registry.errors?.[error]) {
          fail(`rpc '${name}' references unknown error '${error}'`);
        }
      }
      const errorTypes = sortedUnique((src.errors ?? []).map(errorTypeOf));
      const call = caps(src.capabilities?.call, `rpc '${name}' call capabilities`);
      const subject = src.subject ?? defaultRpcSubject(src.version, name);
      manifest.rpc[name] = {
        version: src.version,
        subject,
        input: { schema: src.input.schema },
        output: { schema: src.output.schema },
        ...(call && { capabilities: { call } }),
        ...(errorTypes.length > 0 && { errors: errorTypes.map((type) => ({ type })) }),
        ...(src.transfer && { transfer: { direction: src.transfer.direction } }),
        ...(src.internal !== undefined && { internal: src.internal }),
        ...(src.docs && { docs: src.docs }),
      };
      const runtimeErrors: Record<string, ErrorClassLike> = {};
      for (const error of src.errors ?? []) {
        const errorClass = registry.errors?.[error];
        if (errorClass) runtimeErrors[errorClass.type] = errorClass;
      }
      rpcRuntime[name] = { authRequired: src.authRequired ?? true, runtimeErrors };
    }
  }

  if (body.operations) {
    manifest.operations = {};
    for (const [name, src] of Object.entries(body.operations)) {
      const subject = src.subject ?? defaultOperationSubject(src.version, name);
      const capabilities: Record<string, string[]> = {};
      for (const action of ["call", "observe", "cancel", "control"] as const) {
        const list = caps(src.capabilities?.[action], `operation '${name}' ${action} capabilities`);
        if (list) capabilities[action] = list;
      }
      if (src.transfer) {
        const store = body.resources?.store?.[src.transfer.store];
        if (!store) fail(`Operation '${name}' references unknown store resource '${src.transfer.store}'`);
        const inputSchema = schemas[src.input.schema];
        for (const field of ["key", "contentType", "metadata"] as const) {
          const ptr = src.transfer[field];
          if (
            ptr !== undefined &&
            (inputSchema === undefined || !resolveSchemaPointer(inputSchema, ptr).found)
          ) {
            fail(
              `Invalid transfer pointer '${ptr}' for operation '${name}' (path not found in input schema)`,
            );
          }
        }
      }
      const signals =
        src.signals &&
        Object.fromEntries(
          Object.entries(src.signals).map(([signal, desc]) => [
            signal,
            { input: { schema: desc.input.schema }, ...(desc.docs && { docs: desc.docs }) },
          ]),
        );
      manifest.operations[name] = {
        version: src.version,
        subject,
        input: { schema: src.input.schema },
        output: { schema: src.output.schema },
        ...(src.progress && { progress: { schema: src.progress.schema } }),
        ...(src.transfer && { transfer: { ...src.transfer } }),
        ...(src.capabilities && { capabilities }),
        ...(signals && { signals }),
        ...(src.cancel !== undefined && { cancel: src.cancel }),
        ...(src.docs && { docs: src.docs }),
      };
    }
  }

  if (body.events) {
    manifest.events = {};
    for (const [name, src] of Object.entries(body.events)) {
      const params = src.params ? [...src.params] : undefined;
      const subject = src.subject ?? defaultEventSubject(src.version, name, params);
      const publish = caps(src.capabilities?.publish, `event '${name}' publish capabilities`);
      const subscribe = caps(src.capabilities?.subscribe, `event '${name}' subscribe capabilities`);
      manifest.events[name] = {
        version: src.version,
        subject,
        ...(params && { params }),
        event: { schema: src.event.schema },
        ...(src.capabilities && {
          capabilities: { ...(publish && { publish }), ...(subscribe && { subscribe }) },
        }),
        ...(src.docs && { docs: src.docs }),
      };
    }
  }

  if (body.feeds) {
    manifest.feeds = {};
    for (const [name, src] of Object.entries(body.feeds)) {
      const subject = src.subject ?? defaultFeedSubject(src.version, name);
      const subscribe = caps(src.capabilities?.subscribe, `feed '${name}' subscribe capabilities`);
      manifest.feeds[name] = {
        version: src.version,
        subject,
        input: { schema: src.input.schema },
        event: { schema: src.event.schema },
        ...(subscribe && { capabilities: { subscribe } }),
        ...(src.docs && { docs: src.docs }),
      };
    }
  }

  if (body.state) {
    manifest.state = Object.fromEntries(
      Object.entries(body.state).map(([store, src]) => [
        store,
        {
          kind: src.kind,
          schema: { schema: src.schema.schema },
          ...(src.stateVersion && { stateVersion: src.stateVersion }),
          ...(src.acceptedVersions && {
            acceptedVersions: Object.fromEntries(
              Object.entries(src.acceptedVersions).map(([version, ref]) => [version, { schema: ref.schema }]),
            ),
          }),
          ...(src.docs && { docs: src.docs }),
        },
      ]),
    );
  }
  if (body.jobs) {
    manifest.jobs = Object.fromEntries(
      Object.entries(body.jobs).map(([queue, { payload, result, backoffMs, ...settings }]) => [
        queue,
        {
          ...settings,
          payload: { schema: payload.schema },
          ...(result && { result: { schema: result.schema } }),
          ...(backoffMs && { backoffMs: [...backoffMs] }),
        },
      ]),
    );
  }
  if (body.eventConsumers) {
    manifest.eventConsumers = Object.fromEntries(
      Object.entries(body.eventConsumers).map(([group, src]) => [
        group,
        {
          ...(src.uses && {
            uses: Object.fromEntries(
              Object.entries(src.uses).map(([alias, events]) => [alias, sortedUnique(events)]),
            ),
          }),
          ...(src.self && { self: sortedUnique(src.self) }),
          replay: src.replay ?? "new",
          ordering: src.ordering ?? "strict",
          concurrency: src.concurrency ?? 1,
          ...(src.ackWaitMs !== undefined && { ackWaitMs: src.ackWaitMs }),
          ...(src.maxDeliver !== undefined && { maxDeliver: src.maxDeliver }),
          ...(src.backoffMs && { backoffMs: [...src.backoffMs] }),
          ...(src.docs && { docs: src.docs }),
        },
      ]),
    );
  }
  if (body.resources) {
    if (kind === "device") fail("device contracts may not declare resources");
    const kv = body.resources.kv;
    const store = body.resources.store;
    manifest.resources = {
      ...(kv && {
        kv: Object.fromEntries(
          Object.entries(kv).map(([alias, src]) => [
            alias,
            {
              ...src,
              schema: { schema: src.schema.schema },
              required: src.required ?? true,
              history: src.history ?? 1,
              ttlMs: src.ttlMs ?? 0,
            },
          ]),
        ),
      }),
      ...(store && {
        store: Object.fromEntries(
          Object.entries(store).map(([alias, src]) => [
            alias,
            { ...src, required: src.required ?? true, ttlMs: src.ttlMs ?? 0 },
          ]),
        ),
      }),
    };
  }
  if (Object.keys(errorDecls).length > 0) manifest.errors = errorDecls;
  return { manifest, rpcRuntime, modules };
}

/** Builds the used API from the selected surfaces of each dependency module. */
function deriveUsedApi(
  manifest: ContractManifest,
  modules: Map<string, ContractModule>,
  owned: ApiSurfaces,
): ApiSurfaces {
  const used: ApiSurfaces = { rpc: {}, operations: {}, events: {}, feeds: {} };
  const add = <K extends keyof ApiSurfaces>(
    kind: K,
    label: string,
    key: string,
    descriptor: ApiSurfaces[K][string],
  ) => {
    if (key in owned[kind]) fail(`Duplicate ${label} key '${key}' while deriving contract API`);
    const existing = used[kind][key];
    if (existing && existing.subject !== descriptor.subject) {
      fail(`Duplicate ${label} key '${key}' while deriving contract API`);
    }
    used[kind][key] = descriptor;
  };
  const entries = { ...manifest.uses?.optional, ...manifest.uses?.required };
  for (const [alias, module] of modules) {
    const use = entries[alias];
    if (!use) continue;
    const api = module.API.owned;
    for (const key of use.rpc?.call ?? []) add("rpc", "rpc", key, api.rpc[key] as RpcDescriptor);
    for (const key of use.operations?.call ?? [])
      add("operations", "operations", key, api.operations[key] as OperationDescriptor);
    for (const key of [...(use.events?.publish ?? []), ...(use.events?.subscribe ?? [])]) {
      add("events", "events", key, api.events[key] as EventRuntimeDescriptor);
    }
    for (const key of use.feeds?.subscribe ?? [])
      add("feeds", "feeds", key, api.feeds[key] as FeedDescriptor);
  }
  return used;
}

/** Attaches a validating `use()` to a module. */
function withUse(module: Omit<ContractModule, "use">): ContractModule {
  const full = module as ContractModule;
  const labels = { rpc: "rpc", operations: "operations", events: "events", feeds: "feeds" } as const;
  full.use = (selection: UseSelection) => {
    const check = (kind: keyof typeof labels, keys: readonly string[] | undefined) => {
      for (const key of keys ?? []) {
        if (!(key in module.API.owned[kind]))
          fail(`Contract '${module.CONTRACT_ID}' does not expose ${labels[kind]} key '${key}'`);
      }
    };
    check("rpc", selection.rpc?.call);
    check("operations", selection.operations?.call);
    check("events", selection.events?.publish);
    check("events", selection.events?.subscribe);
    check("feeds", selection.feeds?.subscribe);
    const ref: ContractUseRef = { contract: module.CONTRACT_ID };
    if (selection.rpc) ref.rpc = { ...(selection.rpc.call && { call: [...selection.rpc.call] }) };
    if (selection.operations)
      ref.operations = { ...(selection.operations.call && { call: [...selection.operations.call] }) };
    if (selection.events) {
      ref.events = {
        ...(selection.events.publish && { publish: [...selection.events.publish] }),
        ...(selection.events.subscribe && { subscribe: [...selection.events.subscribe] }),
      };
    }
    if (selection.feeds)
      ref.feeds = { ...(selection.feeds.subscribe && { subscribe: [...selection.feeds.subscribe] }) };
    Object.defineProperty(ref, CONTRACT_MODULE_SYMBOL, { value: full, enumerable: false });
    return ref as never;
  };
  return full;
}

function defineContract<S extends SchemaRegistry, E extends ErrorRegistry, B>(
  kind: ContractKind,
  registry: { schemas?: S; errors?: E },
  build: Builder<S, E, B>,
) {
  for (const key of ["exports", "capabilities"]) {
    if (key in registry)
      fail(`contract ${key} must be declared in the callback body, not the registry argument`);
  }
  // The typed body is only needed for inference; emission reads it structurally.
  const body = build(makeRefHelpers(registry) as ContractRefHelpers<S, E>) as AnyBody;
  const { manifest, rpcRuntime, modules } = emitContract(kind, registry, body);
  const validated = validateContractManifest(manifest);
  if (validated.isErr()) {
    throw new ContractValidationError(validated.error.problems, `Invalid contract '${body.id}'`);
  }
  const CONTRACT = validated.value;
  const owned = ownedApiFromManifest(CONTRACT, rpcRuntime);
  const used = deriveUsedApi(CONTRACT, modules, owned);
  const trellis: ApiSurfaces = {
    rpc: { ...used.rpc, ...owned.rpc },
    operations: { ...used.operations, ...owned.operations },
    events: { ...used.events, ...owned.events },
    feeds: { ...used.feeds, ...owned.feeds },
  };
  return withUse({
    CONTRACT_ID: CONTRACT.id,
    CONTRACT,
    CONTRACT_DIGEST: digestContractManifest(CONTRACT),
    API: { owned, used, trellis } as ContractModule["API"],
    DEPENDENCIES: Object.fromEntries(modules),
  });
}

type Builder<S extends SchemaRegistry, E extends ErrorRegistry, B> = (ref: ContractRefHelpers<S, E>) => B;

/** Defines a service contract: it may own RPCs, operations, events, feeds, jobs and resources. */
export function defineServiceContract<
  const S extends SchemaRegistry,
  const E extends ErrorRegistry,
  const B extends ServiceContractBody<S, E>,
>(registry: { schemas?: S; errors?: E }, build: Builder<S, E, B>): DefinedContract<S, E, B> {
  return defineContract("service", registry, build) as never;
}

/** Defines an app contract (a browser or desktop caller acting for a user). */
export function defineAppContract<const S extends SchemaRegistry, const B extends ClientContractBody<S>>(
  registry: { schemas?: S },
  build: Builder<S, Record<never, never>, B>,
): DefinedContract<S, Record<never, never>, B> {
  return defineContract("app", registry, build) as never;
}

/** Defines an agent contract (a CLI or automation caller acting for a user). */
export function defineAgentContract<const S extends SchemaRegistry, const B extends ClientContractBody<S>>(
  registry: { schemas?: S },
  build: Builder<S, Record<never, never>, B>,
): DefinedContract<S, Record<never, never>, B> {
  return defineContract("agent", registry, build) as never;
}

/** Defines a device contract (a provisioned device that calls services and publishes its own events). */
export function defineDeviceContract<const S extends SchemaRegistry, const B extends DeviceContractBody<S>>(
  registry: { schemas?: S },
  build: Builder<S, Record<never, never>, B>,
): DefinedContract<S, Record<never, never>, B> {
  return defineContract("device", registry, build) as never;
}

/** What the manifest cannot say about an RPC: whether it needs authentication, and its error classes. */
interface RpcRuntimeOptions {
  authRequired: boolean;
  runtimeErrors: Record<string, ErrorClassLike>;
}

/** Derives the owned runtime descriptors from a normalized manifest. */
function ownedApiFromManifest(
  manifest: ContractManifest,
  rpcRuntime: Record<string, RpcRuntimeOptions> = {},
): ApiSurfaces {
  const owned: ApiSurfaces = { rpc: {}, operations: {}, events: {}, feeds: {} };
  for (const [name, rpc] of Object.entries(manifest.rpc ?? {})) {
    const types = sortedUnique((rpc.errors ?? []).map((e) => e.type));
    owned.rpc[name] = {
      subject: rpc.subject,
      input: rpc.input,
      output: rpc.output,
      callerCapabilities: rpc.capabilities?.call ?? [],
      ...(rpc.transfer && { transfer: rpc.transfer }),
      authRequired: rpcRuntime[name]?.authRequired ?? true,
      internal: rpc.internal ?? false,
      errors: types.map((type) => ({ type })),
      declaredErrorTypes: types,
      runtimeErrors: rpcRuntime[name]?.runtimeErrors ?? {},
    };
  }
  for (const [name, op] of Object.entries(manifest.operations ?? {})) {
    owned.operations[name] = {
      subject: op.subject,
      controlSubject: operationControlSubject(op.subject),
      input: op.input,
      output: op.output,
      ...(op.progress && { progress: op.progress }),
      ...(op.transfer && { transfer: op.transfer }),
      ...(op.signals && {
        signals: Object.fromEntries(Object.entries(op.signals).map(([k, v]) => [k, { input: v.input }])),
      }),
      callerCapabilities: op.capabilities?.call ?? [],
      ...(op.capabilities?.observe && { observeCapabilities: op.capabilities.observe }),
      ...(op.capabilities?.cancel && { cancelCapabilities: op.capabilities.cancel }),
      ...(op.capabilities?.control && { controlCapabilities: op.capabilities.control }),
      cancel: op.cancel ?? false,
    };
  }
  for (const [name, event] of Object.entries(manifest.events ?? {})) {
    owned.events[name] = {
      subject: event.subject,
      ...(event.params && { params: event.params }),
      event: event.event,
      publishCapabilities: event.capabilities?.publish ?? [],
      subscribeCapabilities: event.capabilities?.subscribe ?? [],
    };
  }
  for (const [name, feed] of Object.entries(manifest.feeds ?? {})) {
    owned.feeds[name] = {
      subject: feed.subject,
      input: feed.input,
      event: feed.event,
      subscribeCapabilities: feed.capabilities?.subscribe ?? [],
    };
  }
  return owned;
}

/** Options of {@link contractModuleFromManifest}. */
export interface ManifestModuleOptions {
  /** Modules of the contracts it uses, by `uses` alias: they give the used API and validate it. */
  dependencies?: Readonly<Record<string, ContractModule>>;
  /** Classes of its declared errors; a declared error without one gets {@link errorClassFromManifest}'s. */
  errors?: readonly ErrorClassLike[];
}

/**
 * Builds a contract module around a validated manifest (a generated SDK or a loaded artifact). The
 * used API holds the selected surfaces of the given dependencies (none without them); RPCs that
 * declare one of the contract's own errors rebuild it as its class. RPCs require authentication.
 */
export function contractModuleFromManifest(
  manifest: ContractManifest,
  options: ManifestModuleOptions = {},
): ContractModule {
  const classes = new Map<string, ErrorClassLike>();
  for (const errorClass of options.errors ?? []) classes.set(errorClass.type, errorClass);
  for (const { type } of Object.values(manifest.errors ?? {})) {
    if (!classes.has(type)) classes.set(type, errorClassFromManifest(manifest, type));
  }
  const rpcRuntime: Record<string, RpcRuntimeOptions> = {};
  for (const [name, rpc] of Object.entries(manifest.rpc ?? {})) {
    const runtimeErrors: Record<string, ErrorClassLike> = {};
    for (const { type } of rpc.errors ?? []) {
      const errorClass = classes.get(type);
      if (errorClass) runtimeErrors[type] = errorClass;
    }
    rpcRuntime[name] = { authRequired: true, runtimeErrors };
  }
  const owned = ownedApiFromManifest(manifest, rpcRuntime);
  const modules = new Map(Object.entries(options.dependencies ?? {}));
  const uses = { ...manifest.uses?.optional, ...manifest.uses?.required };
  for (const [alias, module] of modules) {
    const use = uses[alias];
    if (!use) fail(`Contract '${manifest.id}' has no use '${alias}'`);
    if (use.contract !== module.CONTRACT_ID) {
      fail(`Contract use '${alias}' references '${use.contract}' but module id is '${module.CONTRACT_ID}'`);
    }
    const selected: [keyof ApiSurfaces, string, string[] | undefined][] = [
      ["rpc", "rpc", use.rpc?.call],
      ["operations", "operations", use.operations?.call],
      ["events", "events", use.events?.publish],
      ["events", "events", use.events?.subscribe],
      ["feeds", "feeds", use.feeds?.subscribe],
    ];
    for (const [kind, label, keys] of selected) {
      for (const key of keys ?? []) {
        if (!(key in module.API.owned[kind]))
          fail(`Contract '${module.CONTRACT_ID}' does not expose ${label} key '${key}'`);
      }
    }
  }
  const used = deriveUsedApi(manifest, modules, owned);
  const trellis: ApiSurfaces = {
    rpc: { ...used.rpc, ...owned.rpc },
    operations: { ...used.operations, ...owned.operations },
    events: { ...used.events, ...owned.events },
    feeds: { ...used.feeds, ...owned.feeds },
  };
  return withUse({
    CONTRACT_ID: manifest.id,
    CONTRACT: manifest,
    CONTRACT_DIGEST: digestContractManifest(manifest),
    API: { owned, used, trellis } as ContractModule["API"],
    DEPENDENCIES: Object.fromEntries(modules),
  });
}
