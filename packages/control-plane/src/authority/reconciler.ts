/**
 * Reconciliation (auth spec §1.4; design/authority.md): the only code that creates the NATS resources
 * of a deployment and computes its *materialized authority* — the capabilities, surfaces and NATS
 * grants its service instances connect with, and the resource bindings they are handed at bootstrap.
 */

import type { trellisCore } from "@trellis/builtin-contracts";
import type { PermissionSurface, RpcOutput } from "@trellis/contracts";

/** Where a materialized authority stands against its deployment's desired state. */
export type MaterializedStatus = "current" | "pending" | "failed";

/**
 * Where a NATS grant comes from: `contract` (surfaces the deployment's contracts own), `uses` (what
 * they use), `platform` (grants every service gets: `Auth.Requests.Validate`, auth events, jobs admin)
 * or `resource` (a KV bucket, the operations bucket or an event consumer bound to the deployment).
 */
export type GrantSource = "contract" | "uses" | "platform" | "resource";

/**
 * One NATS subject a service instance of the deployment may publish or subscribe to, when it holds all
 * of `requiredCapabilities`. Session-scoped subjects carry the placeholder
 * {@link SERVICE_SESSION_PREFIX_PLACEHOLDER}, replaced by `sessionKey[0:16]` when the callout connects it.
 */
export interface MaterializedNatsGrant {
  /** `publish` or `subscribe`. */
  direction: "publish" | "subscribe";
  /** Subject in wildcard form. */
  subject: string;
  /** Capabilities the instance must hold all of; sorted, unique; empty = none. */
  requiredCapabilities: string[];
  /** Where the grant comes from. */
  grantSource: GrantSource;
  /** The contract surface (or platform grant / resource) the grant belongs to. */
  surface?: PermissionSurface;
}

/** A contract surface the deployment may serve or use (authority key `contractId:kind:name`). */
export interface MaterializedSurface {
  /** Contract id (lineage) of the surface. */
  contractId: string;
  /** Surface family. */
  kind: "rpc" | "operation" | "event" | "feed";
  /** Logical surface name. */
  name: string;
}

/** What a deployment's instances are granted. */
export interface MaterializedGrants {
  /** Capabilities the instances hold besides `service` (sorted, unique). */
  capabilities: string[];
  /** Surfaces provided or used (sorted by authority key). */
  surfaces: MaterializedSurface[];
  /** NATS grants. */
  nats: MaterializedNatsGrant[];
}

/**
 * The physical resources bound to a deployment: the `resources` of `Trellis.Bindings.Get`, plus our
 * extension `operations` — the deployment's operations bucket, when its contracts declare operations.
 */
export type ResourceBindings = NonNullable<
  RpcOutput<typeof trellisCore, "Trellis.Bindings.Get">["binding"]
>["resources"] & { operations?: { bucket: string } };

/** The materialized authority of one deployment. */
export interface MaterializedAuthorityView {
  /** The deployment. */
  deploymentId: string;
  /** The desired-state version this materialization was computed from. */
  desiredVersion: string;
  /** `current`: usable; `pending`: a newer desired state awaits reconciliation; `failed`: see `error`. */
  status: MaterializedStatus;
  /** Granted capabilities, surfaces and NATS subjects. */
  grants: MaterializedGrants;
  /** Bound KV buckets, stores, job queues and event consumers. */
  resourceBindings: ResourceBindings;
  /** When it was last reconciled (ISO 8601). */
  reconciledAt: string;
  /** Why the last reconciliation failed (status `failed`). */
  error?: string;
}

/** Placeholder for `sessionKey[0:16]` in session-scoped subjects of materialized grants. */
export const SERVICE_SESSION_PREFIX_PLACEHOLDER = "{serviceSessionPrefix}";

/** Converges deployments onto their desired state. */
export interface Reconciler {
  /**
   * Creates or adopts the deployment's resources and stores its materialized authority for the current
   * desired version: `current`, or `failed` with the error. Idempotent and restart-safe.
   */
  reconcile(deploymentId: string): Promise<MaterializedAuthorityView>;
  /** Re-reconciles every enabled deployment whose desired needs reference contract `contractId`. */
  reconcileDependentsOf(contractId: string): Promise<void>;
}
