/**
 * `service_instances`: the services allowed to run in a deployment, one per public session key
 * (`instanceKey`). The instance id is derived from the key (auth spec §1.3).
 */
import { BaseError, Result } from "@trellis/result";
import { ulid } from "ulid";
import {
  type Clock,
  iso,
  isUniqueViolation,
  type JsonObject,
  JsonObjectSchema,
  normalizePage,
  type Page,
  type PageRequest,
  parseJsonColumn,
  parseNullableJsonColumn,
  StringListSchema,
  sha256Base64url,
  sortedUnique,
  systemClock,
  toPage,
  toSqlBool,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";
import { DeploymentNotFoundError } from "./service-deployments-repository.js";

/** Capabilities every service instance has. */
export const SERVICE_INSTANCE_BASE_CAPABILITIES: readonly string[] = ["service"];

/** `"svc_" + base64url(SHA-256(utf8(instanceKey)))[0:22]`. */
export function serviceInstanceId(instanceKey: string): string {
  return `svc_${sha256Base64url(instanceKey).slice(0, 22)}`;
}

/** A provisioned service instance. */
export interface ServiceInstance {
  instanceId: string;
  deploymentId: string;
  /** The service's public session key. */
  instanceKey: string;
  disabled: boolean;
  /** Sorted, unique; always includes `service`. */
  capabilities: string[];
  /** Resource bindings materialized for the instance, when any. */
  resourceBindings: JsonObject | null;
  createdAt: string;
  updatedAt: string;
}

/** Input of {@link ServiceInstancesRepository.provision}. */
export interface ProvisionServiceInstanceInput {
  deploymentId: string;
  instanceKey: string;
  /** Extra capabilities besides `service`. */
  capabilities?: readonly string[];
}

/** Filter of {@link ServiceInstancesRepository.list}. */
export interface ServiceInstanceListFilter {
  deploymentId?: string;
  disabled?: boolean;
}

/** The deployment already has an instance with this key (and so this id). */
export class InstanceExistsError extends BaseError {
  readonly reason = "instance_exists" as const;

  constructor(instanceId: string, deploymentId: string) {
    super(`Instance '${instanceId}' already exists in deployment '${deploymentId}'`, {
      context: { instanceId, deploymentId },
    });
  }
}

/** The instance key is already provisioned in another deployment. */
export class InstanceKeyTakenError extends BaseError {
  readonly reason = "instance_key_taken" as const;

  constructor(instanceKey: string, deploymentId: string) {
    super(`Instance key '${instanceKey}' is already provisioned in deployment '${deploymentId}'`, {
      context: { instanceKey, deploymentId },
    });
  }
}

/** No instance with this id. */
export class InstanceNotFoundError extends BaseError {
  readonly reason = "instance_not_found" as const;

  constructor(instanceId: string) {
    super(`Instance '${instanceId}' not found`, { context: { instanceId } });
  }
}

/** Why provisioning failed. */
export type ProvisionServiceInstanceError =
  | DeploymentNotFoundError
  | InstanceExistsError
  | InstanceKeyTakenError;

interface ServiceInstanceRow {
  instance_id: string;
  deployment_id: string;
  instance_key: string;
  disabled: number;
  capabilities: string;
  resource_bindings: string | null;
  created_at: string;
  updated_at: string;
}

const COLUMNS =
  "instance_id, deployment_id, instance_key, disabled, capabilities, resource_bindings, created_at, updated_at";

function toInstance(row: ServiceInstanceRow): ServiceInstance {
  return {
    instanceId: row.instance_id,
    deploymentId: row.deployment_id,
    instanceKey: row.instance_key,
    disabled: row.disabled === 1,
    capabilities: parseJsonColumn(StringListSchema, row.capabilities, {
      table: "service_instances",
      column: "capabilities",
    }),
    resourceBindings: parseNullableJsonColumn(JsonObjectSchema, row.resource_bindings, {
      table: "service_instances",
      column: "resource_bindings",
    }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Repository of `service_instances`. */
export class ServiceInstancesRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Provisions an instance of an existing deployment under its derived id. Fails with
   * `DeploymentNotFoundError`, `InstanceExistsError` (same key in the same deployment) or
   * `InstanceKeyTakenError` (key used by another deployment).
   */
  provision(
    input: ProvisionServiceInstanceInput,
    now: Date = this.clock(),
  ): Result<ServiceInstance, ProvisionServiceInstanceError> {
    return this.db.transaction((): Result<ServiceInstance, ProvisionServiceInstanceError> => {
      const deployment = this.db
        .prepare<[string], { n: number }>(
          "SELECT COUNT(*) AS n FROM service_deployments WHERE deployment_id = ?",
        )
        .get(input.deploymentId);
      if ((deployment?.n ?? 0) === 0) return Result.err(new DeploymentNotFoundError(input.deploymentId));
      const existing = this.getByKey(input.instanceKey);
      if (existing !== undefined) return Result.err(this.conflict(existing, input.deploymentId));
      const at = iso(now);
      const instance: ServiceInstance = {
        instanceId: serviceInstanceId(input.instanceKey),
        deploymentId: input.deploymentId,
        instanceKey: input.instanceKey,
        disabled: false,
        capabilities: sortedUnique([...SERVICE_INSTANCE_BASE_CAPABILITIES, ...(input.capabilities ?? [])]),
        resourceBindings: null,
        createdAt: at,
        updatedAt: at,
      };
      try {
        this.db
          .prepare(
            `INSERT INTO service_instances (id, ${COLUMNS}) VALUES
             (@id, @instanceId, @deploymentId, @instanceKey, 0, @capabilities, NULL, @createdAt, @updatedAt)`,
          )
          .run({
            id: ulid(),
            instanceId: instance.instanceId,
            deploymentId: instance.deploymentId,
            instanceKey: instance.instanceKey,
            capabilities: JSON.stringify(instance.capabilities),
            createdAt: instance.createdAt,
            updatedAt: instance.updatedAt,
          });
      } catch (error) {
        // Only a (truncated) hash collision of two different keys gets here.
        if (isUniqueViolation(error)) {
          return Result.err(new InstanceExistsError(instance.instanceId, input.deploymentId));
        }
        throw error;
      }
      return Result.ok(instance);
    })();
  }

  private conflict(
    existing: ServiceInstance,
    deploymentId: string,
  ): InstanceExistsError | InstanceKeyTakenError {
    return existing.deploymentId === deploymentId
      ? new InstanceExistsError(existing.instanceId, deploymentId)
      : new InstanceKeyTakenError(existing.instanceKey, existing.deploymentId);
  }

  /** The instance, or `undefined`. */
  get(instanceId: string): ServiceInstance | undefined {
    const row = this.db
      .prepare<[string], ServiceInstanceRow>(`SELECT ${COLUMNS} FROM service_instances WHERE instance_id = ?`)
      .get(instanceId);
    return row === undefined ? undefined : toInstance(row);
  }

  /** The instance provisioned for a public session key, or `undefined`. */
  getByKey(instanceKey: string): ServiceInstance | undefined {
    const row = this.db
      .prepare<[string], ServiceInstanceRow>(
        `SELECT ${COLUMNS} FROM service_instances WHERE instance_key = ?`,
      )
      .get(instanceKey);
    return row === undefined ? undefined : toInstance(row);
  }

  /** One page of instances, oldest first. */
  list(page: PageRequest = {}, filter: ServiceInstanceListFilter = {}): Page<ServiceInstance> {
    const { offset, limit } = normalizePage(page);
    const conditions: string[] = [];
    const params: Record<string, string | number> = {};
    if (filter.deploymentId !== undefined) {
      conditions.push("deployment_id = @deploymentId");
      params.deploymentId = filter.deploymentId;
    }
    if (filter.disabled !== undefined) {
      conditions.push("disabled = @disabled");
      params.disabled = toSqlBool(filter.disabled);
    }
    const where = conditions.length === 0 ? "" : `WHERE ${conditions.join(" AND ")}`;
    const count =
      this.db
        .prepare<object, { n: number }>(`SELECT COUNT(*) AS n FROM service_instances ${where}`)
        .get(params)?.n ?? 0;
    const rows = this.db
      .prepare<object, ServiceInstanceRow>(
        `SELECT ${COLUMNS} FROM service_instances ${where}
         ORDER BY created_at, instance_id LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset });
    return toPage(rows.map(toInstance), count, offset, limit);
  }

  /** Every instance of a deployment, oldest first. */
  listByDeployment(deploymentId: string): ServiceInstance[] {
    return this.db
      .prepare<[string], ServiceInstanceRow>(
        `SELECT ${COLUMNS} FROM service_instances WHERE deployment_id = ? ORDER BY created_at, instance_id`,
      )
      .all(deploymentId)
      .map(toInstance);
  }

  /** Disables or enables an instance; `Err(InstanceNotFoundError)` when it does not exist. */
  setDisabled(
    instanceId: string,
    disabled: boolean,
    now: Date = this.clock(),
  ): Result<ServiceInstance, InstanceNotFoundError> {
    const changes = this.db
      .prepare(
        "UPDATE service_instances SET disabled = @disabled, updated_at = @updatedAt WHERE instance_id = @instanceId",
      )
      .run({ instanceId, disabled: toSqlBool(disabled), updatedAt: iso(now) }).changes;
    const instance = changes === 0 ? undefined : this.get(instanceId);
    return instance === undefined ? Result.err(new InstanceNotFoundError(instanceId)) : Result.ok(instance);
  }

  /** Deletes an instance and returns what it was; `Err(InstanceNotFoundError)` when it does not exist. */
  remove(instanceId: string): Result<ServiceInstance, InstanceNotFoundError> {
    return this.db.transaction((): Result<ServiceInstance, InstanceNotFoundError> => {
      const instance = this.get(instanceId);
      if (instance === undefined) return Result.err(new InstanceNotFoundError(instanceId));
      this.db.prepare("DELETE FROM service_instances WHERE instance_id = ?").run(instanceId);
      return Result.ok(instance);
    })();
  }

  /** Deletes every instance of a deployment and returns them. */
  removeByDeployment(deploymentId: string): ServiceInstance[] {
    return this.db.transaction((): ServiceInstance[] => {
      const instances = this.listByDeployment(deploymentId);
      this.db.prepare("DELETE FROM service_instances WHERE deployment_id = ?").run(deploymentId);
      return instances;
    })();
  }
}
