/**
 * The reconciler (design/authority.md, "Reconciliation"): converges a deployment onto its stored
 * desired state. It computes the resource bindings and grants first (pure), refuses when a required
 * `uses` dependency does not resolve, then creates or adopts the NATS objects, and finally stores the
 * materialized authority — `current` for the desired version it read, or `failed` with the error.
 * Running it again with nothing changed changes nothing, so it is safe to repeat after a crash.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type ContractManifest,
  type ContractResolver,
  canonicalizeJson,
  EVENTS_STREAM,
  EventConsumerGroupSchema,
  type JobQueue,
  JobQueueSchema,
  KvResourceSchema,
  templateToWildcard,
  type UnresolvedUse,
} from "@trellis/contracts";
import { BaseError } from "@trellis/result";
import type { Logger } from "@trellis/runtime";
import {
  AuthorityNotFoundError,
  type DesiredState,
  type ResourceNeed,
} from "../store/authority-repository.js";
import { iso } from "../store/codec.js";
import { EMPTY_GRANTS } from "../store/materialized-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import { type ActiveManifest, materializeGrants } from "./grants.js";
import { JetStreamJobQueues } from "./job-queues.js";
import { declaresOperations, operationsKvBinding } from "./operations-bucket.js";
import { desiredSurfaces } from "./proposal.js";
import type { MaterializedAuthorityView, Reconciler, ResourceBindings } from "./reconciler.js";
import {
  type EventConsumerBinding,
  ensureEventConsumer,
  ensureKvBucket,
  eventConsumerBinding,
  type JobQueueReconciler,
  type KvBinding,
  kvBinding,
} from "./resources.js";

/** The desired state cannot be materialized as it is; the message says why. */
export class MaterializationError extends BaseError {}

/** Options of {@link DeploymentReconciler}. */
export interface DeploymentReconcilerOptions {
  /** The store (desired state, active contracts, materialized authority). */
  store: ControlPlaneStore;
  /** A TRELLIS-account connection: buckets and consumers are created there. */
  nc: NatsConnection;
  /** A snapshot of the catalog (builtin contracts ∪ active digests of enabled deployments). */
  catalog: () => ContractResolver;
  /** JetStream replicas of created buckets (default 1). */
  replicas?: number;
  /** Job queues (default {@link JetStreamJobQueues} on `nc`). */
  jobQueues?: JobQueueReconciler;
  /** Logger. */
  logger: Logger;
  /** Clock. */
  now?: () => Date;
}

/** What the pure part of a reconciliation computed. */
interface Plan {
  bindings: ResourceBindings;
  kv: KvBinding[];
  eventConsumers: EventConsumerBinding[];
  queues: Record<string, JobQueue>;
  contracts: ActiveManifest[];
}

function unresolvedMessage(use: UnresolvedUse): string {
  if (use.reason === "unknown") {
    return `Dependency '${use.alias}' references inactive contract '${use.contractId}'`;
  }
  return `Dependency '${use.alias}' references missing ${use.surface?.kind} '${use.surface?.name}' on '${use.contractId}'`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The `uses` alias of a manifest (required wins over optional). */
function useOf(manifest: ContractManifest, alias: string) {
  const required = manifest.uses?.required?.[alias];
  if (required) return { use: required, optional: false };
  const optional = manifest.uses?.optional?.[alias];
  return optional ? { use: optional, optional: true } : undefined;
}

/** Reconciles deployments against the store and NATS. */
export class DeploymentReconciler implements Reconciler {
  /** The last reconciliation of each deployment: runs of one deployment never overlap. */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly now: () => Date;
  private readonly jobQueues: JobQueueReconciler;

  constructor(private readonly options: DeploymentReconcilerOptions) {
    this.now = options.now ?? (() => new Date());
    this.jobQueues =
      options.jobQueues ??
      new JetStreamJobQueues({
        nc: options.nc,
        ...(options.replicas !== undefined && { replicas: options.replicas }),
      });
  }

  /**
   * Reconciles one deployment (after any run of it already in progress). Rejects with
   * `AuthorityNotFoundError` when the deployment does not exist; every other problem is stored and
   * returned as a `failed` materialization.
   */
  reconcile(deploymentId: string): Promise<MaterializedAuthorityView> {
    const previous = this.running.get(deploymentId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.run(deploymentId));
    this.running.set(deploymentId, next);
    void next
      .catch(() => undefined)
      .finally(() => {
        if (this.running.get(deploymentId) === next) this.running.delete(deploymentId);
      });
    return next;
  }

  async reconcileDependentsOf(contractId: string): Promise<void> {
    for (const deploymentId of this.deploymentIds()) {
      const authority = this.options.store.authorities.get(deploymentId);
      const deployment = this.options.store.serviceDeployments.get(deploymentId);
      if (!authority || authority.disabled || !deployment || deployment.disabled) continue;
      if (!authority.desiredState.needs.contracts.some((need) => need.contractId === contractId)) continue;
      await this.reconcile(deploymentId).catch((error: unknown) =>
        this.options.logger.warn({ err: error, deploymentId }, "Reconciling a dependent deployment failed"),
      );
    }
  }

  private deploymentIds(): string[] {
    const ids: string[] = [];
    for (let offset = 0; ; ) {
      const page = this.options.store.authorities.list({ offset, limit: 500 });
      ids.push(...page.entries.map((entry) => entry.deploymentId));
      if (page.nextOffset === undefined) return ids;
      offset = page.nextOffset;
    }
  }

  private async run(deploymentId: string): Promise<MaterializedAuthorityView> {
    const { store, logger } = this.options;
    const authority = store.authorities.ensure(deploymentId);
    if (authority === undefined) throw new AuthorityNotFoundError(deploymentId);
    const version = authority.version;
    let previous = store.materialized.get(deploymentId);
    // A version never materialized is `pending` while its resources are being created.
    if (previous?.desiredVersion !== version)
      previous = store.materialized.markPending(deploymentId, version);
    let view: MaterializedAuthorityView;
    try {
      const plan = this.plan(deploymentId, authority.desiredState);
      const resolver = this.options.catalog();
      const jobs =
        Object.keys(plan.queues).length === 0
          ? undefined
          : await this.jobQueues.reconcile(deploymentId, plan.queues);
      if (jobs) plan.bindings.jobs = jobs.binding;
      const { grants, unresolved } = materializeGrants({
        contracts: plan.contracts,
        resolveContract: resolver,
        capabilities: authority.desiredState.capabilities,
        surfaces: desiredSurfaces(authority.desiredState),
        resourceBindings: plan.bindings,
        jobsPublish: jobs?.publish ?? [],
        jobsSubscribe: jobs?.subscribe ?? [],
      });
      const blocking = unresolved.filter((use) => !use.optional);
      if (blocking.length > 0) throw new MaterializationError(blocking.map(unresolvedMessage).join("; "));
      await this.ensureObjects(deploymentId, plan);
      view = {
        deploymentId,
        desiredVersion: version,
        status: "current",
        grants,
        resourceBindings: plan.bindings,
        reconciledAt: iso(this.now()),
      };
    } catch (error) {
      logger.warn({ err: error, deploymentId }, "Deployment reconciliation failed");
      view = {
        deploymentId,
        desiredVersion: version,
        status: "failed",
        grants: previous?.grants ?? EMPTY_GRANTS,
        resourceBindings: previous?.resourceBindings ?? {},
        reconciledAt: iso(this.now()),
        error: describe(error),
      };
    }
    // A newer desired state accepted meanwhile wins: its own reconciliation follows this one.
    return store.transaction(() => {
      const latest = store.authorities.get(deploymentId);
      if (latest?.version !== version) return store.materialized.get(deploymentId) ?? view;
      return store.materialized.put(view);
    });
  }

  /** Bindings, event subjects and active manifests of the desired state (pure; throws what is wrong). */
  private plan(deploymentId: string, desired: DesiredState): Plan {
    const { store } = this.options;
    const contracts: ActiveManifest[] = store.authorities.listActiveContracts(deploymentId).map((active) => {
      const stored = store.contracts.get(active.contractDigest);
      if (!stored) {
        throw new MaterializationError(
          `Active contract '${active.contractId}' digest '${active.contractDigest}' is not stored`,
        );
      }
      return { digest: active.contractDigest, manifest: stored.manifest };
    });
    const resolver = this.options.catalog();
    const plan: Plan = { bindings: {}, kv: [], eventConsumers: [], queues: {}, contracts };
    for (const resource of uniqueResources(desired)) {
      const label = `${resource.kind} resource '${resource.alias}'`;
      switch (resource.kind) {
        case "kv": {
          const definition = parseDefinition(KvResourceSchema, resource, label);
          const binding = kvBinding(deploymentId, resource.alias, definition);
          plan.kv.push(binding);
          plan.bindings.kv = { ...plan.bindings.kv, [resource.alias]: binding };
          break;
        }
        case "event-consumer": {
          const definition = parseDefinition(EventConsumerGroupSchema, resource, label);
          const subjects = eventConsumerSubjects(resource.alias, contracts, resolver);
          if (subjects.length === 0) break;
          const binding = eventConsumerBinding(
            deploymentId,
            resource.alias,
            definition,
            subjects,
            EVENTS_STREAM,
          );
          plan.eventConsumers.push(binding);
          plan.bindings.eventConsumers = { ...plan.bindings.eventConsumers, [resource.alias]: binding };
          break;
        }
        case "jobs":
          plan.queues[resource.alias] = parseDefinition(JobQueueSchema, resource, label);
          break;
        default:
          throw new MaterializationError(
            `The ${label} cannot be materialized: ${resource.kind} resources are not supported yet`,
          );
      }
    }
    if (declaresOperations(contracts.map(({ manifest }) => manifest))) {
      const binding = operationsKvBinding(deploymentId);
      plan.kv.push(binding);
      plan.bindings.operations = { bucket: binding.bucket };
    }
    return plan;
  }

  private async ensureObjects(deploymentId: string, plan: Plan): Promise<void> {
    if (plan.kv.length === 0 && plan.eventConsumers.length === 0) return;
    const jsm = await jetstreamManager(this.options.nc);
    for (const binding of plan.kv) {
      await ensureKvBucket(this.options.nc, jsm, deploymentId, binding, this.options.replicas ?? 1);
    }
    for (const binding of plan.eventConsumers) await ensureEventConsumer(jsm, deploymentId, binding);
  }
}

/** The desired resources, one per kind and alias; two different definitions of one alias are refused. */
function uniqueResources(desired: DesiredState): ResourceNeed[] {
  const byAlias = new Map<string, ResourceNeed>();
  for (const resource of [...desired.needs.resources, ...desired.resources]) {
    const key = `${resource.kind}:${resource.alias}`;
    const existing = byAlias.get(key);
    if (existing && canonicalizeJson(existing.definition) !== canonicalizeJson(resource.definition)) {
      throw new MaterializationError(
        `The desired state defines ${resource.kind} resource '${resource.alias}' twice, differently`,
      );
    }
    byAlias.set(key, resource);
  }
  return [...byAlias.values()].sort((a, b) => {
    const ka = `${a.kind}:${a.alias}`;
    const kb = `${b.kind}:${b.alias}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

function parseDefinition<T>(
  schema: { safeParse(value: unknown): { success: true; data: T } | { success: false; error: Error } },
  resource: ResourceNeed,
  label: string,
): T {
  const parsed = schema.safeParse(resource.definition);
  if (!parsed.success) {
    throw new MaterializationError(`The ${label} has an invalid definition: ${parsed.error.message}`);
  }
  return parsed.data;
}

/**
 * The filter subjects of an event consumer group, from the active contract declaring it: `self`
 * events are its own, `uses.<alias>` events are resolved through the catalog. Events that do not
 * resolve are skipped here: a required alias that does not resolve fails the whole reconciliation
 * through the grants (every group event is in its alias's `events.subscribe`).
 */
function eventConsumerSubjects(
  group: string,
  contracts: readonly ActiveManifest[],
  resolver: ContractResolver,
): string[] {
  const declaring = contracts.find(
    ({ manifest }) => manifest.eventConsumers?.[group] !== undefined,
  )?.manifest;
  const definition = declaring?.eventConsumers?.[group];
  if (!declaring || !definition) {
    throw new MaterializationError(`Event consumer group '${group}' is not declared by an active contract`);
  }
  const subjects: string[] = [];
  for (const name of definition.self ?? []) {
    const event = declaring.events?.[name];
    if (!event)
      throw new MaterializationError(`Event consumer group '${group}' names unknown own event '${name}'`);
    subjects.push(templateToWildcard(event.subject));
  }
  for (const [alias, names] of Object.entries(definition.uses ?? {})) {
    const found = useOf(declaring, alias);
    if (!found)
      throw new MaterializationError(`Event consumer group '${group}' names unknown use '${alias}'`);
    const target = resolver(found.use.contract);
    for (const name of names) {
      const event = target?.events?.[name];
      if (event) subjects.push(templateToWildcard(event.subject));
    }
  }
  return subjects;
}
