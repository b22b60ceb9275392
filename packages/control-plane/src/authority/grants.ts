/**
 * Materialized grants (auth spec §1.4, §3.3; contracts spec §8.2): what a deployment's service
 * instances may do on NATS, computed once at reconciliation from its active contracts, its desired
 * surfaces and capabilities, and its resource bindings. Pure: no store, no NATS.
 *
 * Session-scoped subjects (served transfers) cannot be known before an instance connects, so they
 * carry {@link SERVICE_SESSION_PREFIX_PLACEHOLDER}; the callout substitutes `sessionKey[0:16]`
 * ({@link sessionGrantSubject}). The inbox is not materialized: the callout always adds it. Operation
 * records live in the deployment's operations bucket (exact grants), not in the reference's
 * per-session `trellis_operations_<sessionKey[0:16]>` store, which is never granted.
 */
import { trellisAuth, trellisJobs } from "@trellis/builtin-contracts";
import {
  authoritySurfaceKey,
  type ContractManifest,
  type ContractResolver,
  deriveServicePermissions,
  eventConsumerGrants,
  holdsAllCapabilities,
  kvResourceGrants,
  type PermissionRule,
  SERVICE_CAPABILITY,
  sessionKeyPrefix,
  type UnresolvedUse,
} from "@trellis/contracts";
import { BaseError } from "@trellis/result";
import {
  type GrantSource,
  type MaterializedGrants,
  type MaterializedNatsGrant,
  type MaterializedSurface,
  type ResourceBindings,
  SERVICE_SESSION_PREFIX_PLACEHOLDER,
} from "./reconciler.js";

/**
 * A stand-in session key handed to `deriveServicePermissions`: its first 16 characters are replaced by
 * the placeholder in every derived subject. No contract surface subject can contain it (surfaces live
 * under `rpc.`, `operations.`, `events.`, `feeds.` and this token is not a valid surface token prefix
 * any author would write — and {@link materializeGrants} refuses a contract whose subjects contain it).
 */
const STAND_IN_SESSION_KEY = "zzSessionPrefix0zzzzzzzzzzzzzzzzzzzzzzzzzz";
const STAND_IN_PREFIX = sessionKeyPrefix(STAND_IN_SESSION_KEY);

/** Auth events every service subscribes to, so its session-authority cache drops ended sessions at once. */
export const SERVICE_AUTH_EVENT_SUBSCRIPTIONS: readonly string[] = [
  "Auth.Sessions.Revoked",
  "Auth.Connections.Closed",
].map((name) => {
  const event = trellisAuth.CONTRACT.events?.[name];
  if (!event) throw new Error(`trellis.auth@v1 does not declare event '${name}'`);
  return event.subject;
});

/** An active contract of the deployment. */
export interface ActiveManifest {
  /** Its digest. */
  digest: string;
  /** Its manifest. */
  manifest: ContractManifest;
}

/** Input of {@link materializeGrants}. */
export interface MaterializeGrantsInput {
  /** Every active contract (digest) of the deployment. */
  contracts: readonly ActiveManifest[];
  /** The catalog: resolves the contracts the active ones use (inactive ones resolve to `undefined`). */
  resolveContract: ContractResolver;
  /** Capabilities the desired state grants the deployment (besides `service`). */
  capabilities: readonly string[];
  /** Surfaces the desired state lets it provide or use; rules of other surfaces are dropped. */
  surfaces: readonly MaterializedSurface[];
  /** Its resource bindings (KV buckets and event consumers add exact grants). */
  resourceBindings: ResourceBindings;
  /** Extra publish grants of job queues (from the job queue reconciler). */
  jobsPublish?: readonly string[];
  /** Extra subscribe grants of job queues. */
  jobsSubscribe?: readonly string[];
}

/** What {@link materializeGrants} computed. */
export interface MaterializedGrantsResult {
  /** The grants. */
  grants: MaterializedGrants;
  /** `uses` entries that granted nothing; a required one means the deployment cannot be reconciled. */
  unresolved: UnresolvedUse[];
}

/** A contract's subject contains the stand-in token (never happens with real contracts). */
export class StandInCollisionError extends BaseError {}

function substitute(subject: string): string {
  return subject.split(STAND_IN_PREFIX).join(SERVICE_SESSION_PREFIX_PLACEHOLDER);
}

function sourceOf(rule: PermissionRule, ownId: string): GrantSource {
  switch (rule.surface.kind) {
    case "kv":
    case "platform":
    case "jobs":
    case "inbox":
      return "platform";
    default:
      return rule.surface.contractId === ownId ? "contract" : "uses";
  }
}

function grantKey(grant: MaterializedNatsGrant): string {
  const surface = grant.surface;
  return JSON.stringify([
    grant.direction,
    grant.subject,
    grant.grantSource,
    grant.requiredCapabilities,
    surface?.contractId ?? "",
    surface?.kind ?? "",
    surface?.name ?? "",
    surface?.action ?? "",
  ]);
}

/** The authority key of a materialized surface (`contractId:kind:name`). */
export function surfaceKey(surface: MaterializedSurface): string {
  return `${surface.contractId}:${surface.kind}:${surface.name}`;
}

/**
 * Computes a deployment's grants:
 * - `deriveServicePermissions` over each active contract (the catalog resolves its uses), keeping only
 *   rules whose surface is in the desired surfaces (platform grants are not surface-gated) and dropping
 *   the inbox and the per-session operation store;
 * - the jobs-admin grants for `trellis.jobs@v1` at the builtin digest;
 * - subscriptions to `Auth.Sessions.Revoked` and `Auth.Connections.Closed` [`service`];
 * - exact resource grants: `kvResourceGrants` per KV binding and for the operations bucket,
 *   `eventConsumerGrants` per event consumer, and the job queue reconciler's grants.
 * Grants are de-duplicated and sorted, so the same input always gives the same output.
 */
export function materializeGrants(input: MaterializeGrantsInput): MaterializedGrantsResult {
  const allowed = new Set(input.surfaces.map(surfaceKey));
  const nats: MaterializedNatsGrant[] = [];
  const unresolved: UnresolvedUse[] = [];
  const seenUnresolved = new Set<string>();

  for (const { digest, manifest } of input.contracts) {
    if (JSON.stringify(manifest).includes(STAND_IN_PREFIX)) {
      throw new StandInCollisionError(
        `Contract '${manifest.id}' contains the reserved token '${STAND_IN_PREFIX}' and cannot be materialized`,
      );
    }
    const permissions = deriveServicePermissions({
      contract: manifest,
      resolveContract: input.resolveContract,
      sessionKey: STAND_IN_SESSION_KEY,
      implementsJobsAdmin: manifest.id === trellisJobs.CONTRACT_ID && digest === trellisJobs.CONTRACT_DIGEST,
    });
    const add = (direction: "publish" | "subscribe", rules: readonly PermissionRule[]) => {
      for (const rule of rules) {
        if (rule.surface.kind === "inbox" || rule.surface.action === "operation-store") continue;
        const key = authoritySurfaceKey(rule.surface);
        if (key !== undefined && !allowed.has(key)) continue;
        nats.push({
          direction,
          subject: substitute(rule.subject),
          requiredCapabilities: rule.requiredCapabilities,
          grantSource: sourceOf(rule, manifest.id),
          surface: { ...rule.surface, name: substitute(rule.surface.name) },
        });
      }
    };
    add("publish", permissions.publish);
    add("subscribe", permissions.subscribe);
    for (const use of permissions.unresolved) {
      const key = JSON.stringify(use);
      if (seenUnresolved.has(key)) continue;
      seenUnresolved.add(key);
      unresolved.push(use);
    }
  }

  const platform = (direction: "publish" | "subscribe", subjects: readonly string[], source: GrantSource) => {
    for (const subject of subjects) {
      nats.push({ direction, subject, requiredCapabilities: [SERVICE_CAPABILITY], grantSource: source });
    }
  };
  platform("subscribe", SERVICE_AUTH_EVENT_SUBSCRIPTIONS, "platform");
  for (const binding of Object.values(input.resourceBindings.kv ?? {})) {
    platform("publish", kvResourceGrants(binding.bucket), "resource");
  }
  const operations = input.resourceBindings.operations;
  if (operations) platform("publish", kvResourceGrants(operations.bucket), "resource");
  for (const binding of Object.values(input.resourceBindings.eventConsumers ?? {})) {
    platform("publish", eventConsumerGrants(binding.stream, binding.consumerName), "resource");
  }
  platform("publish", input.jobsPublish ?? [], "resource");
  platform("subscribe", input.jobsSubscribe ?? [], "resource");

  const unique = new Map<string, MaterializedNatsGrant>();
  for (const grant of nats) unique.set(grantKey(grant), grant);
  const sorted = [...unique.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);

  const surfaces = [...new Map(input.surfaces.map((surface) => [surfaceKey(surface), surface])).entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, surface]) => ({ contractId: surface.contractId, kind: surface.kind, name: surface.name }));

  return {
    grants: {
      capabilities: [...new Set(input.capabilities)].sort(),
      surfaces,
      nats: sorted,
    },
    unresolved,
  };
}

/** Replaces the session placeholder of a materialized subject with `sessionKey[0:16]`. */
export function sessionGrantSubject(subject: string, sessionKey: string): string {
  return subject.split(SERVICE_SESSION_PREFIX_PLACEHOLDER).join(sessionKeyPrefix(sessionKey));
}

/**
 * The NATS permissions of one connected instance: subjects of the grants whose required capabilities
 * it holds all of, in the given direction, with the session placeholder substituted.
 */
export function instanceSubjects(
  grants: MaterializedGrants,
  direction: "publish" | "subscribe",
  held: ReadonlySet<string>,
  sessionKey: string,
): string[] {
  const subjects = new Set<string>();
  for (const grant of grants.nats) {
    if (grant.direction !== direction) continue;
    if (!holdsAllCapabilities(held, grant.requiredCapabilities)) continue;
    subjects.add(sessionGrantSubject(grant.subject, sessionKey));
  }
  return [...subjects];
}
