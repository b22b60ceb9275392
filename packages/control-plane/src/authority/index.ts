/**
 * Deployment authority (design/authority.md): the catalog, planning and decisions, and the reconciler
 * that materializes what was decided.
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "@trellis/runtime";
import type { ControlPlaneStore } from "../store/store.js";
import { ContractCatalog } from "./catalog.js";
import { DeploymentAuthorityService } from "./planning.js";
import { DeploymentReconciler } from "./reconciliation.js";

export { ContractCatalog } from "./catalog.js";
export { AuthorityRefusal, DeploymentAuthorityService } from "./planning.js";

/** Options of {@link createDeploymentAuthority}. */
export interface DeploymentAuthorityOptions {
  store: ControlPlaneStore;
  /** A TRELLIS-account connection: the reconciler creates buckets and consumers there. */
  nc: NatsConnection;
  logger: Logger;
  now: () => Date;
  /** JetStream replicas of created buckets (default 1). */
  replicas?: number;
}

/**
 * Installs the built-in contracts and builds the catalog, the reconciler and the authority service
 * over them.
 */
export function createDeploymentAuthority(options: DeploymentAuthorityOptions): {
  catalog: ContractCatalog;
  deploymentAuthority: DeploymentAuthorityService;
} {
  const { store, logger, now } = options;
  const catalog = new ContractCatalog(store);
  catalog.installBuiltins(now());
  const reconciler = new DeploymentReconciler({
    store,
    nc: options.nc,
    catalog: () => catalog.resolver(),
    logger,
    now,
    ...(options.replicas !== undefined && { replicas: options.replicas }),
  });
  const deploymentAuthority = new DeploymentAuthorityService({
    store,
    catalog,
    reconciler,
    now,
    onReconcileError: (deploymentId, error) =>
      logger.warn(
        { err: error, deploymentId },
        "Reconciling a deployment after an authority decision failed",
      ),
  });
  return { catalog, deploymentAuthority };
}
