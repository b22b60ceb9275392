/**
 * Deployment authority tables (migration 3, auth spec §1.4 and §4): the admin-owned desired state of
 * each deployment (`deployment_authorities`), the contract digests it may run
 * (`deployment_contracts`), the plans recorded when a presented contract does not fit
 * (`deployment_authority_plans`) and the implementation offers of service instances
 * (`implementation_offers`). The rules that decide what goes in them live in `src/authority/`.
 */
import { BaseError, Result } from "@trellis/result";
import { ulid } from "ulid";
import { z } from "zod";
import {
  type Clock,
  iso,
  type JsonObject,
  JsonObjectSchema,
  normalizePage,
  type Page,
  type PageRequest,
  parseColumn,
  parseJsonColumn,
  parseNullableJsonColumn,
  StringListSchema,
  systemClock,
  toPage,
  toSqlBool,
} from "./codec.js";
import type { SqliteDatabase } from "./database.js";

// ---------------------------------------------------------------------------------------------
// Shapes (the JSON columns are parsed with these schemas)
// ---------------------------------------------------------------------------------------------

/** Kinds of contract surfaces. */
export const SurfaceKindSchema = z.enum(["rpc", "operation", "event", "feed"]);
/** Kind of a contract surface. */
export type SurfaceKind = z.output<typeof SurfaceKindSchema>;

/** What a participant does with a surface. */
export const SurfaceActionSchema = z.enum(["call", "publish", "subscribe", "observe", "cancel"]);
/** Action on a surface. */
export type SurfaceAction = z.output<typeof SurfaceActionSchema>;

/** Kinds of deployment resources. */
export const ResourceKindSchema = z.enum(["kv", "store", "jobs", "event-consumer", "transfer"]);
/** Kind of a deployment resource. */
export type ResourceKind = z.output<typeof ResourceKindSchema>;

/** Kinds of deployment authorities. */
export const AuthorityKindSchema = z.enum(["service", "device", "app", "cli", "native", "device-user"]);
/** Kind of a deployment authority. */
export type AuthorityKind = z.output<typeof AuthorityKindSchema>;

/** A contract the deployment may use. */
export const ContractNeedSchema = z.object({ contractId: z.string().min(1), required: z.boolean() });
export type ContractNeed = z.output<typeof ContractNeedSchema>;

/** A surface of another contract the deployment may use, with its action. */
export const SurfaceNeedSchema = z.object({
  contractId: z.string().min(1),
  kind: SurfaceKindSchema,
  name: z.string().min(1),
  action: SurfaceActionSchema,
  required: z.boolean(),
});
export type SurfaceNeed = z.output<typeof SurfaceNeedSchema>;

/** A capability the deployment's services hold. */
export const CapabilityNeedSchema = z.object({ capability: z.string().min(1), required: z.boolean() });
export type CapabilityNeed = z.output<typeof CapabilityNeedSchema>;

/** A resource (kv bucket, store, job queue, event consumer group) with its contract definition. */
export const ResourceNeedSchema = z.object({
  kind: ResourceKindSchema,
  alias: z.string().min(1),
  required: z.boolean(),
  definition: JsonObjectSchema,
});
export type ResourceNeed = z.output<typeof ResourceNeedSchema>;

/** A surface the deployment's services own (serve or publish). */
export const ProvidedSurfaceSchema = z.object({
  contractId: z.string().min(1),
  kind: SurfaceKindSchema,
  name: z.string().min(1),
});
export type ProvidedSurface = z.output<typeof ProvidedSurfaceSchema>;

/** Grouped needs of a proposal or desired state. */
export const AuthorityNeedsSchema = z.object({
  contracts: z.array(ContractNeedSchema),
  surfaces: z.array(SurfaceNeedSchema),
  capabilities: z.array(CapabilityNeedSchema),
  resources: z.array(ResourceNeedSchema),
});
export type AuthorityNeeds = z.output<typeof AuthorityNeedsSchema>;

/** The admin-owned desired state of a deployment. */
export const DesiredStateSchema = z.object({
  needs: AuthorityNeedsSchema,
  capabilities: z.array(z.string().min(1)),
  resources: z.array(ResourceNeedSchema),
  surfaces: z.array(ProvidedSurfaceSchema),
});
export type DesiredState = z.output<typeof DesiredStateSchema>;

/** Needs and surfaces derived from one presented contract. */
export const AuthorityProposalSchema = z.object({
  deploymentId: z.string().min(1),
  contractId: z.string().min(1),
  contractDigest: z.string().min(1),
  requestedNeeds: AuthorityNeedsSchema,
  providedSurfaces: z.array(ProvidedSurfaceSchema),
});
export type AuthorityProposal = z.output<typeof AuthorityProposalSchema>;

/** One side (added or removed) of a plan's desired change. */
export const DesiredChangeSideSchema = z.object({
  needs: AuthorityNeedsSchema,
  surfaces: z.array(ProvidedSurfaceSchema),
  resources: z.array(ResourceNeedSchema),
  capabilities: z.array(z.string().min(1)),
});
export type DesiredChangeSide = z.output<typeof DesiredChangeSideSchema>;

/** What accepting a plan adds to and removes from the desired state. */
export const DesiredChangeSchema = z.object({
  added: DesiredChangeSideSchema,
  removed: DesiredChangeSideSchema,
});
export type DesiredChange = z.output<typeof DesiredChangeSchema>;

/** Who decided a plan: an admin, or the system for a `mutable-dev` deployment. */
export const PlanDecisionBySchema = z.union([
  z.object({ kind: z.literal("user"), userId: z.string().min(1) }),
  z.object({
    kind: z.literal("system"),
    mode: z.literal("mutable-dev"),
    serviceInstanceId: z.string().min(1),
  }),
]);
export type PlanDecisionBy = z.output<typeof PlanDecisionBySchema>;

/** Plan classifications. */
export const PlanClassificationSchema = z.enum(["update", "migration"]);
export type PlanClassification = z.output<typeof PlanClassificationSchema>;

/** Plan states. */
export const PlanStateSchema = z.enum(["pending", "accepted", "rejected", "expired"]);
export type PlanState = z.output<typeof PlanStateSchema>;

/** Offer statuses. */
export const OfferStatusSchema = z.enum(["offered", "accepted", "stale", "expired", "withdrawn"]);
export type OfferStatus = z.output<typeof OfferStatusSchema>;

/** Offer liveness, kept up to date by the callout. */
export const OfferLivenessSchema = z.enum(["unknown", "healthy", "unhealthy", "disconnected"]);
export type OfferLiveness = z.output<typeof OfferLivenessSchema>;

/** An empty desired state (a new deployment may do nothing). */
export function emptyDesiredState(): DesiredState {
  return {
    needs: { contracts: [], surfaces: [], capabilities: [], resources: [] },
    capabilities: [],
    resources: [],
    surfaces: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** No authority plan with this id. */
export class PlanNotFoundError extends BaseError {
  readonly reason = "plan_not_found" as const;

  constructor(planId: string) {
    super(`Authority plan '${planId}' not found`, { context: { planId } });
  }
}

/** The plan was already decided (or expired). */
export class PlanNotPendingError extends BaseError {
  readonly reason = "plan_not_pending" as const;

  constructor(planId: string, state: PlanState) {
    super(`Authority plan '${planId}' is ${state}, not pending`, { context: { planId, state } });
  }
}

/** The desired state changed since the caller read it. */
export class DesiredVersionConflictError extends BaseError {
  readonly reason = "desired_version_conflict" as const;

  constructor(deploymentId: string, expected: string, actual: string) {
    super(
      `Deployment '${deploymentId}' authority is at version '${actual}', not the expected '${expected}'`,
      { context: { deploymentId, expected, actual } },
    );
  }
}

/** No deployment authority for this deployment (the deployment does not exist). */
export class AuthorityNotFoundError extends BaseError {
  readonly reason = "deployment_not_found" as const;

  constructor(deploymentId: string) {
    super(`Deployment '${deploymentId}' not found`, { context: { deploymentId } });
  }
}

// ---------------------------------------------------------------------------------------------
// deployment_authorities + deployment_contracts
// ---------------------------------------------------------------------------------------------

/** The desired authority of one deployment. */
export interface DeploymentAuthorityRecord {
  deploymentId: string;
  kind: AuthorityKind;
  version: string;
  disabled: boolean;
  desiredState: DesiredState;
  createdAt: string;
  updatedAt: string;
}

/** A contract digest a deployment may run. */
export interface ActiveContract {
  deploymentId: string;
  contractId: string;
  contractDigest: string;
  activatedAt: string;
}

interface AuthorityRow {
  deployment_id: string;
  kind: string;
  version: string;
  disabled: number;
  desired_state: string;
  created_at: string;
  updated_at: string;
}

interface ActiveContractRow {
  deployment_id: string;
  contract_id: string;
  contract_digest: string;
  activated_at: string;
}

const AUTHORITY_COLUMNS = "deployment_id, kind, version, disabled, desired_state, created_at, updated_at";

function toAuthority(row: AuthorityRow): DeploymentAuthorityRecord {
  const where = { table: "deployment_authorities" };
  return {
    deploymentId: row.deployment_id,
    kind: parseColumn(AuthorityKindSchema, row.kind, { ...where, column: "kind" }),
    version: row.version,
    disabled: row.disabled === 1,
    desiredState: parseJsonColumn(DesiredStateSchema, row.desired_state, {
      ...where,
      column: "desired_state",
    }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toActiveContract(row: ActiveContractRow): ActiveContract {
  return {
    deploymentId: row.deployment_id,
    contractId: row.contract_id,
    contractDigest: row.contract_digest,
    activatedAt: row.activated_at,
  };
}

/** Repository of `deployment_authorities` and `deployment_contracts`. */
export class DeploymentAuthoritiesRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * The deployment's authority, created (empty desired state, fresh version) when the deployment
   * exists but has none yet; `undefined` when the deployment does not exist.
   */
  ensure(deploymentId: string, now: Date = this.clock()): DeploymentAuthorityRecord | undefined {
    const at = iso(now);
    this.db
      .prepare(
        `INSERT INTO deployment_authorities (${AUTHORITY_COLUMNS})
         SELECT @deploymentId, 'service', @version, 0, @desiredState, @at, @at
         WHERE EXISTS (SELECT 1 FROM service_deployments WHERE deployment_id = @deploymentId)
         ON CONFLICT (deployment_id) DO NOTHING`,
      )
      .run({ deploymentId, version: ulid(), desiredState: JSON.stringify(emptyDesiredState()), at });
    return this.get(deploymentId);
  }

  /** The deployment's authority as stored, or `undefined`. */
  get(deploymentId: string): DeploymentAuthorityRecord | undefined {
    const row = this.db
      .prepare<[string], AuthorityRow>(
        `SELECT ${AUTHORITY_COLUMNS} FROM deployment_authorities WHERE deployment_id = ?`,
      )
      .get(deploymentId);
    return row === undefined ? undefined : toAuthority(row);
  }

  /**
   * One page of authorities, oldest first (after creating the missing ones of existing deployments).
   * `disabled` filters on the authority or its deployment being disabled.
   */
  list(
    page: PageRequest = {},
    filter: { disabled?: boolean } = {},
    now: Date = this.clock(),
  ): Page<DeploymentAuthorityRecord> {
    const missing = this.db
      .prepare<[], { deployment_id: string }>(
        `SELECT deployment_id FROM service_deployments
         WHERE deployment_id NOT IN (SELECT deployment_id FROM deployment_authorities)`,
      )
      .all();
    for (const { deployment_id } of missing) this.ensure(deployment_id, now);
    const { offset, limit } = normalizePage(page);
    const where =
      filter.disabled === undefined
        ? ""
        : `WHERE (a.disabled = 1 OR EXISTS (SELECT 1 FROM service_deployments d
             WHERE d.deployment_id = a.deployment_id AND d.disabled = 1)) = @disabled`;
    const params = filter.disabled === undefined ? {} : { disabled: toSqlBool(filter.disabled) };
    const count =
      this.db
        .prepare<object, { n: number }>(`SELECT COUNT(*) AS n FROM deployment_authorities a ${where}`)
        .get(params)?.n ?? 0;
    const columns = AUTHORITY_COLUMNS.split(", ")
      .map((column) => `a.${column}`)
      .join(", ");
    const rows = this.db
      .prepare<object, AuthorityRow>(
        `SELECT ${columns} FROM deployment_authorities a ${where}
         ORDER BY a.created_at, a.deployment_id LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset });
    return toPage(rows.map(toAuthority), count, offset, limit);
  }

  /**
   * Replaces the desired state and gives the authority a new version. With `expectedVersion`, refuses
   * (`desired_version_conflict`) when the stored version differs.
   */
  setDesiredState(
    deploymentId: string,
    desiredState: DesiredState,
    expectedVersion?: string,
    now: Date = this.clock(),
  ): Result<DeploymentAuthorityRecord, AuthorityNotFoundError | DesiredVersionConflictError> {
    const current = this.ensure(deploymentId, now);
    if (current === undefined) return Result.err(new AuthorityNotFoundError(deploymentId));
    if (expectedVersion !== undefined && expectedVersion !== current.version) {
      return Result.err(new DesiredVersionConflictError(deploymentId, expectedVersion, current.version));
    }
    const changes = this.db
      .prepare(
        `UPDATE deployment_authorities SET desired_state = @desiredState, version = @version, updated_at = @at
         WHERE deployment_id = @deploymentId AND version = @current`,
      )
      .run({
        deploymentId,
        desiredState: JSON.stringify(DesiredStateSchema.parse(desiredState)),
        version: ulid(),
        at: iso(now),
        current: current.version,
      }).changes;
    const updated = this.get(deploymentId);
    if (changes === 0 || updated === undefined) {
      return Result.err(
        new DesiredVersionConflictError(deploymentId, current.version, updated?.version ?? "none"),
      );
    }
    return Result.ok(updated);
  }

  /** Makes a digest runnable by the deployment (idempotent; keeps the first activation time). */
  activateContract(
    deploymentId: string,
    contractId: string,
    contractDigest: string,
    now: Date = this.clock(),
  ): ActiveContract {
    this.db
      .prepare(
        `INSERT INTO deployment_contracts (deployment_id, contract_id, contract_digest, activated_at)
         VALUES (@deploymentId, @contractId, @contractDigest, @at)
         ON CONFLICT (deployment_id, contract_digest) DO NOTHING`,
      )
      .run({ deploymentId, contractId, contractDigest, at: iso(now) });
    const row = this.db
      .prepare<[string, string], ActiveContractRow>(
        "SELECT * FROM deployment_contracts WHERE deployment_id = ? AND contract_digest = ?",
      )
      .get(deploymentId, contractDigest);
    if (row === undefined)
      throw new Error(`active contract '${contractDigest}' vanished after being written`);
    return toActiveContract(row);
  }

  /** Retires every active digest of a lineage except `keepDigest`; returns the retired digests. */
  retireOtherDigests(deploymentId: string, contractId: string, keepDigest: string): string[] {
    const retired = this.db
      .prepare<[string, string, string], { contract_digest: string }>(
        `SELECT contract_digest FROM deployment_contracts
         WHERE deployment_id = ? AND contract_id = ? AND contract_digest <> ? ORDER BY contract_digest`,
      )
      .all(deploymentId, contractId, keepDigest)
      .map((row) => row.contract_digest);
    this.db
      .prepare(
        "DELETE FROM deployment_contracts WHERE deployment_id = ? AND contract_id = ? AND contract_digest <> ?",
      )
      .run(deploymentId, contractId, keepDigest);
    return retired;
  }

  /** `true` when the deployment may run this digest. */
  isActive(deploymentId: string, contractDigest: string): boolean {
    return (
      this.db
        .prepare<[string, string], { one: number }>(
          "SELECT 1 AS one FROM deployment_contracts WHERE deployment_id = ? AND contract_digest = ?",
        )
        .get(deploymentId, contractDigest) !== undefined
    );
  }

  /** Active contracts, of one deployment or of all, by deployment then activation time. */
  listActiveContracts(deploymentId?: string): ActiveContract[] {
    const rows =
      deploymentId === undefined
        ? this.db
            .prepare<[], ActiveContractRow>(
              "SELECT * FROM deployment_contracts ORDER BY deployment_id, activated_at, contract_digest",
            )
            .all()
        : this.db
            .prepare<[string], ActiveContractRow>(
              "SELECT * FROM deployment_contracts WHERE deployment_id = ? ORDER BY activated_at, contract_digest",
            )
            .all(deploymentId);
    return rows.map(toActiveContract);
  }
}

// ---------------------------------------------------------------------------------------------
// deployment_authority_plans
// ---------------------------------------------------------------------------------------------

/** How long a pending plan waits for a decision. */
export const PLAN_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** A recorded authority plan. */
export interface AuthorityPlan {
  planId: string;
  deploymentId: string;
  classification: PlanClassification;
  state: PlanState;
  proposal: AuthorityProposal;
  desiredChange: DesiredChange;
  materializationPreview: JsonObject;
  warnings: string[];
  acknowledgementRequired: boolean;
  decisionAt: string | null;
  decisionBy: PlanDecisionBy | null;
  decisionReason: string | null;
  createdAt: string;
  expiresAt: string;
}

/** Input of {@link AuthorityPlansRepository.create}. */
export interface CreatePlanInput {
  deploymentId: string;
  classification: PlanClassification;
  proposal: AuthorityProposal;
  desiredChange: DesiredChange;
  materializationPreview: JsonObject;
  warnings?: readonly string[];
}

/** Filter of {@link AuthorityPlansRepository.list}. */
export interface PlanListFilter {
  deploymentId?: string;
  state?: PlanState;
  classification?: PlanClassification;
}

interface PlanRow {
  plan_id: string;
  deployment_id: string;
  classification: string;
  state: string;
  proposal_json: string;
  desired_change_json: string;
  materialization_preview_json: string;
  warnings_json: string;
  acknowledgement_required: number;
  decision_at: string | null;
  decision_by_json: string | null;
  decision_reason: string | null;
  created_at: string;
  expires_at: string;
}

const PLAN_COLUMNS = `plan_id, deployment_id, classification, state, proposal_json, desired_change_json,
  materialization_preview_json, warnings_json, acknowledgement_required, decision_at, decision_by_json,
  decision_reason, created_at, expires_at`;

function toPlan(row: PlanRow): AuthorityPlan {
  const table = "deployment_authority_plans";
  return {
    planId: row.plan_id,
    deploymentId: row.deployment_id,
    classification: parseColumn(PlanClassificationSchema, row.classification, {
      table,
      column: "classification",
    }),
    state: parseColumn(PlanStateSchema, row.state, { table, column: "state" }),
    proposal: parseJsonColumn(AuthorityProposalSchema, row.proposal_json, { table, column: "proposal_json" }),
    desiredChange: parseJsonColumn(DesiredChangeSchema, row.desired_change_json, {
      table,
      column: "desired_change_json",
    }),
    materializationPreview: parseJsonColumn(JsonObjectSchema, row.materialization_preview_json, {
      table,
      column: "materialization_preview_json",
    }),
    warnings: parseJsonColumn(StringListSchema, row.warnings_json, { table, column: "warnings_json" }),
    acknowledgementRequired: row.acknowledgement_required === 1,
    decisionAt: row.decision_at,
    decisionBy: parseNullableJsonColumn(PlanDecisionBySchema, row.decision_by_json, {
      table,
      column: "decision_by_json",
    }),
    decisionReason: row.decision_reason,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

/** Repository of `deployment_authority_plans`. */
export class AuthorityPlansRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Records a pending plan (expiring after {@link PLAN_TTL_MS}); migrations require acknowledgement. */
  create(input: CreatePlanInput, now: Date = this.clock()): AuthorityPlan {
    const planId = ulid(now.getTime());
    this.db
      .prepare(
        `INSERT INTO deployment_authority_plans (contract_id, contract_digest, ${PLAN_COLUMNS}) VALUES
           (@contractId, @contractDigest, @planId, @deploymentId, @classification, 'pending', @proposal,
           @desiredChange, @preview, @warnings, @ack, NULL, NULL, NULL, @createdAt, @expiresAt)`,
      )
      .run({
        planId,
        deploymentId: input.deploymentId,
        contractId: input.proposal.contractId,
        contractDigest: input.proposal.contractDigest,
        classification: input.classification,
        proposal: JSON.stringify(AuthorityProposalSchema.parse(input.proposal)),
        desiredChange: JSON.stringify(DesiredChangeSchema.parse(input.desiredChange)),
        preview: JSON.stringify(input.materializationPreview),
        warnings: JSON.stringify(input.warnings ?? []),
        ack: toSqlBool(input.classification === "migration"),
        createdAt: iso(now),
        expiresAt: iso(new Date(now.getTime() + PLAN_TTL_MS)),
      });
    const plan = this.get(planId);
    if (plan === undefined) throw new Error(`plan '${planId}' vanished after being written`);
    return plan;
  }

  /** The plan, or `undefined`. */
  get(planId: string): AuthorityPlan | undefined {
    const row = this.db
      .prepare<[string], PlanRow>(`SELECT ${PLAN_COLUMNS} FROM deployment_authority_plans WHERE plan_id = ?`)
      .get(planId);
    return row === undefined ? undefined : toPlan(row);
  }

  /** The pending, unexpired plan for this deployment and digest, if any. */
  findPending(
    deploymentId: string,
    contractDigest: string,
    now: Date = this.clock(),
  ): AuthorityPlan | undefined {
    const row = this.db
      .prepare<{ deploymentId: string; contractDigest: string; now: string }, PlanRow>(
        `SELECT ${PLAN_COLUMNS} FROM deployment_authority_plans
         WHERE deployment_id = @deploymentId AND contract_digest = @contractDigest AND state = 'pending'
           AND expires_at > @now
         ORDER BY created_at DESC, plan_id DESC LIMIT 1`,
      )
      .get({ deploymentId, contractDigest, now: iso(now) });
    return row === undefined ? undefined : toPlan(row);
  }

  /** One page of plans, newest first. */
  list(page: PageRequest = {}, filter: PlanListFilter = {}): Page<AuthorityPlan> {
    const { offset, limit } = normalizePage(page);
    const clauses: string[] = [];
    const params: Record<string, string> = {};
    if (filter.deploymentId !== undefined) {
      clauses.push("deployment_id = @deploymentId");
      params.deploymentId = filter.deploymentId;
    }
    if (filter.state !== undefined) {
      clauses.push("state = @state");
      params.state = filter.state;
    }
    if (filter.classification !== undefined) {
      clauses.push("classification = @classification");
      params.classification = filter.classification;
    }
    const where = clauses.length === 0 ? "" : `WHERE ${clauses.join(" AND ")}`;
    const count =
      this.db
        .prepare<object, { n: number }>(`SELECT COUNT(*) AS n FROM deployment_authority_plans ${where}`)
        .get(params)?.n ?? 0;
    const rows = this.db
      .prepare<object, PlanRow>(
        `SELECT ${PLAN_COLUMNS} FROM deployment_authority_plans ${where}
         ORDER BY created_at DESC, plan_id DESC LIMIT @limit OFFSET @offset`,
      )
      .all({ ...params, limit, offset });
    return toPage(rows.map(toPlan), count, offset, limit);
  }

  /**
   * Records the decision on a pending plan (`accepted` or `rejected`). Refuses plans that do not
   * exist or are not pending; a pending plan past its expiry is marked `expired` and refused.
   */
  decide(
    planId: string,
    state: "accepted" | "rejected",
    decisionBy: PlanDecisionBy,
    reason: string | null = null,
    now: Date = this.clock(),
  ): Result<AuthorityPlan, PlanNotFoundError | PlanNotPendingError> {
    this.expireDue(now);
    const plan = this.get(planId);
    if (plan === undefined) return Result.err(new PlanNotFoundError(planId));
    if (plan.state !== "pending") return Result.err(new PlanNotPendingError(planId, plan.state));
    this.db
      .prepare(
        `UPDATE deployment_authority_plans SET state = @state, decision_at = @at, decision_by_json = @by,
           decision_reason = @reason WHERE plan_id = @planId AND state = 'pending'`,
      )
      .run({
        planId,
        state,
        at: iso(now),
        by: JSON.stringify(PlanDecisionBySchema.parse(decisionBy)),
        reason,
      });
    return Result.ok(this.get(planId) ?? plan);
  }

  /** Marks pending plans past their expiry `expired`; returns how many. */
  expireDue(now: Date = this.clock()): number {
    return this.db
      .prepare(
        "UPDATE deployment_authority_plans SET state = 'expired' WHERE state = 'pending' AND expires_at <= ?",
      )
      .run(iso(now)).changes;
  }
}

// ---------------------------------------------------------------------------------------------
// implementation_offers
// ---------------------------------------------------------------------------------------------

/** A service instance's offer to implement one contract digest. */
export interface ImplementationOffer {
  offerId: string;
  deploymentKind: "service" | "device";
  deploymentId: string;
  instanceId: string | null;
  contractId: string;
  contractDigest: string;
  lineageKey: string;
  status: OfferStatus;
  liveness: OfferLiveness;
  firstOfferedAt: string;
  acceptedAt: string | null;
  lastRefreshedAt: string;
  staleAt: string | null;
  expiresAt: string | null;
}

/** Identity of a service offer. */
export interface ServiceOfferKey {
  deploymentId: string;
  instanceId: string;
  contractId: string;
  contractDigest: string;
}

/** `offerId` of a service offer (auth spec §1.3). */
export function serviceOfferId(key: ServiceOfferKey): string {
  return JSON.stringify(["service", key.deploymentId, key.instanceId, key.contractId, key.contractDigest]);
}

/** `lineageKey` of a service offer (auth spec §1.3). */
export function serviceLineageKey(deploymentId: string, contractId: string): string {
  return JSON.stringify(["service", deploymentId, contractId]);
}

interface OfferRow {
  offer_id: string;
  deployment_kind: string;
  deployment_id: string;
  instance_id: string | null;
  contract_id: string;
  contract_digest: string;
  lineage_key: string;
  status: string;
  liveness: string;
  first_offered_at: string;
  accepted_at: string | null;
  last_refreshed_at: string;
  stale_at: string | null;
  expires_at: string | null;
}

const OFFER_COLUMNS = `offer_id, deployment_kind, deployment_id, instance_id, contract_id, contract_digest,
  lineage_key, status, liveness, first_offered_at, accepted_at, last_refreshed_at, stale_at, expires_at`;

function toOffer(row: OfferRow): ImplementationOffer {
  const table = "implementation_offers";
  return {
    offerId: row.offer_id,
    deploymentKind: parseColumn(z.enum(["service", "device"]), row.deployment_kind, {
      table,
      column: "deployment_kind",
    }),
    deploymentId: row.deployment_id,
    instanceId: row.instance_id,
    contractId: row.contract_id,
    contractDigest: row.contract_digest,
    lineageKey: row.lineage_key,
    status: parseColumn(OfferStatusSchema, row.status, { table, column: "status" }),
    liveness: parseColumn(OfferLivenessSchema, row.liveness, { table, column: "liveness" }),
    firstOfferedAt: row.first_offered_at,
    acceptedAt: row.accepted_at,
    lastRefreshedAt: row.last_refreshed_at,
    staleAt: row.stale_at,
    expiresAt: row.expires_at,
  };
}

/** Filter of {@link ImplementationOffersRepository.list}. */
export interface OfferListFilter {
  deploymentId?: string;
  instanceId?: string;
  status?: OfferStatus;
}

/** Repository of `implementation_offers`. */
export class ImplementationOffersRepository {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Records (or refreshes) the instance's offer of this digest as `accepted`; the instance's offers of
   * other digests of the same lineage become `stale`. Returns the accepted offer.
   */
  upsertAccepted(key: ServiceOfferKey, now: Date = this.clock()): ImplementationOffer {
    const at = iso(now);
    const offerId = serviceOfferId(key);
    const lineageKey = serviceLineageKey(key.deploymentId, key.contractId);
    this.db
      .prepare(
        `INSERT INTO implementation_offers (${OFFER_COLUMNS}) VALUES (@offerId, 'service', @deploymentId,
           @instanceId, @contractId, @contractDigest, @lineageKey, 'accepted', 'unknown', @at, @at, @at, NULL, NULL)
         ON CONFLICT (offer_id) DO UPDATE SET status = 'accepted', last_refreshed_at = @at, stale_at = NULL,
           accepted_at = CASE WHEN status = 'accepted' THEN accepted_at ELSE @at END`,
      )
      .run({ ...key, offerId, lineageKey, at });
    this.db
      .prepare(
        `UPDATE implementation_offers SET status = 'stale', stale_at = @at
         WHERE lineage_key = @lineageKey AND instance_id = @instanceId AND offer_id <> @offerId
           AND status IN ('offered', 'accepted')`,
      )
      .run({ lineageKey, instanceId: key.instanceId, offerId, at });
    const offer = this.get(offerId);
    if (offer === undefined) throw new Error(`offer '${offerId}' vanished after being written`);
    return offer;
  }

  /** Marks every live offer of these digests in the deployment `stale` (their digests were retired). */
  staleDigests(deploymentId: string, contractDigests: readonly string[], now: Date = this.clock()): number {
    let changes = 0;
    const statement = this.db.prepare(
      `UPDATE implementation_offers SET status = 'stale', stale_at = @at
       WHERE deployment_id = @deploymentId AND contract_digest = @digest AND status IN ('offered', 'accepted')`,
    );
    for (const digest of contractDigests) {
      changes += statement.run({ deploymentId, digest, at: iso(now) }).changes;
    }
    return changes;
  }

  /** The offer, or `undefined`. */
  get(offerId: string): ImplementationOffer | undefined {
    const row = this.db
      .prepare<[string], OfferRow>(`SELECT ${OFFER_COLUMNS} FROM implementation_offers WHERE offer_id = ?`)
      .get(offerId);
    return row === undefined ? undefined : toOffer(row);
  }

  /** The accepted offer of this instance for this digest, or `undefined`. */
  findAccepted(
    deploymentId: string,
    instanceId: string,
    contractDigest: string,
  ): ImplementationOffer | undefined {
    const row = this.db
      .prepare<[string, string, string], OfferRow>(
        `SELECT ${OFFER_COLUMNS} FROM implementation_offers
         WHERE deployment_id = ? AND instance_id = ? AND contract_digest = ? AND status = 'accepted'`,
      )
      .get(deploymentId, instanceId, contractDigest);
    return row === undefined ? undefined : toOffer(row);
  }

  /**
   * Sets the liveness of the instance's accepted offers (of one digest, or all of them); returns how
   * many offers changed.
   */
  setLiveness(
    instanceId: string,
    liveness: OfferLiveness,
    contractDigest?: string,
    now: Date = this.clock(),
  ): number {
    const digestClause = contractDigest === undefined ? "" : "AND contract_digest = @contractDigest";
    return this.db
      .prepare(
        `UPDATE implementation_offers SET liveness = @liveness, last_refreshed_at = @at
         WHERE instance_id = @instanceId AND status = 'accepted' ${digestClause}`,
      )
      .run({ instanceId, liveness, at: iso(now), ...(contractDigest !== undefined && { contractDigest }) })
      .changes;
  }

  /** Offers, oldest first. */
  list(filter: OfferListFilter = {}): ImplementationOffer[] {
    const clauses: string[] = [];
    const params: Record<string, string> = {};
    if (filter.deploymentId !== undefined) {
      clauses.push("deployment_id = @deploymentId");
      params.deploymentId = filter.deploymentId;
    }
    if (filter.instanceId !== undefined) {
      clauses.push("instance_id = @instanceId");
      params.instanceId = filter.instanceId;
    }
    if (filter.status !== undefined) {
      clauses.push("status = @status");
      params.status = filter.status;
    }
    const where = clauses.length === 0 ? "" : `WHERE ${clauses.join(" AND ")}`;
    return this.db
      .prepare<object, OfferRow>(
        `SELECT ${OFFER_COLUMNS} FROM implementation_offers ${where} ORDER BY first_offered_at, offer_id`,
      )
      .all(params)
      .map(toOffer);
  }
}
