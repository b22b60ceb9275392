/**
 * `materialized_authority`: one row per deployment holding what reconciliation computed from its
 * desired state — grants (capabilities, surfaces, NATS subjects) and resource bindings — with the
 * desired version it was computed from and its status (auth spec §1.4). Grants and bindings are JSON
 * columns: they are read and written whole, by the reconciler and the callout.
 */
import { TrellisBindingsGetResponse } from "@trellis/builtin-contracts";
import { z } from "zod";
import type { MaterializedAuthorityView, MaterializedGrants } from "../authority/reconciler.js";
import { type Clock, iso, parseColumn, parseJsonColumn, systemClock } from "./codec.js";
import type { SqliteDatabase } from "./database.js";

const StatusSchema = z.enum(["current", "pending", "failed"]);

const SurfaceKindSchema = z.enum(["rpc", "operation", "event", "feed"]);

const GrantsSchema = z.object({
  capabilities: z.array(z.string()),
  surfaces: z.array(z.object({ contractId: z.string(), kind: SurfaceKindSchema, name: z.string() })),
  nats: z.array(
    z.object({
      direction: z.enum(["publish", "subscribe"]),
      subject: z.string(),
      requiredCapabilities: z.array(z.string()),
      grantSource: z.enum(["contract", "uses", "platform", "resource"]),
      surface: z
        .object({
          contractId: z.string(),
          kind: z.enum(["rpc", "operation", "event", "feed", "transfer", "inbox", "kv", "platform", "jobs"]),
          name: z.string(),
          action: z.enum([
            "call",
            "observe",
            "cancel",
            "publish",
            "subscribe",
            "upload",
            "download",
            "handle",
            "control",
            "inbox",
            "operation-store",
            "validate",
            "jobs-admin",
          ]),
        })
        .optional(),
    }),
  ),
});

/** `Trellis.Bindings.Get`'s resources plus our `operations` extension (design/authority.md). */
const ResourceBindingsSchema = TrellisBindingsGetResponse.shape.binding
  .unwrap()
  .shape.resources.extend({ operations: z.object({ bucket: z.string().min(1) }).optional() });

/** Grants of a deployment that has not been reconciled yet: nothing. */
export const EMPTY_GRANTS: MaterializedGrants = { capabilities: [], surfaces: [], nats: [] };

interface MaterializedRow {
  deployment_id: string;
  desired_version: string;
  status: string;
  grants_json: string;
  resource_bindings_json: string;
  reconciled_at: string;
  error: string | null;
}

const COLUMNS =
  "deployment_id, desired_version, status, grants_json, resource_bindings_json, reconciled_at, error";

function toView(row: MaterializedRow): MaterializedAuthorityView {
  const where = (column: string) => ({ table: "materialized_authority", column });
  const view: MaterializedAuthorityView = {
    deploymentId: row.deployment_id,
    desiredVersion: row.desired_version,
    status: parseColumn(StatusSchema, row.status, where("status")),
    grants: parseJsonColumn(GrantsSchema, row.grants_json, where("grants_json")),
    resourceBindings: parseJsonColumn(
      ResourceBindingsSchema,
      row.resource_bindings_json,
      where("resource_bindings_json"),
    ),
    reconciledAt: row.reconciled_at,
  };
  if (row.error !== null) view.error = row.error;
  return view;
}

/** Repository of `materialized_authority`. */
export class MaterializedAuthorityRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The materialized authority of a deployment, or `undefined` when it was never materialized. */
  get(deploymentId: string): MaterializedAuthorityView | undefined {
    const row = this.db
      .prepare<[string], MaterializedRow>(
        `SELECT ${COLUMNS} FROM materialized_authority WHERE deployment_id = ?`,
      )
      .get(deploymentId);
    return row === undefined ? undefined : toView(row);
  }

  /** Stores a reconciliation result, replacing the deployment's previous one. */
  put(view: MaterializedAuthorityView): MaterializedAuthorityView {
    this.db
      .prepare(
        `INSERT INTO materialized_authority (${COLUMNS})
         VALUES (@deploymentId, @desiredVersion, @status, @grants, @bindings, @reconciledAt, @error)
         ON CONFLICT (deployment_id) DO UPDATE SET desired_version = excluded.desired_version,
           status = excluded.status, grants_json = excluded.grants_json,
           resource_bindings_json = excluded.resource_bindings_json,
           reconciled_at = excluded.reconciled_at, error = excluded.error`,
      )
      .run({
        deploymentId: view.deploymentId,
        desiredVersion: view.desiredVersion,
        status: view.status,
        grants: JSON.stringify(view.grants),
        bindings: JSON.stringify(view.resourceBindings),
        reconciledAt: view.reconciledAt,
        error: view.error ?? null,
      });
    return view;
  }

  /**
   * Marks the deployment `pending` for `desiredVersion` (a new desired state was accepted): the
   * callout refuses its instances until reconciliation makes it `current`. Previous grants and
   * bindings are kept for inspection; a deployment never materialized gets an empty row.
   */
  markPending(
    deploymentId: string,
    desiredVersion: string,
    now: Date = this.clock(),
  ): MaterializedAuthorityView {
    const previous = this.get(deploymentId);
    return this.put({
      deploymentId,
      desiredVersion,
      status: "pending",
      grants: previous?.grants ?? EMPTY_GRANTS,
      resourceBindings: previous?.resourceBindings ?? {},
      reconciledAt: previous?.reconciledAt ?? iso(now),
    });
  }

  /** Deletes a deployment's materialized authority; `false` when there was none. */
  delete(deploymentId: string): boolean {
    return (
      this.db
        .prepare<[string]>("DELETE FROM materialized_authority WHERE deployment_id = ?")
        .run(deploymentId).changes > 0
    );
  }
}
