/**
 * The typed service facade built from a contract module (runtime spec §1.2, §2, §5.1, §6):
 * `service.handle.rpc.orders.get(handler)`, `service.handle.feed.orders.live(handler)`,
 * `service.handle.operation.orders.refund(handler)` / `.control(id)`,
 * `service.event.orders.changed.listen(handler)`, `service.kv.cache`, `service.with(deps)`,
 * `service.wait()` / `service.stop()`. Handlers receive `{ input, context, client, deps }`.
 */
import type { AnyContractModule, ApiSurfaces } from "@trellis/contracts";
import { TRELLIS_SUBJECTS } from "@trellis/contracts";
import type { AsyncResult, BaseError } from "@trellis/result";
import { closeIfDown, drainOrClose } from "../connection/connection.js";
import { type EventConsumerBinding, EventConsumerGroupRunner } from "../events/consumer-group.js";
import type { EventHandler } from "../events/types.js";
import { type FeedHandler, type FeedHandlerArgs, FeedServer } from "../feeds/server.js";
import { HeartbeatPublisher } from "../health/heartbeat.js";
import { mountHealthRpc } from "../health/rpc.js";
import { ServiceHealth } from "../health/service-health.js";
import type { HeartbeatPayload } from "../health/types.js";
import { newUlid } from "../ids.js";
import type { JobsBinding } from "../jobs/model.js";
import { JobsRuntime, type ServiceJobs } from "../jobs/runtime.js";
import type { KvBinding } from "../kv/bindings.js";
import { openKvBindings } from "../kv/bindings.js";
import type { TypedKV } from "../kv/typed.js";
import type { OperationHandle } from "../operations/handle.js";
import { type OperationHandler, OperationServer } from "../operations/server.js";
import { OperationStore } from "../operations/store.js";
import type { CallerAuthenticator } from "../rpc/authenticator.js";
import { type HandlerResult, type RpcContext, RpcServer } from "../rpc/server.js";
import { resolveLogger } from "../telemetry/logger.js";
import { SchemaSet } from "../validation/schemas.js";
import { type ListenOptions, TrellisClient, type TrellisClientOptions } from "./client.js";
import { buildFacade, type Grouped } from "./naming.js";
import { type ConnectServiceOptions, connectService } from "./service-connect.js";

type TypesOf<D> = D extends { readonly " types"?: infer T } ? NonNullable<T> : never;
type Field<D, F extends string> = TypesOf<D> extends { [P in F]: infer V } ? V : never;
type Owned<M extends AnyContractModule> = M["API"]["owned"];

/** Arguments every handler receives from the facade. */
export interface HandlerExtras<M extends AnyContractModule, TDeps> {
  /** Outbound client (RPC, events, feeds) acting as the service. */
  client: TrellisClient<M>;
  /** Dependencies given to `service.with(deps)`. */
  deps: TDeps;
}

/** A typed RPC handler of descriptor `D`. */
export type ServiceRpcHandler<D, M extends AnyContractModule, TDeps> = (
  args: { input: Field<D, "input">; context: RpcContext } & HandlerExtras<M, TDeps>,
) => HandlerResult<Field<D, "output">>;

/** A typed feed handler of descriptor `D`. */
export type ServiceFeedHandler<D, M extends AnyContractModule, TDeps> = (
  args: FeedHandlerArgs<Field<D, "input">, Field<D, "event">> & HandlerExtras<M, TDeps>,
) => ReturnType<FeedHandler>;

/** The `op` handle of operation descriptor `D`. */
export type ServiceOperationHandle<D> = OperationHandle<
  Field<D, "progress">,
  Field<D, "output">,
  Field<D, "signals">
>;

/** `handle.operation.<group>.<leaf>`: mounts the handler, and `control(id)` drives one operation by id. */
export interface ServiceOperationMount<D, M extends AnyContractModule, TDeps> {
  /** Mounts the operation's handler. */
  (
    handler: OperationHandler<
      Field<D, "input">,
      Field<D, "progress">,
      Field<D, "output">,
      Field<D, "signals">,
      HandlerExtras<M, TDeps>
    >,
  ): void;
  /** A handle on operation `id` (from a job, another replica, after a restart); never re-runs the handler. */
  control(id: string): AsyncResult<ServiceOperationHandle<D>, BaseError>;
}

/** `handle.rpc.<group>.<leaf>(handler)`, `handle.feed.…` and `handle.operation.…`. */
export interface ServiceHandles<M extends AnyContractModule, TDeps> {
  /** Mounts RPC handlers. */
  rpc: Grouped<{
    [K in keyof Owned<M>["rpc"]]: (handler: ServiceRpcHandler<Owned<M>["rpc"][K], M, TDeps>) => void;
  }>;
  /** Mounts feed handlers. */
  feed: Grouped<{
    [K in keyof Owned<M>["feeds"]]: (handler: ServiceFeedHandler<Owned<M>["feeds"][K], M, TDeps>) => void;
  }>;
  /** Mounts operation handlers and opens operations by id. */
  operation: Grouped<{
    [K in keyof Owned<M>["operations"]]: ServiceOperationMount<Owned<M>["operations"][K], M, TDeps>;
  }>;
}

/** Options of a service listener. */
export interface ServiceListenOptions extends ListenOptions {
  /** `ephemeral` forces a live listener; by default an event of an `eventConsumers` group is durable. */
  mode?: "durable" | "ephemeral";
  /** The group, when the event belongs to several. */
  group?: string;
}

type Trellis<M extends AnyContractModule> = M["API"]["trellis"];

/** `event.<group>.<leaf>.listen(handler, options)`. */
export type ServiceEvents<M extends AnyContractModule> = Grouped<{
  [K in keyof Trellis<M>["events"]]: {
    listen(
      handler: EventHandler<Field<Trellis<M>["events"][K], "event">>,
      options?: ServiceListenOptions,
    ): void;
  };
}>;

/** Where the platform placed the service's resources (from bootstrap, or given directly). */
export interface ServiceBindings {
  /** KV buckets by `resources.kv` alias. */
  kv?: Readonly<Record<string, KvBinding>>;
  /** Durable consumers by `eventConsumers` group. */
  eventConsumers?: Readonly<Record<string, EventConsumerBinding>>;
  /** The deployment's operations bucket (for contracts that declare operations). */
  operations?: { bucket: string };
  /** The deployment's job queues. */
  jobs?: JobsBinding;
}

/** Options of {@link TrellisService.open}. */
export interface TrellisServiceOptions<M extends AnyContractModule> extends TrellisClientOptions<M> {
  /** Service name: queue group, health name, error context. */
  name: string;
  /** Authenticates inbound requests. */
  authenticator: CallerAuthenticator;
  /** Resource bindings. */
  bindings?: ServiceBindings;
  /** Most requests handled at once per surface (default 256). */
  maxConcurrent?: number;
  /** Heartbeat settings; `false` disables heartbeats. */
  heartbeat?: { publishIntervalMs?: number } | false;
  /** Job workers: how long `stop()` lets running jobs finish (default 30 000 ms) and the presence period (default 10 000 ms). */
  jobs?: { shutdownGraceMs?: number; presenceIntervalMs?: number };
  /**
   * Whether the service owns `nc` (default `true`): `stop()` then drains it. `false` lets several
   * services share one connection (the control plane serves every built-in contract on one).
   */
  ownsConnection?: boolean;
}

interface Shared<M extends AnyContractModule> {
  options: TrellisServiceOptions<M>;
  client: TrellisClient<M>;
  rpcServer: RpcServer;
  feedServer: FeedServer<M>;
  operationServer: OperationServer | undefined;
}

function makeHandles<M extends AnyContractModule, TDeps>(
  shared: Shared<M>,
  deps: TDeps,
): ServiceHandles<M, TDeps> {
  const owned: ApiSurfaces = shared.options.contract.API.owned;
  const extras = { client: shared.client, deps };
  return {
    rpc: buildFacade(
      Object.keys(owned.rpc),
      (key) => (handler: (args: object) => HandlerResult<unknown>) =>
        shared.rpcServer.mount(key, handler, extras),
    ) as ServiceHandles<M, TDeps>["rpc"],
    feed: buildFacade(
      Object.keys(owned.feeds),
      (key) => (handler: (args: object) => unknown) =>
        shared.feedServer.mount(key as never, ((args: object) => handler({ ...args, ...extras })) as never),
    ) as ServiceHandles<M, TDeps>["feed"],
    operation: buildFacade(Object.keys(owned.operations), (key) =>
      Object.assign(
        (handler: OperationHandler<unknown, unknown, unknown, Record<string, unknown>, typeof extras>) =>
          operationServerOf(shared, key).mount(key, handler, extras),
        { control: (id: string) => operationServerOf(shared, key).controlHandle(key, id) },
      ),
    ) as ServiceHandles<M, TDeps>["operation"],
  };
}

/** The operation server, or a clear error when the service has no operations bucket. */
function operationServerOf<M extends AnyContractModule>(
  shared: Shared<M>,
  operation: string,
): OperationServer {
  if (shared.operationServer) return shared.operationServer;
  throw new Error(`Operation '${operation}' has no operations binding; was the deployment reconciled?`);
}

/**
 * The operations bucket of a contract that declares operations, with its watch running; `undefined`
 * without operations or without a binding (mounting an operation then fails).
 */
async function openOperationStore<M extends AnyContractModule>(
  options: TrellisServiceOptions<M>,
): Promise<OperationStore | undefined> {
  const bucket = options.bindings?.operations?.bucket;
  if (bucket === undefined || Object.keys(options.contract.API.owned.operations).length === 0)
    return undefined;
  const logger = resolveLogger(options.logger, { service: options.name });
  const store = await OperationStore.open(options.nc, bucket, logger);
  if (store.isErr()) throw store.error;
  const started = await store.value.start();
  if (started.isErr()) {
    await store.value.stop();
    throw started.error;
  }
  return store.value;
}

/** A running service: its handlers, listeners, resources, health and outbound client. */
export class TrellisService<M extends AnyContractModule> {
  /** Mounts handlers (no dependencies). */
  readonly handle: ServiceHandles<M, undefined>;
  /** Registers event listeners. */
  readonly event: ServiceEvents<M>;
  /** The outbound client acting as this service. */
  readonly client: TrellisClient<M>;
  /** Health checks and info. */
  readonly health: ServiceHealth;
  /** The contract's job queues: `jobs.<queue>.create(payload)`, `.ref(id)`, `.handle(handler)`. */
  readonly jobs: ServiceJobs<M, TrellisClient<M>, undefined>;
  private readonly jobsRuntime: JobsRuntime<M>;
  private readonly shared: Shared<M>;
  private readonly groups = new Map<string, EventConsumerGroupRunner>();
  private readonly stoppers: (() => Promise<void>)[] = [];
  private heartbeat?: HeartbeatPublisher;
  private stopping?: Promise<void>;

  private constructor(
    private readonly options: TrellisServiceOptions<M>,
    /** KV resources by alias. */
    readonly kv: Readonly<Record<string, TypedKV>>,
    operations: OperationStore | undefined,
  ) {
    this.client = TrellisClient.open(options);
    const common = {
      nc: options.nc,
      contract: options.contract,
      schemas: this.client.schemas.own,
      authenticator: options.authenticator,
      serviceName: options.name,
      logger: this.client.logger,
      ...(options.metrics && { metrics: options.metrics }),
    };
    const rpcServer = new RpcServer({
      ...common,
      ...(options.maxConcurrent && { maxConcurrent: options.maxConcurrent }),
    });
    const feedServer = new FeedServer<M>(common);
    const operationServer =
      operations &&
      new OperationServer({
        ...common,
        store: operations,
        ...(options.maxConcurrent && { maxConcurrent: options.maxConcurrent }),
      });
    this.shared = { options, client: this.client, rpcServer, feedServer, operationServer };
    this.handle = makeHandles(this.shared, undefined);
    this.jobsRuntime = new JobsRuntime({
      nc: options.nc,
      contract: options.contract,
      ...(options.bindings?.jobs && { binding: options.bindings.jobs }),
      schemas: this.client.schemas.own,
      logger: this.client.logger,
      ...(options.metrics && { metrics: options.metrics }),
      ...options.jobs,
    });
    this.jobs = this.jobsRuntime.facade(this.client, undefined);
    this.stoppers.push(() => this.jobsRuntime.stop());
    this.health = new ServiceHealth({
      service: options.name,
      contractId: options.contract.CONTRACT_ID,
      contractDigest: options.contract.CONTRACT_DIGEST,
      nc: options.nc,
    });
    mountHealthRpc(rpcServer, options.contract, options.name, this.health);
    const events: Record<string, unknown> = options.contract.API.trellis.events;
    this.event = buildFacade(Object.keys(events), (key) => ({
      listen: (handler: EventHandler<unknown>, listenOptions: ServiceListenOptions = {}) =>
        this.listen(key, handler, listenOptions),
    })) as ServiceEvents<M>;
    this.stoppers.push(
      () => rpcServer.stop(),
      () => feedServer.stop(),
      async () => operationServer?.stop(),
    );
  }

  /** Bootstraps through the control plane, connects to NATS and opens the service (runtime spec §6.1). */
  static connect<M extends AnyContractModule>(options: ConnectServiceOptions<M>): Promise<TrellisService<M>> {
    return connectService(options);
  }

  /** Opens the service on an existing connection: binds its KV resources and mounts its health RPC. */
  static async open<M extends AnyContractModule>(
    options: TrellisServiceOptions<M>,
  ): Promise<TrellisService<M>> {
    const kv = await openKvBindings(
      options.nc,
      options.contract,
      SchemaSet.of(options.contract.CONTRACT),
      options.bindings?.kv ?? {},
    );
    if (kv.isErr()) throw kv.error;
    const operations = await openOperationStore(options);
    return new TrellisService(options, kv.value, operations);
  }

  /** Runs `stopper` when the service stops, before the connection is drained. */
  onStop(stopper: () => void | Promise<void>): void {
    this.stoppers.push(async () => stopper());
  }

  /** Handles whose handlers also receive `deps`. */
  with<TDeps>(deps: TDeps): {
    handle: ServiceHandles<M, TDeps>;
    jobs: ServiceJobs<M, TrellisClient<M>, TDeps>;
  } {
    return { handle: makeHandles(this.shared, deps), jobs: this.jobsRuntime.facade(this.client, deps) };
  }

  private groupsOf(event: string): string[] {
    const declared = this.options.contract.CONTRACT.eventConsumers ?? {};
    return Object.entries(declared)
      .filter(
        ([, group]) =>
          (group.self ?? []).includes(event) ||
          Object.values(group.uses ?? {}).some((list) => list.includes(event)),
      )
      .map(([name]) => name);
  }

  private listen(event: string, handler: EventHandler<unknown>, options: ServiceListenOptions): void {
    const groups = this.groupsOf(event);
    if (options.mode === "ephemeral" || groups.length === 0) {
      if (options.mode === "durable") {
        throw new Error(
          `Event '${event}' is in no eventConsumers group of '${this.options.contract.CONTRACT_ID}'`,
        );
      }
      const pending = this.client.listenEvent(event, handler, options);
      this.stoppers.push(async () => (await pending).stop());
      return;
    }
    const group = options.group ?? (groups.length === 1 ? groups[0] : undefined);
    if (!group || !groups.includes(group)) {
      throw new Error(
        `Event '${event}' belongs to groups ${groups.join(", ")}: pass { group } to choose one`,
      );
    }
    this.runner(group).register(event as never, handler as never);
  }

  private runner(group: string): EventConsumerGroupRunner {
    let runner = this.groups.get(group);
    if (runner) return runner;
    const binding = this.options.bindings?.eventConsumers?.[group];
    if (!binding)
      throw new Error(`Event consumer group '${group}' has no binding; was the deployment reconciled?`);
    const dependencySchemas = Object.fromEntries(
      Object.entries(this.options.contract.DEPENDENCIES ?? {}).map(([alias, module]) => [
        alias,
        SchemaSet.of(module.CONTRACT),
      ]),
    );
    runner = new EventConsumerGroupRunner({
      js: this.client.js,
      contract: this.options.contract,
      group,
      binding,
      schemas: this.client.schemas.own,
      dependencySchemas,
      logger: this.client.logger,
      ...(this.options.metrics && { metrics: this.options.metrics }),
    });
    this.groups.set(group, runner);
    this.stoppers.push(() => (runner as EventConsumerGroupRunner).stop());
    return runner;
  }

  /** Starts event consumer groups, job workers and heartbeats; resolves once everything is running. */
  async start(): Promise<void> {
    for (const [group, runner] of this.groups) {
      const started = await runner.start();
      if (started.isErr())
        throw new Error(`Event consumer group '${group}' cannot start: ${started.error.message}`);
    }
    await this.jobsRuntime.start();
    if (this.options.heartbeat !== false && !this.heartbeat) {
      this.heartbeat = new HeartbeatPublisher({
        health: this.health,
        publish: (payload) => this.publishHeartbeat(payload),
        logger: this.client.logger,
        ...(this.options.heartbeat?.publishIntervalMs && {
          publishIntervalMs: this.options.heartbeat.publishIntervalMs,
        }),
      });
      await this.heartbeat.start();
    }
    // Once start() resolves, the server knows every handler's subscription: a request sent right
    // after cannot miss it.
    await this.options.nc.flush();
  }

  /** Publishes a heartbeat on the baseline subject with a header and a de-duplication id. */
  private async publishHeartbeat(payload: HeartbeatPayload): Promise<void> {
    const header = { id: newUlid(), time: new Date().toISOString() };
    const body = new TextEncoder().encode(JSON.stringify({ ...payload, header }));
    await this.client.js.publish(TRELLIS_SUBJECTS.healthHeartbeat, body, { msgID: header.id });
  }

  /** Starts everything, then resolves when the connection closes (and the service has stopped). */
  async wait(): Promise<void> {
    await this.start();
    await this.options.nc.closed();
    await this.stop();
  }

  /**
   * Stops heartbeats, listeners and handlers, then drains the connection unless the service does not
   * own it (`ownsConnection: false`). Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.heartbeat?.stop();
      // With the server gone, draining the subscriptions could only wait for reconnect attempts.
      if (this.options.ownsConnection !== false) await closeIfDown(this.options.nc);
      await Promise.allSettled(this.stoppers.map((stop) => stop()));
      if (this.options.ownsConnection !== false) await drainOrClose(this.options.nc);
    })();
    return this.stopping;
  }
}
