/**
 * The typed client facade built from a contract module (runtime spec §1, §1.3, §2):
 * `client.rpc.orders.get(input)`, `client.event.orders.changed.publish(data)` / `.listen(handler)`,
 * `client.feed.orders.live(input)`, `client.operation.orders.refund.start(input)` — every type inferred
 * from the module, no code generation.
 */
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type {
  AnyContractModule,
  EventRuntimeDescriptor,
  FeedDescriptor,
  OperationDescriptor,
  RpcDescriptor,
} from "@trellis/contracts";
import type { AsyncResult, BaseError, Result } from "@trellis/result";
import { ServerClock } from "../auth/clock.js";
import type { TransportError, ValidationError } from "../errors/errors.js";
import { type EphemeralEventListener, listenEphemeral } from "../events/ephemeral.js";
import { type EventPublishAck, EventPublisher } from "../events/publisher.js";
import type { EventHandler, PreparedEvent } from "../events/types.js";
import { type FeedSubscription, subscribeFeed } from "../feeds/client.js";
import { OperationCaller } from "../operations/client.js";
import { type RequestOptions, RpcClient } from "../rpc/client.js";
import { RequestSigner } from "../rpc/signer.js";
import { type Logger, type LoggerOption, resolveLogger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { type ConnectClientOptions, connectClient } from "./connect.js";
import { buildFacade, type Grouped } from "./naming.js";
import { SurfaceSchemas } from "./surfaces.js";

type TypesOf<D> = D extends { readonly " types"?: infer T } ? NonNullable<T> : never;
type Field<D, F extends string> = TypesOf<D> extends { [P in F]: infer V } ? V : never;

/** Calls one RPC. */
export type RpcCall<D> = (
  input: Field<D, "input">,
  options?: RequestOptions,
) => AsyncResult<Field<D, "output">, BaseError>;

/** The payload of an event without its runtime-added header. */
export type EventData<D> = Omit<Field<D, "event">, "header">;

/** Options of an event listener. */
export interface ListenOptions {
  /** Values filling the subject template; missing ones become wildcards. */
  subjectData?: Readonly<Record<string, unknown>>;
  /** Stops listening when aborted. */
  signal?: AbortSignal;
}

/** Publishes, prepares and listens to one event. */
export interface EventFacade<D> {
  /** Publishes with a JetStream ack. */
  publish(data: EventData<D>): AsyncResult<EventPublishAck, ValidationError | TransportError>;
  /** Validates and prepares an event for an outbox or a later `publishPrepared`. */
  prepare(data: EventData<D>): Result<PreparedEvent<Field<D, "event">>, ValidationError>;
  /** Listens live (ephemeral, core NATS). */
  listen(handler: EventHandler<Field<D, "event">>, options?: ListenOptions): Promise<EphemeralEventListener>;
}

/** Subscribes to one feed. */
export type FeedCall<D> = (
  input: Field<D, "input">,
  options?: { timeoutMs?: number; signal?: AbortSignal },
) => AsyncResult<FeedSubscription<Field<D, "event">>, BaseError>;

type Trellis<M extends AnyContractModule> = M["API"]["trellis"];

/** Starts, resumes and builds calls of operation descriptor `D`. */
export type OperationCallerOf<D> = OperationCaller<
  Field<D, "input">,
  Field<D, "progress">,
  Field<D, "output">,
  Field<D, "signals">
>;

/** The typed client of contract module `M`. */
export interface TrellisClientFacade<M extends AnyContractModule> {
  /** RPC methods, grouped: `rpc.orders.get(input)`. */
  rpc: Grouped<{ [K in keyof Trellis<M>["rpc"]]: RpcCall<Trellis<M>["rpc"][K]> }>;
  /** Events, grouped: `event.orders.changed.publish(data)`. */
  event: Grouped<{ [K in keyof Trellis<M>["events"]]: EventFacade<Trellis<M>["events"][K]> }>;
  /** Feeds, grouped: `feed.orders.live(input)`. */
  feed: Grouped<{ [K in keyof Trellis<M>["feeds"]]: FeedCall<Trellis<M>["feeds"][K]> }>;
  /** Operations, grouped: `operation.orders.refund.start(input)`, `.resume(ref)`, `.input(x)…start()`. */
  operation: Grouped<{
    [K in keyof Trellis<M>["operations"]]: OperationCallerOf<Trellis<M>["operations"][K]>;
  }>;
}

/** Options of {@link TrellisClient.open}. */
export interface TrellisClientOptions<M extends AnyContractModule> {
  /** An open NATS connection whose inbox prefix is `_INBOX.<sessionKey[0:16]>`. */
  nc: NatsConnection;
  /** The caller's contract module. */
  contract: M;
  /** The caller's session key seed. */
  sessionKeySeed: string;
  /** Server-corrected clock (default: the local clock). */
  clock?: ServerClock;
  /** Default RPC timeout, ms. */
  timeoutMs?: number;
  /** Logging (`false` silences). */
  logger?: LoggerOption;
  /** Metrics sink. */
  metrics?: Metrics;
}

/** A participant's outbound side: signed RPCs, events and feeds, typed by its contract. */
export class TrellisClient<M extends AnyContractModule> implements TrellisClientFacade<M> {
  readonly rpc: TrellisClientFacade<M>["rpc"];
  readonly event: TrellisClientFacade<M>["event"];
  readonly feed: TrellisClientFacade<M>["feed"];
  readonly operation: TrellisClientFacade<M>["operation"];
  /** The caller's session key. */
  readonly sessionKey: string;
  /** The connection. */
  readonly nc: NatsConnection;
  /** The JetStream client used for event publishes. */
  readonly js: JetStreamClient;
  /** The logger. */
  readonly logger: Logger;
  /** Schema sets per surface. */
  readonly schemas: SurfaceSchemas;
  /** The low-level RPC client. */
  readonly rpcClient: RpcClient;
  private readonly signer: RequestSigner;
  private readonly publishers = new Map<string, EventPublisher>();

  private constructor(private readonly options: TrellisClientOptions<M>) {
    const clock = options.clock ?? new ServerClock();
    this.nc = options.nc;
    this.js = jetstream(options.nc);
    this.logger = resolveLogger(options.logger, { contract: options.contract.CONTRACT_ID });
    this.schemas = new SurfaceSchemas(options.contract);
    this.signer = new RequestSigner(options.sessionKeySeed, clock);
    this.sessionKey = this.signer.sessionKey;
    this.rpcClient = new RpcClient({
      nc: options.nc,
      seed: options.sessionKeySeed,
      clock,
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
      ...(options.metrics && { metrics: options.metrics }),
    });
    const api = options.contract.API.trellis;
    const rpc: Record<string, RpcDescriptor> = api.rpc;
    const events: Record<string, EventRuntimeDescriptor> = api.events;
    const feeds: Record<string, FeedDescriptor> = api.feeds;
    const publicRpc = Object.keys(rpc).filter((key) => rpc[key]?.internal !== true);
    this.rpc = buildFacade(publicRpc, (key) => this.rpcCall(key, rpc[key] as RpcDescriptor)) as this["rpc"];
    this.event = buildFacade(Object.keys(events), (key) => this.eventFacade(key)) as this["event"];
    this.feed = buildFacade(Object.keys(feeds), (key) =>
      this.feedCall(key, feeds[key] as FeedDescriptor),
    ) as this["feed"];
    const operations: Record<string, OperationDescriptor> = api.operations;
    const operationContext = {
      nc: options.nc,
      signer: this.signer,
      rpc: this.rpcClient,
      logger: this.logger,
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    };
    this.operation = buildFacade(
      Object.keys(operations),
      (key) =>
        new OperationCaller(
          operationContext,
          key,
          operations[key] as OperationDescriptor,
          this.schemas.for("operations", key),
        ),
    ) as this["operation"];
  }

  /** Signs in through the control plane when needed and connects through the auth callout. */
  static connect<M extends AnyContractModule>(
    options: ConnectClientOptions<M>,
  ): Promise<TrellisClient<M> & { sessionKeySeed: string }> {
    return connectClient(options);
  }

  /** A typed client of `contract` over an open connection. */
  static open<M extends AnyContractModule>(options: TrellisClientOptions<M>): TrellisClient<M> {
    return new TrellisClient(options);
  }

  private rpcCall(key: string, descriptor: RpcDescriptor) {
    const schemas = this.schemas.for("rpc", key);
    return (input: unknown, options?: RequestOptions) =>
      this.rpcClient.request(key, descriptor, schemas, input, options);
  }

  /** The publisher of events owned by the module that declares `key`. */
  private publisherFor(key: string): EventPublisher {
    const schemas = this.schemas.for("events", key);
    const owner = this.ownerOf(key);
    let publisher = this.publishers.get(owner.CONTRACT_DIGEST);
    if (!publisher) {
      publisher = new EventPublisher({
        js: this.js,
        contract: owner,
        schemas,
        logger: this.logger,
        ...(this.options.metrics && { metrics: this.options.metrics }),
      });
      this.publishers.set(owner.CONTRACT_DIGEST, publisher);
    }
    return publisher;
  }

  private ownerOf(key: string): AnyContractModule {
    const contract = this.options.contract;
    if (key in contract.API.owned.events) return contract;
    const owner = Object.values(contract.DEPENDENCIES ?? {}).find((module) => key in module.API.owned.events);
    if (!owner) throw new Error(`Contract '${contract.CONTRACT_ID}' has no event '${key}'`);
    return owner;
  }

  private eventFacade(key: string) {
    return {
      publish: (data: object) => this.publisherFor(key).publish(key, data as never),
      prepare: (data: object) => this.publisherFor(key).prepare(key, data as never),
      listen: (handler: EventHandler<unknown>, options: ListenOptions = {}) =>
        this.listenEvent(key, handler, options),
    };
  }

  /** Listens live (ephemeral) to event `key`, owned or used, by its logical name. */
  listenEvent(
    key: string,
    handler: EventHandler<unknown>,
    options: ListenOptions = {},
  ): Promise<EphemeralEventListener> {
    return listenEphemeral(this.nc, {
      contract: this.ownerOf(key),
      schemas: this.schemas.for("events", key),
      eventName: key as never,
      handler: handler as never,
      logger: this.logger,
      ...(options.subjectData && { subjectData: options.subjectData }),
      ...(options.signal && { signal: options.signal }),
      ...(this.options.metrics && { metrics: this.options.metrics }),
    });
  }

  private feedCall(key: string, descriptor: FeedDescriptor) {
    const schemas = this.schemas.for("feeds", key);
    return (input: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}) =>
      subscribeFeed({
        nc: this.nc,
        signer: this.signer,
        name: key,
        descriptor,
        schemas,
        input,
        ...options,
        ...(this.options.metrics && { metrics: this.options.metrics }),
      });
  }
}
