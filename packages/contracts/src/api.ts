/**
 * Runtime descriptors of a contract's surfaces (contracts spec §10, "Runtime descriptors") and the
 * type-level machinery that lets handlers and clients infer every payload type from a contract module.
 *
 * Descriptors carry phantom types in a `" types"` field that never exists at run time.
 */
import type { ErrorClassLike } from "./errors.js";
import type { ContractManifest, OperationTransfer, SchemaRef } from "./manifest.js";

/** Phantom carrier of compile-time payload types; never present at run time. */
interface Typed<T> {
  /** Compile-time only. */
  readonly " types"?: T;
}

/** Runtime descriptor of an RPC method. */
export interface RpcDescriptor<TInput = unknown, TOutput = unknown, TError extends string = string>
  extends Typed<{ input: TInput; output: TOutput; error: TError }> {
  /** Request subject. */
  subject: string;
  /** Input schema reference. */
  input: SchemaRef;
  /** Output schema reference. */
  output: SchemaRef;
  /** Capabilities a caller must hold (all of them). */
  callerCapabilities: string[];
  /** Present when the RPC issues a download grant. */
  transfer?: { direction: "receive" };
  /** Whether callers must be authenticated (default true). */
  authRequired: boolean;
  /** Hidden from client facades. */
  internal: boolean;
  /** Declared error types, as in the manifest. */
  errors: { type: string }[];
  /** Declared error type names. */
  declaredErrorTypes: string[];
  /** Classes of the contract's own declared errors, by type. */
  runtimeErrors: Record<string, ErrorClassLike>;
}

/** Runtime descriptor of an operation. */
export interface OperationDescriptor<
  TInput = unknown,
  TProgress = unknown,
  TOutput = unknown,
  TSignals extends Record<string, unknown> = Record<string, unknown>,
> extends Typed<{ input: TInput; progress: TProgress; output: TOutput; signals: TSignals }> {
  /** Start subject. */
  subject: string;
  /** Control subject (`<subject>.control`). */
  controlSubject: string;
  /** Input schema reference. */
  input: SchemaRef;
  /** Progress schema reference. */
  progress?: SchemaRef;
  /** Output schema reference. */
  output: SchemaRef;
  /** Upload description, when the operation receives bytes. */
  transfer?: OperationTransfer;
  /** Named signals and their input schemas. */
  signals?: Record<string, { input: SchemaRef }>;
  /** Capabilities needed to start the operation. */
  callerCapabilities: string[];
  /** Capabilities needed to observe it, as declared (no default applied here). */
  observeCapabilities?: string[];
  /** Capabilities needed to cancel it, as declared. */
  cancelCapabilities?: string[];
  /** Capabilities needed to send named signals, as declared. */
  controlCapabilities?: string[];
  /** Whether the operation can be cancelled. */
  cancel: boolean;
}

/** Runtime descriptor of an event. */
export interface EventRuntimeDescriptor<TEvent = unknown> extends Typed<{ event: TEvent }> {
  /** Subject template. */
  subject: string;
  /** JSON Pointers filling the subject template, in order. */
  params?: string[];
  /** Event schema reference. */
  event: SchemaRef;
  /** Capabilities needed to publish. */
  publishCapabilities: string[];
  /** Capabilities needed to subscribe. */
  subscribeCapabilities: string[];
}

/** Runtime descriptor of a feed. */
export interface FeedDescriptor<TInput = unknown, TEvent = unknown>
  extends Typed<{ input: TInput; event: TEvent }> {
  /** Request subject. */
  subject: string;
  /** Input schema reference. */
  input: SchemaRef;
  /** Frame schema reference. */
  event: SchemaRef;
  /** Capabilities needed to subscribe. */
  subscribeCapabilities: string[];
}

/** The four surface maps of an API view. */
export interface ApiSurfaces {
  /** RPC methods by logical name. */
  rpc: Record<string, RpcDescriptor>;
  /** Operations by logical name. */
  operations: Record<string, OperationDescriptor>;
  /** Events by logical name. */
  events: Record<string, EventRuntimeDescriptor>;
  /** Feeds by logical name. */
  feeds: Record<string, FeedDescriptor>;
}

/** Merges two surface views (owned surfaces win on a name clash, which definition forbids anyway). */
export type MergeSurfaces<A extends ApiSurfaces, B extends ApiSurfaces> = {
  rpc: Omit<A["rpc"], keyof B["rpc"]> & B["rpc"];
  operations: Omit<A["operations"], keyof B["operations"]> & B["operations"];
  events: Omit<A["events"], keyof B["events"]> & B["events"];
  feeds: Omit<A["feeds"], keyof B["feeds"]> & B["feeds"];
};

/** A contract's API: what it owns, what it uses, and both merged (`trellis`). */
export interface ContractApi<
  TOwned extends ApiSurfaces = ApiSurfaces,
  TUsed extends ApiSurfaces = ApiSurfaces,
> {
  /** Surfaces the contract implements. */
  owned: TOwned;
  /** Surfaces it uses from other contracts. */
  used: TUsed;
  /** Used and owned surfaces together. */
  trellis: MergeSurfaces<TUsed, TOwned>;
}

/** Which surfaces of a contract a dependent selects, typed against that contract's owned API. */
export interface UseSelection<TOwned extends ApiSurfaces = ApiSurfaces> {
  /** RPC methods to call. */
  rpc?: { call?: readonly (keyof TOwned["rpc"] & string)[] };
  /** Operations to start (and observe/cancel/signal). */
  operations?: { call?: readonly (keyof TOwned["operations"] & string)[] };
  /** Events to publish or subscribe to. */
  events?: {
    publish?: readonly (keyof TOwned["events"] & string)[];
    subscribe?: readonly (keyof TOwned["events"] & string)[];
  };
  /** Feeds to subscribe to. */
  feeds?: { subscribe?: readonly (keyof TOwned["feeds"] & string)[] };
}

/** A dependency created with `module.use(...)`: the manifest entry plus (hidden) provenance. */
export interface ContractUseRef<
  TModule extends AnyContractModule = AnyContractModule,
  TSelection = UseSelection,
> extends Typed<{ module: TModule; selection: TSelection }> {
  /** Id of the used contract. */
  contract: string;
  /** Selected RPC methods. */
  rpc?: { call?: string[] };
  /** Selected operations. */
  operations?: { call?: string[] };
  /** Selected events. */
  events?: { publish?: string[]; subscribe?: string[] };
  /** Selected feeds. */
  feeds?: { subscribe?: string[] };
}

/** A contract module: what `define*Contract` returns and what a generated SDK exports. */
export interface ContractModule<
  TId extends string = string,
  TOwned extends ApiSurfaces = ApiSurfaces,
  TUsed extends ApiSurfaces = ApiSurfaces,
> {
  /** The contract id, e.g. `orders@v1`. */
  readonly CONTRACT_ID: TId;
  /** The emitted, normalized manifest. */
  readonly CONTRACT: ContractManifest;
  /** Digest of {@link CONTRACT}. */
  readonly CONTRACT_DIGEST: string;
  /** Runtime descriptors of owned and used surfaces. */
  readonly API: ContractApi<TOwned, TUsed>;
  /** The modules this contract uses, by `uses` alias (their schemas validate used surfaces). */
  readonly DEPENDENCIES?: Readonly<Record<string, AnyContractModule>>;
  /** Declares a dependency on this contract; unknown keys are refused. */
  use<const TSelection extends UseSelection<TOwned>>(
    selection: TSelection,
  ): ContractUseRef<ContractModule<TId, TOwned, TUsed>, TSelection>;
}

/** Compile-time payload and result types of one job queue (jobs are service-private: no descriptor). */
export interface JobQueueTypes<TPayload = unknown, TCreate = TPayload, TResult = unknown> {
  /** The payload a worker receives (schema output view). */
  payload: TPayload;
  /** The payload `create` accepts (schema input view). */
  create: TCreate;
  /** The result a handler returns (`unknown` when the queue declares none). */
  result: TResult;
}

/** Phantom carrier of a defined contract's job queue types; never present at run time. */
export interface TypedJobs<TJobs> {
  /** Compile-time only. */
  readonly " jobs"?: TJobs;
}

/** The job queues of module `M` by name (any name, untyped, when the module carries no job types). */
export type ContractJobs<M> =
  M extends TypedJobs<infer J>
    ? [NonNullable<J>] extends [never]
      ? Record<string, JobQueueTypes>
      : NonNullable<J>
    : Record<string, JobQueueTypes>;

/** Any contract module. */
// biome-ignore lint/suspicious/noExplicitAny: the widest module type must accept every API shape, including use() selections.
export type AnyContractModule = ContractModule<string, any, any>;

type Field<T, F extends string> =
  T extends Typed<infer U> ? (NonNullable<U> extends { [P in F]: infer V } ? V : never) : never;
type Trellis<M extends AnyContractModule> = M["API"]["trellis"];

/** Input type of RPC `K` of module `M` (owned or used). */
export type RpcInput<M extends AnyContractModule, K extends keyof Trellis<M>["rpc"]> = Field<
  Trellis<M>["rpc"][K],
  "input"
>;
/** Output type of RPC `K` of module `M`. */
export type RpcOutput<M extends AnyContractModule, K extends keyof Trellis<M>["rpc"]> = Field<
  Trellis<M>["rpc"][K],
  "output"
>;
/** Declared error type names of RPC `K` of module `M`. */
export type RpcErrorType<M extends AnyContractModule, K extends keyof Trellis<M>["rpc"]> = Field<
  Trellis<M>["rpc"][K],
  "error"
>;
/** Input type of operation `K`. */
export type OperationInput<M extends AnyContractModule, K extends keyof Trellis<M>["operations"]> = Field<
  Trellis<M>["operations"][K],
  "input"
>;
/** Progress type of operation `K`. */
export type OperationProgress<M extends AnyContractModule, K extends keyof Trellis<M>["operations"]> = Field<
  Trellis<M>["operations"][K],
  "progress"
>;
/** Output type of operation `K`. */
export type OperationOutput<M extends AnyContractModule, K extends keyof Trellis<M>["operations"]> = Field<
  Trellis<M>["operations"][K],
  "output"
>;
/** Signal input types of operation `K`, by signal name. */
export type OperationSignals<M extends AnyContractModule, K extends keyof Trellis<M>["operations"]> = Field<
  Trellis<M>["operations"][K],
  "signals"
>;
/** Payload type of event `K`. */
export type EventPayload<M extends AnyContractModule, K extends keyof Trellis<M>["events"]> = Field<
  Trellis<M>["events"][K],
  "event"
>;
/** Input type of feed `K`. */
export type FeedInput<M extends AnyContractModule, K extends keyof Trellis<M>["feeds"]> = Field<
  Trellis<M>["feeds"][K],
  "input"
>;
/** Frame type of feed `K`. */
export type FeedEvent<M extends AnyContractModule, K extends keyof Trellis<M>["feeds"]> = Field<
  Trellis<M>["feeds"][K],
  "event"
>;
