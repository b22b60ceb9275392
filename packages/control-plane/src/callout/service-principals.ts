/**
 * Principal resolution for services (auth spec §3.2 step 4, first branch; §3.3 "Service"). A session
 * key provisioned as a service instance's `instanceKey` is a service: it is admitted only while the
 * instance and its deployment are enabled, it has an accepted offer for the presented digest of an
 * active, stored contract, and its deployment's materialized authority is current for the desired
 * version. Its NATS permissions are the materialized grants whose capabilities it holds, with the
 * session prefix substituted. Keys that are not service instances fall through to the next resolver.
 */
import { SERVICE_CAPABILITY, SERVICE_RESP_MAX } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { instanceSubjects } from "../authority/grants.js";
import type { MaterializedAuthorityView } from "../authority/reconciler.js";
import type { ImplementationOffer } from "../store/authority-repository.js";
import { sha256Base64url, sortedUnique } from "../store/codec.js";
import type { ServiceInstance } from "../store/service-instances-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { Principal, PrincipalResolver } from "./callout.js";
import { CalloutDenial, type RuntimeToken } from "./token.js";

/** Service session `trellisId`: `base64url(SHA-256(utf8("service:" + sessionKey)))[0:22]` (auth spec §1.3). */
export function serviceTrellisId(sessionKey: string): string {
  return sha256Base64url(`service:${sessionKey}`).slice(0, 22);
}

/** The NATS name (email) of a deployment's services: `<deploymentId>@trellis.internal`. */
export function serviceEmail(deploymentId: string): string {
  return `${deploymentId}@trellis.internal`;
}

/** A service instance that may connect, and what it may do. */
export interface ResolvedServiceSession {
  /** The instance (its `instanceKey` is the session key). */
  instance: ServiceInstance;
  /** The accepted offer of the presented digest. */
  offer: ImplementationOffer;
  /** The deployment's current materialized authority. */
  materialized: MaterializedAuthorityView;
  /** `service` ∪ the instance's capabilities ∪ the materialized capability grants; sorted. */
  capabilities: string[];
  /** The NATS principal (publish/subscribe from the materialized grants). */
  principal: Principal;
}

/**
 * Checks the service instance behind `sessionKey` presenting `contractDigest`; `undefined` when the
 * key is not a service instance's. Denials, in order: `service_disabled` (instance disabled,
 * deployment missing or disabled), `contract_changed` (no accepted offer of this digest for this
 * deployment and instance, digest not active, contract unknown or of another id),
 * `service_authority_miss` (authority missing or disabled, materialization missing or not current
 * for the authority's version). Shared by the callout and the session authority.
 */
export function resolveServiceSession(
  store: ControlPlaneStore,
  sessionKey: string,
  contractDigest: string,
): Result<ResolvedServiceSession, CalloutDenial> | undefined {
  const instance = store.serviceInstances.getByKey(sessionKey);
  if (instance === undefined) return undefined;
  const deny = (code: string, message: string) => Result.err(new CalloutDenial(code, message));
  const { deploymentId, instanceId } = instance;
  if (instance.disabled) return deny("service_disabled", `Service instance '${instanceId}' is disabled`);
  const deployment = store.serviceDeployments.get(deploymentId);
  if (deployment === undefined)
    return deny("service_disabled", `Deployment '${deploymentId}' does not exist`);
  if (deployment.disabled) return deny("service_disabled", `Deployment '${deploymentId}' is disabled`);

  const offer = store.offers.findAccepted(deploymentId, instanceId, contractDigest);
  if (offer === undefined || !store.authorities.isActive(deploymentId, contractDigest)) {
    return deny(
      "contract_changed",
      `Instance '${instanceId}' has no accepted offer of contract digest '${contractDigest}' in deployment '${deploymentId}'`,
    );
  }
  const contract = store.contracts.get(contractDigest);
  if (contract === undefined || contract.contractId !== offer.contractId) {
    return deny(
      "contract_changed",
      `Contract digest '${contractDigest}' is not stored as '${offer.contractId}' (offer of instance '${instanceId}')`,
    );
  }

  const authority = store.authorities.get(deploymentId);
  if (authority === undefined || authority.disabled) {
    return deny("service_authority_miss", `Deployment '${deploymentId}' has no enabled authority`);
  }
  const materialized = store.materialized.get(deploymentId);
  if (
    materialized === undefined ||
    materialized.status !== "current" ||
    materialized.desiredVersion !== authority.version
  ) {
    return deny(
      "service_authority_miss",
      `Deployment '${deploymentId}' authority version '${authority.version}' is not materialized (${materialized?.status ?? "never reconciled"})`,
    );
  }

  const capabilities = sortedUnique([
    SERVICE_CAPABILITY,
    ...instance.capabilities,
    ...materialized.grants.capabilities,
  ]);
  const held = new Set(capabilities);
  return Result.ok({
    instance,
    offer,
    materialized,
    capabilities,
    principal: {
      kind: "service",
      scopeId: serviceTrellisId(sessionKey),
      name: serviceEmail(deploymentId),
      publish: instanceSubjects(materialized.grants, "publish", held, sessionKey),
      subscribe: instanceSubjects(materialized.grants, "subscribe", held, sessionKey),
      respMax: SERVICE_RESP_MAX,
    },
  });
}

/**
 * Resolves service instances for the callout, in front of the next resolver (users). On admission it
 * records the service session ({@link recordServiceSession}).
 */
export class ServicePrincipalResolver implements PrincipalResolver {
  constructor(
    private readonly store: ControlPlaneStore,
    private readonly next: PrincipalResolver,
  ) {}

  async resolve(token: RuntimeToken): Promise<Result<Principal, CalloutDenial>> {
    const resolved = resolveServiceSession(this.store, token.sessionKey, token.contractDigest);
    if (resolved === undefined) return this.next.resolve(token);
    if (!resolved.ok) return Result.err(resolved.error);
    recordServiceSession(this.store, token.sessionKey, resolved.value);
    return Result.ok(resolved.value.principal);
  }
}

/**
 * Records an admitted service connection: creates the service session (auth spec §1.3 ids; or
 * refreshes its `lastAuth`, and its contract after an upgrade) and marks the offer `healthy`.
 */
export function recordServiceSession(
  store: ControlPlaneStore,
  sessionKey: string,
  resolved: ResolvedServiceSession,
): void {
  const { instance, offer, principal } = resolved;
  store.transaction(() => {
    const existing = store.sessions.get(sessionKey);
    if (
      existing?.type === "service" &&
      existing.contractDigest === offer.contractDigest &&
      existing.instanceId === instance.instanceId
    ) {
      store.sessions.touch(sessionKey);
    } else {
      store.sessions.upsert({
        sessionKey,
        trellisId: principal.scopeId,
        type: "service",
        origin: "service",
        externalId: sessionKey,
        contractDigest: offer.contractDigest,
        contractId: offer.contractId,
        participantKind: "service",
        instanceId: instance.instanceId,
        deploymentId: instance.deploymentId,
        instanceKey: instance.instanceKey,
        session: {
          type: "service",
          trellisId: principal.scopeId,
          origin: "service",
          id: sessionKey,
          email: principal.name,
          name: instance.deploymentId,
          deploymentId: instance.deploymentId,
          instanceId: instance.instanceId,
          contractId: offer.contractId,
          contractDigest: offer.contractDigest,
        },
      });
    }
    store.offers.setLiveness(instance.instanceId, "healthy", offer.contractDigest);
  });
}

/**
 * Marks the offers of a service instance `disconnected` once its last live connection closed
 * (called by the connection registry's `closed` hook with the connections still live for the key).
 */
export function markServiceDisconnected(
  store: ControlPlaneStore,
  sessionKey: string,
  stillLive: number,
): boolean {
  if (stillLive > 0) return false;
  const instance = store.serviceInstances.getByKey(sessionKey);
  if (instance === undefined) return false;
  return store.offers.setLiveness(instance.instanceId, "disconnected") > 0;
}
