/**
 * `Auth.DeploymentAuthority.*`: the admin side of deployment authority (auth spec §1.4, §5.2) — read
 * desired and materialized authority, plan a contract, list and read plans, accept (update or
 * acknowledged migration), reject, and reconcile. The rules live in `src/authority/`.
 */
import { type ContractManifest, digestContractManifest, validateContractManifest } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { ValidationError } from "@trellis/runtime";
import type { AuthorityRefusal } from "../authority/planning.js";
import type { MaterializedAuthorityView, MaterializedNatsGrant } from "../authority/reconciler.js";
import type {
  AuthorityPlan,
  DeploymentAuthorityRecord,
  PlanDecisionBy,
} from "../store/authority-repository.js";
import { mapPage } from "./paging.js";
import { refuse, success } from "./responses.js";
import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";

type AuthorityRpc =
  | "Auth.DeploymentAuthority.List"
  | "Auth.DeploymentAuthority.Get"
  | "Auth.DeploymentAuthority.Plan"
  | "Auth.DeploymentAuthority.Plans.List"
  | "Auth.DeploymentAuthority.Plans.Get"
  | "Auth.DeploymentAuthority.AcceptUpdate"
  | "Auth.DeploymentAuthority.AcceptMigration"
  | "Auth.DeploymentAuthority.Reject"
  | "Auth.DeploymentAuthority.Reconcile";

type AuthorityView = AuthRpcOutput<"Auth.DeploymentAuthority.Get">["authority"];
type PlanView = AuthRpcOutput<"Auth.DeploymentAuthority.Plans.Get">["plan"];
type MaterializationView = AuthRpcOutput<"Auth.DeploymentAuthority.Reconcile">["materializedAuthority"];
type NatsGrantView = MaterializationView["grants"]["nats"][number];
type BindingView = MaterializationView["resourceBindings"][number];

const GRANT_SOURCES = {
  contract: "owned-surface",
  uses: "used-surface",
  resource: "resource-binding",
  platform: "platform-service",
} as const;

const SURFACE_KINDS = new Set(["rpc", "operation", "event", "feed"]);
const SURFACE_ACTIONS = new Set(["call", "publish", "subscribe", "observe", "cancel"]);

/** A desired authority as the RPCs show it (disabled when the authority or its deployment is). */
export function authorityView(record: DeploymentAuthorityRecord, deploymentDisabled: boolean): AuthorityView {
  return {
    deploymentId: record.deploymentId,
    kind: record.kind,
    disabled: record.disabled || deploymentDisabled,
    desiredState: record.desiredState,
    version: record.version,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** A plan as the RPCs show it. */
export function planView(plan: AuthorityPlan): PlanView {
  const base = {
    planId: plan.planId,
    deploymentId: plan.deploymentId,
    state: plan.state,
    proposal: plan.proposal,
    desiredChange: plan.desiredChange,
    materializationPreview: plan.materializationPreview,
    warnings: plan.warnings,
    createdAt: plan.createdAt,
    expiresAt: plan.expiresAt,
    decisionAt: plan.decisionAt,
    decisionBy: plan.decisionBy,
    decisionReason: plan.decisionReason,
  };
  return plan.classification === "migration"
    ? { ...base, classification: "migration", acknowledgementRequired: plan.acknowledgementRequired }
    : { ...base, classification: "update" };
}

function natsGrantView(grant: MaterializedNatsGrant): NatsGrantView {
  const surface = grant.surface;
  const view: NatsGrantView = {
    direction: grant.direction,
    subject: grant.subject,
    requiredCapabilities: grant.requiredCapabilities,
    grantSource: surface?.kind === "transfer" ? "transfer" : GRANT_SOURCES[grant.grantSource],
  };
  if (surface !== undefined && SURFACE_KINDS.has(surface.kind)) {
    view.surface = {
      contractId: surface.contractId,
      kind: surface.kind as "rpc" | "operation" | "event" | "feed",
      name: surface.name,
      ...(SURFACE_ACTIONS.has(surface.action) && {
        action: surface.action as "call" | "publish" | "subscribe" | "observe" | "cancel",
      }),
    };
  }
  return view;
}

/** A materialized authority as the RPCs show it: bindings as a list, grants in the reference's shape. */
export function materializationView(view: MaterializedAuthorityView): MaterializationView {
  const at = view.reconciledAt;
  const binding = (kind: BindingView["kind"], alias: string, value: object): BindingView => ({
    deploymentId: view.deploymentId,
    kind,
    alias,
    binding: { ...value },
    limits: null,
    createdAt: at,
    updatedAt: at,
  });
  const bindings = view.resourceBindings;
  const resourceBindings: BindingView[] = [
    ...Object.entries(bindings.kv ?? {}).map(([alias, value]) => binding("kv", alias, value)),
    ...Object.entries(bindings.store ?? {}).map(([alias, value]) => binding("store", alias, value)),
    ...Object.entries(bindings.jobs?.queues ?? {}).map(([alias, value]) => binding("jobs", alias, value)),
    ...Object.entries(bindings.eventConsumers ?? {}).map(([alias, value]) =>
      binding("event-consumer", alias, value),
    ),
  ];
  return {
    deploymentId: view.deploymentId,
    desiredVersion: view.desiredVersion,
    status: view.status,
    resourceBindings,
    grants: {
      capabilities: view.grants.capabilities.map((capability) => ({ capability })),
      surfaces: view.grants.surfaces.map((s) => ({
        contractId: s.contractId,
        surfaceKind: s.kind,
        name: s.name,
      })),
      nats: view.grants.nats.map(natsGrantView),
    },
    reconciledAt: at,
    ...(view.error !== undefined && view.error !== "" && { error: view.error }),
  };
}

function refusal(error: AuthorityRefusal) {
  return refuse(error.reason, error.message, error.context);
}

/** Handlers of `Auth.DeploymentAuthority.*`. */
export function authorityHandlers({ ctx }: AuthRpcDeps): AuthRpcHandlers<AuthorityRpc> {
  const { store, deploymentAuthority } = ctx;
  const deploymentDisabled = (deploymentId: string) =>
    store.serviceDeployments.get(deploymentId)?.disabled === true;
  const adminOf = (caller: { type: string; id: string }): PlanDecisionBy => ({
    kind: "user",
    userId: caller.id,
  });

  const decide = async (
    planId: string,
    caller: { type: string; id: string },
    options: Parameters<typeof deploymentAuthority.accept>[2],
  ) => {
    const accepted = await deploymentAuthority.accept(planId, adminOf(caller), options);
    if (!accepted.ok) return refusal(accepted.error);
    const { authority } = accepted.value;
    return Result.ok({ authority: authorityView(authority, deploymentDisabled(authority.deploymentId)) });
  };

  return {
    "Auth.DeploymentAuthority.List": async ({ input }) => {
      // Only service deployments exist: other kinds have no authority.
      if (input.kind !== undefined && input.kind !== "service") {
        return Result.ok({ entries: [], count: 0, offset: input.offset ?? 0, limit: input.limit });
      }
      const page = store.authorities.list(
        { offset: input.offset, limit: input.limit },
        input.disabled === undefined ? {} : { disabled: input.disabled },
        ctx.now(),
      );
      return Result.ok(
        mapPage(page, (record) => authorityView(record, deploymentDisabled(record.deploymentId))),
      );
    },

    "Auth.DeploymentAuthority.Get": async ({ input }) => {
      const record = store.authorities.ensure(input.deploymentId, ctx.now());
      if (record === undefined) {
        return refuse("deployment_not_found", `Deployment '${input.deploymentId}' not found`, {
          deploymentId: input.deploymentId,
        });
      }
      const materialized = store.materialized.get(input.deploymentId);
      return Result.ok({
        authority: authorityView(record, deploymentDisabled(record.deploymentId)),
        materializedAuthority: materialized === undefined ? null : materializationView(materialized),
        // Deployment portal routes and grant overrides are not served yet: there are none.
        portalRoute: null,
        grantOverrides: [],
      });
    },

    "Auth.DeploymentAuthority.Plan": async ({ input }) => {
      const validated = validateContractManifest(input.contract);
      if (!validated.ok) {
        const problems = validated.error.problems;
        return refuse(
          "presented_contract_invalid",
          `Contract is invalid: ${problems.map((p) => `${p.path || "/"}: ${p.message}`).join("; ")}`,
          { problems },
        );
      }
      const manifest: ContractManifest = validated.value;
      const digest = digestContractManifest(manifest);
      if (digest !== input.expectedDigest) {
        return refuse(
          "presented_contract_digest_mismatch",
          `Contract digests to '${digest}', not the expected '${input.expectedDigest}'`,
          { digest, expectedDigest: input.expectedDigest },
        );
      }
      const planned = deploymentAuthority.plan(input.deploymentId, manifest);
      if (!planned.ok) return refusal(planned.error);
      return Result.ok({ plan: planView(planned.value) });
    },

    "Auth.DeploymentAuthority.Plans.List": async ({ input }) => {
      store.plans.expireDue(ctx.now());
      // Only service deployments exist: other kinds have no plans.
      if (input.kind !== undefined && input.kind !== "service") {
        return Result.ok({ entries: [], count: 0, offset: input.offset ?? 0, limit: input.limit });
      }
      const page = store.plans.list(
        { offset: input.offset, limit: input.limit },
        {
          ...(input.deploymentId !== undefined && { deploymentId: input.deploymentId }),
          ...(input.state !== undefined && { state: input.state }),
          ...(input.classification !== undefined && { classification: input.classification }),
        },
      );
      return Result.ok(mapPage(page, planView));
    },

    "Auth.DeploymentAuthority.Plans.Get": async ({ input }) => {
      store.plans.expireDue(ctx.now());
      const plan = store.plans.get(input.planId);
      if (plan === undefined) {
        return refuse("plan_not_found", `Authority plan '${input.planId}' not found`, {
          planId: input.planId,
        });
      }
      return Result.ok({ plan: planView(plan) });
    },

    "Auth.DeploymentAuthority.AcceptUpdate": async ({ input, context }) =>
      decide(input.planId, context.caller, {
        as: "update",
        ...(input.expectedDesiredVersion !== undefined && {
          expectedDesiredVersion: input.expectedDesiredVersion,
        }),
      }),

    "Auth.DeploymentAuthority.AcceptMigration": async ({ input, context }) => {
      if (input.acknowledgement.trim() === "") {
        return Result.err(
          new ValidationError([
            { path: "/acknowledgement", message: "must say why the migration is accepted" },
          ]),
        );
      }
      return decide(input.planId, context.caller, {
        as: "migration",
        acknowledgement: input.acknowledgement,
        ...(input.expectedDesiredVersion !== undefined && {
          expectedDesiredVersion: input.expectedDesiredVersion,
        }),
      });
    },

    "Auth.DeploymentAuthority.Reject": async ({ input, context }) => {
      const rejected = deploymentAuthority.reject(input.planId, adminOf(context.caller), input.reason);
      if (!rejected.ok) return refusal(rejected.error);
      return success();
    },

    "Auth.DeploymentAuthority.Reconcile": async ({ input }) => {
      const reconciled = await deploymentAuthority.reconcileNow(input.deploymentId, input.desiredVersion);
      if (!reconciled.ok) return refusal(reconciled.error);
      const { authority, materialized } = reconciled.value;
      return Result.ok({
        authority: authorityView(authority, deploymentDisabled(authority.deploymentId)),
        materializedAuthority: materializationView(materialized),
      });
    },
  };
}
