/**
 * Deployment authority planning and decisions (auth spec §1.4; contracts spec §9; design/authority.md):
 * whether a presented contract fits its deployment's desired state, the plan recorded when it does
 * not, and accepting or rejecting plans. Accepting changes the desired state, activates the digest and
 * asks the reconciler to converge. No NATS here: the reconciler is given.
 */
import { type ContractManifest, type ContractResolver, diffContracts } from "@trellis/contracts";
import { BaseError, Result } from "@trellis/result";
import type {
  AuthorityPlan,
  AuthorityProposal,
  DeploymentAuthorityRecord,
  DesiredChange,
  DesiredState,
  PlanClassification,
  PlanDecisionBy,
} from "../store/authority-repository.js";
import type { JsonObject } from "../store/codec.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { ContractCatalog, SubjectCollision, UseIssue } from "./catalog.js";
import { materializeGrants } from "./grants.js";
import {
  deriveProposal,
  desiredChange,
  desiredStateOf,
  desiredSurfaces,
  proposalFits,
  unionDesiredState,
} from "./proposal.js";
import type { MaterializedAuthorityView, Reconciler } from "./reconciler.js";

/** Why an authority request is refused. */
export type AuthorityRefusalReason =
  | "deployment_not_found"
  | "contract_catalog_issue"
  | "authority_current"
  | "plan_not_found"
  | "plan_not_pending"
  | "plan_is_migration"
  | "migration_requires_acknowledgement"
  | "desired_version_conflict";

/** A refused authority request, with a stable reason and a message naming what was wrong. */
export class AuthorityRefusal extends BaseError {
  constructor(
    readonly reason: AuthorityRefusalReason,
    message: string,
    context: Record<string, unknown> = {},
  ) {
    super(message, { context });
  }
}

/** How a presented contract stands against its deployment's desired state. */
export type Assessment =
  /** The digest is active and fits: nothing to decide. */
  | { kind: "active"; proposal: AuthorityProposal; useIssues: UseIssue[] }
  /** A new digest that fits and breaks nothing: it may be activated without a plan. */
  | { kind: "compatible"; proposal: AuthorityProposal; useIssues: UseIssue[] }
  /** A plan is needed. */
  | {
      kind: "plan";
      proposal: AuthorityProposal;
      useIssues: UseIssue[];
      classification: PlanClassification;
      desiredChange: DesiredChange;
      warnings: string[];
    };

/** Dependencies of {@link DeploymentAuthorityService}. */
export interface DeploymentAuthorityServiceOptions {
  store: ControlPlaneStore;
  catalog: ContractCatalog;
  /** Converges deployments after a decision. */
  reconciler: Reconciler;
  /** The clock. */
  now: () => Date;
  /** Told about reconciliations that throw (they are retried later; the decision stands). */
  onReconcileError?: (deploymentId: string, error: unknown) => void;
}

/** Options of an acceptance. */
export interface AcceptOptions {
  /** Refuse unless the desired state is at this version. */
  expectedDesiredVersion?: string;
  /** `update`: refuse migrations. `migration`: requires `acknowledgement` (unless decided by the system). */
  as: "update" | "migration";
  /** The admin's acknowledgement of a migration. */
  acknowledgement?: string;
}

/** What an accepted plan led to. */
export interface AcceptResult {
  authority: DeploymentAuthorityRecord;
  plan: AuthorityPlan;
  /** The reconciliation that followed, when it ran (a thrown one is reported, not returned). */
  materialized?: MaterializedAuthorityView;
}

function collisionRefusal(collisions: SubjectCollision[]): AuthorityRefusal {
  const first = collisions[0];
  return new AuthorityRefusal(
    "contract_catalog_issue",
    first?.message ?? "Contract collides with the catalog",
    {
      collisions: collisions.map((c) => ({ subject: c.subject, owner: c.owner, message: c.message })),
    },
  );
}

/** Plans and decisions over the store, the catalog and the reconciler. */
export class DeploymentAuthorityService {
  constructor(private readonly options: DeploymentAuthorityServiceOptions) {}

  private get store(): ControlPlaneStore {
    return this.options.store;
  }

  /** The proposals of the deployment's active digests, except those of lineage `exceptContractId`. */
  private otherLineageProposals(deploymentId: string, exceptContractId: string, resolve: ContractResolver) {
    const proposals: AuthorityProposal[] = [];
    for (const active of this.store.authorities.listActiveContracts(deploymentId)) {
      if (active.contractId === exceptContractId) continue;
      const stored = this.store.contracts.get(active.contractDigest);
      if (stored === undefined) continue;
      proposals.push(deriveProposal(deploymentId, stored.digest, stored.manifest, resolve));
    }
    return proposals;
  }

  /** The newest active manifest of a lineage in the deployment other than `digest`. */
  private previousOfLineage(
    deploymentId: string,
    contractId: string,
    digest: string,
  ): ContractManifest | undefined {
    const actives = this.store.authorities
      .listActiveContracts(deploymentId)
      .filter((c) => c.contractId === contractId && c.contractDigest !== digest);
    const newest = actives[actives.length - 1];
    return newest === undefined ? undefined : this.store.contracts.get(newest.contractDigest)?.manifest;
  }

  /** The desired state accepting `proposal` as `classification` leads to. */
  private nextDesiredState(
    authority: DeploymentAuthorityRecord,
    proposal: AuthorityProposal,
    classification: PlanClassification,
    resolve: ContractResolver,
  ): DesiredState {
    if (classification === "update") return unionDesiredState(authority.desiredState, proposal);
    return desiredStateOf([
      ...this.otherLineageProposals(authority.deploymentId, proposal.contractId, resolve),
      proposal,
    ]);
  }

  /**
   * How `manifest` (digest `digest`) stands against the deployment: refused when the deployment does
   * not exist or a subject collides with another contract (`contract_catalog_issue`); otherwise
   * active, compatible, or in need of an `update` or `migration` plan. A new digest whose lineage has
   * an active digest is a migration when `diffContracts` reports a breaking change.
   */
  assess(
    deploymentId: string,
    manifest: ContractManifest,
    digest: string,
  ): Result<Assessment, AuthorityRefusal> {
    const authority = this.store.authorities.ensure(deploymentId, this.options.now());
    if (authority === undefined) {
      return Result.err(
        new AuthorityRefusal("deployment_not_found", `Deployment '${deploymentId}' not found`, {
          deploymentId,
        }),
      );
    }
    const collisions = this.options.catalog.subjectCollisions(manifest, digest);
    if (collisions.length > 0) return Result.err(collisionRefusal(collisions));

    const resolve = this.options.catalog.resolver();
    const proposal = deriveProposal(deploymentId, digest, manifest, resolve);
    const useIssues = this.options.catalog.useIssues(manifest);
    const fits = proposalFits(authority.desiredState, proposal);
    if (fits && this.store.authorities.isActive(deploymentId, digest)) {
      return Result.ok({ kind: "active", proposal, useIssues });
    }
    const previous = this.previousOfLineage(deploymentId, manifest.id, digest);
    const diff = previous === undefined ? undefined : diffContracts(previous, manifest);
    const breaking = diff?.classification === "breaking";
    if (fits && !breaking) return Result.ok({ kind: "compatible", proposal, useIssues });

    const classification: PlanClassification = breaking ? "migration" : "update";
    const next = this.nextDesiredState(authority, proposal, classification, resolve);
    const warnings = [
      ...(diff?.breaking.map((change) => `${change.path}: ${change.message}`) ?? []),
      ...useIssues.filter((issue) => issue.required).map((issue) => issue.message),
    ];
    return Result.ok({
      kind: "plan",
      proposal,
      useIssues,
      classification,
      desiredChange: desiredChange(authority.desiredState, next),
      warnings,
    });
  }

  /**
   * The grants the deployment would materialize with `desired` and its active digests plus `digest`
   * (resource bindings are not known before reconciliation, so their grants are not included).
   */
  private materializationPreview(
    deploymentId: string,
    desired: DesiredState,
    proposal: AuthorityProposal,
    classification: PlanClassification,
  ): JsonObject {
    const resolve = this.options.catalog.resolver();
    const contracts = this.store.authorities
      .listActiveContracts(deploymentId)
      .filter((c) => classification === "update" || c.contractId !== proposal.contractId)
      .map((c) => this.store.contracts.get(c.contractDigest))
      .filter((c) => c !== undefined)
      .map((c) => ({ digest: c.digest, manifest: c.manifest }));
    const presented = this.store.contracts.get(proposal.contractDigest);
    if (presented !== undefined) contracts.push({ digest: presented.digest, manifest: presented.manifest });
    const { grants, unresolved } = materializeGrants({
      contracts,
      resolveContract: resolve,
      capabilities: desired.capabilities,
      surfaces: desiredSurfaces(desired),
      resourceBindings: {},
    });
    return JSON.parse(JSON.stringify({ grants, unresolved })) as JsonObject;
  }

  /**
   * Records the plan `assessment` needs, or returns the pending plan of the same deployment and digest
   * (plans are never duplicated). The manifest must be stored already.
   */
  recordPlan(assessment: Extract<Assessment, { kind: "plan" }>): AuthorityPlan {
    const { proposal } = assessment;
    const now = this.options.now();
    const pending = this.store.plans.findPending(proposal.deploymentId, proposal.contractDigest, now);
    if (pending !== undefined) return pending;
    const authority = this.store.authorities.ensure(proposal.deploymentId, now);
    if (authority === undefined)
      throw new Error(`deployment '${proposal.deploymentId}' vanished while planning`);
    const next = this.nextDesiredState(
      authority,
      proposal,
      assessment.classification,
      this.options.catalog.resolver(),
    );
    return this.store.plans.create(
      {
        deploymentId: proposal.deploymentId,
        classification: assessment.classification,
        proposal,
        desiredChange: assessment.desiredChange,
        materializationPreview: this.materializationPreview(
          proposal.deploymentId,
          next,
          proposal,
          assessment.classification,
        ),
        warnings: assessment.warnings,
      },
      now,
    );
  }

  /**
   * `Auth.DeploymentAuthority.Plan`: stores the manifest and records the plan it needs. Refuses a
   * manifest the desired state already allows (`authority_current`).
   */
  plan(deploymentId: string, manifest: ContractManifest): Result<AuthorityPlan, AuthorityRefusal> {
    const stored = this.store.contracts.put(manifest, this.options.now());
    const assessed = this.assess(deploymentId, stored.manifest, stored.digest);
    if (!assessed.ok) return Result.err(assessed.error);
    const assessment = assessed.value;
    if (assessment.kind !== "plan") {
      return Result.err(
        new AuthorityRefusal(
          "authority_current",
          `Deployment '${deploymentId}' already allows contract '${manifest.id}' (digest '${stored.digest}'); no plan is needed`,
          { deploymentId, contractId: manifest.id, contractDigest: stored.digest },
        ),
      );
    }
    return Result.ok(this.recordPlan(assessment));
  }

  /**
   * Accepts a pending plan: the desired state becomes the union (update) or the proposals of the
   * other lineages plus this one (migration) with a new version, the digest becomes active (a
   * migration retires the lineage's other digests and stales their offers), then the deployment and
   * the deployments that use the contract are reconciled.
   */
  async accept(
    planId: string,
    decisionBy: PlanDecisionBy,
    options: AcceptOptions,
  ): Promise<Result<AcceptResult, AuthorityRefusal>> {
    const now = this.options.now();
    this.store.plans.expireDue(now);
    const plan = this.store.plans.get(planId);
    if (plan === undefined)
      return Result.err(
        new AuthorityRefusal("plan_not_found", `Authority plan '${planId}' not found`, { planId }),
      );
    if (plan.state !== "pending") {
      return Result.err(
        new AuthorityRefusal("plan_not_pending", `Authority plan '${planId}' is ${plan.state}, not pending`, {
          planId,
          state: plan.state,
        }),
      );
    }
    if (options.as === "update" && plan.classification === "migration") {
      return Result.err(
        new AuthorityRefusal(
          "plan_is_migration",
          `Authority plan '${planId}' is a migration; accept it with Auth.DeploymentAuthority.AcceptMigration and an acknowledgement`,
          { planId },
        ),
      );
    }
    if (
      plan.classification === "migration" &&
      decisionBy.kind === "user" &&
      (options.acknowledgement === undefined || options.acknowledgement.trim() === "")
    ) {
      return Result.err(
        new AuthorityRefusal(
          "migration_requires_acknowledgement",
          `Authority plan '${planId}' is a migration and needs a non-empty acknowledgement`,
          { planId },
        ),
      );
    }
    const stored = this.store.contracts.get(plan.proposal.contractDigest);
    if (stored === undefined)
      throw new Error(`contract '${plan.proposal.contractDigest}' of plan '${planId}' is not stored`);
    const collisions = this.options.catalog.subjectCollisions(stored.manifest, stored.digest);
    if (collisions.length > 0) return Result.err(collisionRefusal(collisions));
    const resolve = this.options.catalog.resolver();

    const decided = this.store.transaction(
      (): Result<{ authority: DeploymentAuthorityRecord; plan: AuthorityPlan }, AuthorityRefusal> => {
        const authority = this.store.authorities.ensure(plan.deploymentId, now);
        if (authority === undefined) {
          return Result.err(
            new AuthorityRefusal("deployment_not_found", `Deployment '${plan.deploymentId}' not found`),
          );
        }
        const next = this.nextDesiredState(authority, plan.proposal, plan.classification, resolve);
        const updated = this.store.authorities.setDesiredState(
          plan.deploymentId,
          next,
          options.expectedDesiredVersion,
          now,
        );
        if (!updated.ok) {
          const error = updated.error;
          return Result.err(new AuthorityRefusal(error.reason, error.message, error.context ?? {}));
        }
        const reason = plan.classification === "migration" ? options.acknowledgement?.trim() || null : null;
        const accepted = this.store.plans.decide(planId, "accepted", decisionBy, reason, now);
        if (!accepted.ok) throw accepted.error;
        this.store.authorities.activateContract(plan.deploymentId, stored.contractId, stored.digest, now);
        if (plan.classification === "migration") {
          const retired = this.store.authorities.retireOtherDigests(
            plan.deploymentId,
            stored.contractId,
            stored.digest,
          );
          this.store.offers.staleDigests(plan.deploymentId, retired, now);
        }
        return Result.ok({ authority: updated.value, plan: accepted.value });
      },
    );
    if (!decided.ok) return Result.err(decided.error);
    const materialized = await this.reconcile(plan.deploymentId, stored.contractId);
    return Result.ok({ ...decided.value, ...(materialized !== undefined && { materialized }) });
  }

  /** Activates a compatible digest without a plan (bootstrap), then reconciles. */
  async activateCompatible(
    deploymentId: string,
    contractId: string,
    digest: string,
  ): Promise<MaterializedAuthorityView | undefined> {
    this.store.authorities.activateContract(deploymentId, contractId, digest, this.options.now());
    return this.reconcile(deploymentId, contractId);
  }

  /**
   * Reconciles the deployment now; with `desiredVersion`, refuses (`desired_version_conflict`) when the
   * desired state is at another version, and `deployment_not_found` for an unknown deployment.
   */
  async reconcileNow(
    deploymentId: string,
    desiredVersion?: string,
  ): Promise<
    Result<
      { authority: DeploymentAuthorityRecord; materialized: MaterializedAuthorityView },
      AuthorityRefusal
    >
  > {
    const authority = this.store.authorities.ensure(deploymentId, this.options.now());
    if (authority === undefined) {
      return Result.err(
        new AuthorityRefusal("deployment_not_found", `Deployment '${deploymentId}' not found`, {
          deploymentId,
        }),
      );
    }
    if (desiredVersion !== undefined && desiredVersion !== authority.version) {
      return Result.err(
        new AuthorityRefusal(
          "desired_version_conflict",
          `Deployment '${deploymentId}' authority is at version '${authority.version}', not the expected '${desiredVersion}'`,
          { deploymentId, expected: desiredVersion, actual: authority.version },
        ),
      );
    }
    const materialized = await this.options.reconciler.reconcile(deploymentId);
    return Result.ok({ authority: this.store.authorities.get(deploymentId) ?? authority, materialized });
  }

  /** Rejects a pending plan; the desired state is left as it is. */
  reject(
    planId: string,
    decisionBy: PlanDecisionBy,
    reason?: string,
  ): Result<AuthorityPlan, AuthorityRefusal> {
    const decided = this.store.plans.decide(
      planId,
      "rejected",
      decisionBy,
      reason ?? null,
      this.options.now(),
    );
    if (!decided.ok)
      return Result.err(
        new AuthorityRefusal(decided.error.reason, decided.error.message, decided.error.context ?? {}),
      );
    return Result.ok(decided.value);
  }

  /**
   * Reconciles the deployment, then the deployments that use `contractId` (its activation may have
   * resolved their dependencies). A throwing reconciliation is reported and leaves `undefined`.
   */
  private async reconcile(
    deploymentId: string,
    contractId: string,
  ): Promise<MaterializedAuthorityView | undefined> {
    let materialized: MaterializedAuthorityView | undefined;
    try {
      materialized = await this.options.reconciler.reconcile(deploymentId);
    } catch (error) {
      this.options.onReconcileError?.(deploymentId, error);
    }
    try {
      await this.options.reconciler.reconcileDependentsOf(contractId);
    } catch (error) {
      this.options.onReconcileError?.(deploymentId, error);
    }
    return materialized;
  }
}
