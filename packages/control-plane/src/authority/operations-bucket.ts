/**
 * The operations bucket of a deployment (runtime spec §4.2, our decision in design/authority.md): one
 * KV bucket per deployment whose active contracts declare operations, holding every operation record
 * of every instance, so any replica answers any control request. Reconciliation creates it like a
 * `resources.kv` bucket; the binding travels as `resources.operations` and the grants are exact. The
 * reference instead lets each service session create `trellis_operations_<sessionKey[0:16]>`.
 */
import type { ContractManifest } from "@trellis/contracts";
import { type KvBinding, sanitizeName } from "./resources.js";

/** Revisions kept per operation record: enough for a watch to read every transition of a burst. */
export const OPERATIONS_BUCKET_HISTORY = 16;

/** The operations bucket of a deployment: `trellis_ops_<deploymentId>`, sanitized. */
export function operationsBucketName(deploymentId: string): string {
  return sanitizeName(`trellis_ops_${deploymentId}`);
}

/** Does any of the manifests declare an operation? */
export function declaresOperations(manifests: readonly ContractManifest[]): boolean {
  return manifests.some((manifest) => Object.keys(manifest.operations ?? {}).length > 0);
}

/** The KV binding reconciliation creates the operations bucket from (no TTL: records outlive restarts). */
export function operationsKvBinding(deploymentId: string): KvBinding {
  return { bucket: operationsBucketName(deploymentId), history: OPERATIONS_BUCKET_HISTORY, ttlMs: 0 };
}
