/**
 * Provisions a service the way an administrator and a bootstrap would leave it, through the
 * repositories: a deployment, an instance keyed by a fresh session key, the contract stored and active,
 * the desired state its proposal asks for, an accepted offer, and a reconciliation.
 */
import type { ContractManifest, ContractResolver } from "@trellis/contracts";
import { digestContractManifest } from "@trellis/contracts";
import { generateSessionSeed, sessionKeyFromSeed } from "@trellis/runtime/auth";
import { deriveProposal, desiredStateOf } from "../../src/authority/proposal.js";
import type { MaterializedAuthorityView } from "../../src/authority/reconciler.js";
import { recordServiceSession, resolveServiceSession } from "../../src/callout/service-principals.js";
import type { ControlPlaneStore } from "../../src/store/store.js";

/** A provisioned, accepted and reconciled service instance. */
export interface ProvisionedService {
  deploymentId: string;
  instanceId: string;
  /** The instance's session key seed (its credential). */
  seed: string;
  /** Its session key (`instanceKey`). */
  sessionKey: string;
  /** The contract digest it runs. */
  digest: string;
  /** The reconciliation result. */
  materialized: MaterializedAuthorityView;
}

/** Options of {@link provisionService}. */
export interface ProvisionServiceOptions {
  deploymentId: string;
  manifest: ContractManifest;
  /** Resolves used contracts (the catalog). */
  resolveContract: ContractResolver;
  /** Reconciles a deployment (the control plane's reconciler). */
  reconcile: (deploymentId: string) => Promise<MaterializedAuthorityView>;
  /** Extra instance capabilities. */
  capabilities?: string[];
  /** Seed of the instance's key (default: fresh). */
  seed?: string;
  /** Also record the service session, as the callout does on connect (for tests without a callout). */
  recordSession?: boolean;
}

/** Provisions, accepts and reconciles a service; creates the deployment when it does not exist. */
export async function provisionService(
  store: ControlPlaneStore,
  options: ProvisionServiceOptions,
): Promise<ProvisionedService> {
  const { deploymentId, manifest } = options;
  const seed = options.seed ?? generateSessionSeed();
  const sessionKey = sessionKeyFromSeed(seed);
  if (store.serviceDeployments.get(deploymentId) === undefined) {
    store.serviceDeployments.create({ deploymentId, namespaces: [] }).unwrap();
  }
  const instance = store.serviceInstances
    .provision({ deploymentId, instanceKey: sessionKey, capabilities: options.capabilities ?? [] })
    .unwrap();
  const digest = digestContractManifest(manifest);
  store.contracts.put(manifest);
  store.authorities.activateContract(deploymentId, manifest.id, digest);
  const proposal = deriveProposal(deploymentId, digest, manifest, options.resolveContract);
  store.authorities.setDesiredState(deploymentId, desiredStateOf([proposal])).unwrap();
  store.offers.upsertAccepted({
    deploymentId,
    instanceId: instance.instanceId,
    contractId: manifest.id,
    contractDigest: digest,
  });
  const materialized = await options.reconcile(deploymentId);
  if (materialized.status !== "current") {
    throw new Error(
      `deployment '${deploymentId}' did not reconcile: ${materialized.error ?? materialized.status}`,
    );
  }
  if (options.recordSession) {
    const resolved = resolveServiceSession(store, sessionKey, digest);
    if (!resolved?.ok)
      throw new Error(`service '${deploymentId}' does not resolve: ${resolved?.error.message}`);
    recordServiceSession(store, sessionKey, resolved.value);
  }
  return { deploymentId, instanceId: instance.instanceId, seed, sessionKey, digest, materialized };
}
