/**
 * Opening the KV resources a contract declares (runtime spec §5.1) from the bindings the control plane
 * hands out. Buckets are only bound to, never created: reconciliation owns them.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { ContractModule } from "@trellis/contracts";
import { AsyncResult, Result } from "@trellis/result";
import { KVError } from "../errors/errors.js";
import type { SchemaSet } from "../validation/schemas.js";
import { TypedKV } from "./typed.js";

/** Where a KV resource lives, as reconciliation materialized it. */
export interface KvBinding {
  /** Physical bucket name. */
  bucket: string;
  /** Revisions kept per key. */
  history: number;
  /** Bucket-level TTL, ms (0 = none). */
  ttlMs: number;
  /** Largest value, bytes. */
  maxValueBytes?: number;
}

/**
 * Opens a {@link TypedKV} for every `resources.kv` alias of `contract` that has a binding. A required
 * resource (the default) without a binding, or whose bucket does not exist, fails the whole call with a
 * `KVError` (reason `binding missing` / `bucket not found`); an optional one without a binding is left
 * out. Bindings for aliases the contract does not declare are ignored.
 */
export function openKvBindings(
  nc: NatsConnection,
  contract: Pick<ContractModule, "CONTRACT" | "CONTRACT_ID">,
  schemas: SchemaSet,
  bindings: Readonly<Record<string, KvBinding>>,
): AsyncResult<Record<string, TypedKV>, KVError> {
  return AsyncResult.from(
    (async (): Promise<Result<Record<string, TypedKV>, KVError>> => {
      const out: Record<string, TypedKV> = {};
      for (const [alias, resource] of Object.entries(contract.CONTRACT.resources?.kv ?? {})) {
        const binding = bindings[alias];
        if (!binding) {
          if (resource.required === false) continue;
          return Result.err(
            new KVError(
              `KV resource '${alias}' of contract '${contract.CONTRACT_ID}' is required but has no binding; ` +
                "has the deployment been reconciled?",
              {
                operation: "open",
                reason: "binding missing",
                context: { alias, contractId: contract.CONTRACT_ID },
              },
            ),
          );
        }
        const maxValueBytes = binding.maxValueBytes ?? resource.maxValueBytes;
        const opened = await TypedKV.open(nc, {
          bucket: binding.bucket,
          schema: resource.schema.schema,
          schemas,
          ...(maxValueBytes !== undefined && { maxValueBytes }),
        });
        if (opened.isErr()) {
          const error = opened.error;
          return Result.err(
            new KVError(`KV resource '${alias}': ${error.message}`, {
              operation: "open",
              ...(error.reason && { reason: error.reason }),
              context: { ...error.context, alias, contractId: contract.CONTRACT_ID },
              cause: error,
            }),
          );
        }
        out[alias] = opened.value;
      }
      return Result.ok(out);
    })(),
  );
}
