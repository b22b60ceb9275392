/**
 * `service_deployments`: the boundaries service instances run in, with the namespaces they own and
 * how strictly contract changes are checked.
 */
import { BaseError, Result } from "@trellis/result";
import { ulid } from "ulid";
import { z } from "zod";
import {
  type Clock,
  iso,
  isUniqueViolation,
  normalizePage,
  type Page,
  type PageRequest,
  parseColumn,
  parseJsonColumn,
  StringListSchema,
  systemClock,
  toPage,
  toSqlBool,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";

/** How contract changes of a deployment's services are checked. */
export type ContractCompatibilityMode = "strict" | "mutable-dev";

const ContractCompatibilityModeSchema = z.enum(["strict", "mutable-dev"]);

/** A service deployment. */
export interface ServiceDeployment {
  deploymentId: string;
  namespaces: string[];
  contractCompatibilityMode: ContractCompatibilityMode;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Input of {@link ServiceDeploymentsRepository.create}. */
export interface CreateServiceDeploymentInput {
  deploymentId: string;
  namespaces: readonly string[];
  /** Default `strict`. */
  contractCompatibilityMode?: ContractCompatibilityMode;
  /** Default `false`. */
  disabled?: boolean;
}

/** Filter of {@link ServiceDeploymentsRepository.list}. */
export interface ServiceDeploymentListFilter {
  disabled?: boolean;
}

/** A deployment with this id already exists. */
export class DeploymentExistsError extends BaseError {
  readonly reason = "deployment_exists" as const;

  constructor(deploymentId: string) {
    super(`Deployment '${deploymentId}' already exists`, { context: { deploymentId } });
  }
}

/** No deployment with this id. */
export class DeploymentNotFoundError extends BaseError {
  readonly reason = "deployment_not_found" as const;

  constructor(deploymentId: string) {
    super(`Deployment '${deploymentId}' not found`, { context: { deploymentId } });
  }
}

/** The deployment still has instances; remove them first (or remove with `cascade`). */
export class DeploymentHasInstancesError extends BaseError {
  readonly reason = "deployment_has_instances" as const;

  constructor(deploymentId: string, instances: number) {
    super(`Deployment '${deploymentId}' still has ${instances} instance(s)`, {
      context: { deploymentId, instances },
    });
  }
}

interface ServiceDeploymentRow {
  deployment_id: string;
  namespaces: string;
  contract_compatibility_mode: string;
  disabled: number;
  created_at: string;
  updated_at: string;
}

const COLUMNS = "deployment_id, namespaces, contract_compatibility_mode, disabled, created_at, updated_at";

function toDeployment(row: ServiceDeploymentRow): ServiceDeployment {
  return {
    deploymentId: row.deployment_id,
    namespaces: parseJsonColumn(StringListSchema, row.namespaces, {
      table: "service_deployments",
      column: "namespaces",
    }),
    contractCompatibilityMode: parseColumn(ContractCompatibilityModeSchema, row.contract_compatibility_mode, {
      table: "service_deployments",
      column: "contract_compatibility_mode",
    }),
    disabled: row.disabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Repository of `service_deployments`. */
export class ServiceDeploymentsRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Creates a deployment; `Err(DeploymentExistsError)` when the id is taken. */
  create(
    input: CreateServiceDeploymentInput,
    now: Date = this.clock(),
  ): Result<ServiceDeployment, DeploymentExistsError> {
    const at = iso(now);
    const deployment: ServiceDeployment = {
      deploymentId: input.deploymentId,
      // Namespaces keep the order they were given in; duplicates are dropped.
      namespaces: [...new Set(input.namespaces)],
      contractCompatibilityMode: input.contractCompatibilityMode ?? "strict",
      disabled: input.disabled ?? false,
      createdAt: at,
      updatedAt: at,
    };
    try {
      this.db
        .prepare(
          `INSERT INTO service_deployments (id, ${COLUMNS}) VALUES
           (@id, @deploymentId, @namespaces, @mode, @disabled, @createdAt, @updatedAt)`,
        )
        .run({
          id: ulid(),
          deploymentId: deployment.deploymentId,
          namespaces: JSON.stringify(deployment.namespaces),
          mode: deployment.contractCompatibilityMode,
          disabled: toSqlBool(deployment.disabled),
          createdAt: deployment.createdAt,
          updatedAt: deployment.updatedAt,
        });
    } catch (error) {
      if (isUniqueViolation(error)) return Result.err(new DeploymentExistsError(deployment.deploymentId));
      throw error;
    }
    return Result.ok(deployment);
  }

  /** The deployment, or `undefined`. */
  get(deploymentId: string): ServiceDeployment | undefined {
    const row = this.db
      .prepare<[string], ServiceDeploymentRow>(
        `SELECT ${COLUMNS} FROM service_deployments WHERE deployment_id = ?`,
      )
      .get(deploymentId);
    return row === undefined ? undefined : toDeployment(row);
  }

  /** One page of deployments, oldest first. */
  list(page: PageRequest = {}, filter: ServiceDeploymentListFilter = {}): Page<ServiceDeployment> {
    const { offset, limit } = normalizePage(page);
    const where = filter.disabled === undefined ? "" : "WHERE disabled = @disabled";
    const params = filter.disabled === undefined ? {} : { disabled: toSqlBool(filter.disabled) };
    const count =
      this.db
        .prepare<object, { n: number }>(`SELECT COUNT(*) AS n FROM service_deployments ${where}`)
        .get(params)?.n ?? 0;
    const rows = this.db
      .prepare<object, ServiceDeploymentRow>(
        `SELECT ${COLUMNS} FROM service_deployments ${where}
         ORDER BY created_at, deployment_id LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset });
    return toPage(rows.map(toDeployment), count, offset, limit);
  }

  /** Disables or enables a deployment; `Err(DeploymentNotFoundError)` when it does not exist. */
  setDisabled(
    deploymentId: string,
    disabled: boolean,
    now: Date = this.clock(),
  ): Result<ServiceDeployment, DeploymentNotFoundError> {
    const changes = this.db
      .prepare(
        "UPDATE service_deployments SET disabled = @disabled, updated_at = @updatedAt WHERE deployment_id = @deploymentId",
      )
      .run({ deploymentId, disabled: toSqlBool(disabled), updatedAt: iso(now) }).changes;
    const deployment = changes === 0 ? undefined : this.get(deploymentId);
    return deployment === undefined
      ? Result.err(new DeploymentNotFoundError(deploymentId))
      : Result.ok(deployment);
  }

  /**
   * Deletes a deployment that has no instances; `Err(DeploymentHasInstancesError)` while any remain,
   * `Err(DeploymentNotFoundError)` when it does not exist.
   */
  remove(deploymentId: string): Result<void, DeploymentNotFoundError | DeploymentHasInstancesError> {
    return this.db.transaction((): Result<void, DeploymentNotFoundError | DeploymentHasInstancesError> => {
      if (this.get(deploymentId) === undefined) return Result.err(new DeploymentNotFoundError(deploymentId));
      const instances =
        this.db
          .prepare<[string], { n: number }>(
            "SELECT COUNT(*) AS n FROM service_instances WHERE deployment_id = ?",
          )
          .get(deploymentId)?.n ?? 0;
      if (instances > 0) return Result.err(new DeploymentHasInstancesError(deploymentId, instances));
      this.db.prepare("DELETE FROM service_deployments WHERE deployment_id = ?").run(deploymentId);
      return Result.ok(undefined);
    })();
  }
}
