/**
 * Contract-gated user approval (auth spec §1.5): what an app/agent contract asks a user to consent
 * to ({@link planUserContractApproval}) and whether a user may bind it now
 * ({@link decideUserContractApproval}).
 *
 * Grant overrides and deployment-grant approval (§1.5 steps 2 and 4) are left out for now: they are
 * deployment-owned and arrive with the deployment layer. Until then effective capabilities are the
 * user's own, and consent is either a stored identity grant or the portal.
 */
import { BUILTIN_CONTRACTS } from "@trellis/builtin-contracts";
import {
  ADMIN_CAPABILITY,
  analyzeContract,
  type CapabilityMetadata,
  type ContractManifest,
  type ContractResolver,
  deriveCallerPermissions,
  digestContractManifest,
  type PermissionRule,
  SERVICE_CAPABILITY,
  validateContractManifest,
} from "@trellis/contracts";
import { Result } from "@trellis/result";
import { sortedUnique } from "../store/codec.js";
import type { IdentityAnchor, IdentityGrant } from "../store/identity-grants-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User } from "../store/users-repository.js";
import { resolveUserCapabilities } from "../users/capabilities.js";
import { FlowError } from "./errors.js";

/** What the user is shown for one capability. */
export type ApprovalCapability = {
  displayName: string;
  description: string;
  consequence?: string;
};

/** What the user approves: the contract and the capabilities it exercises on the user's behalf. */
export type UserContractApproval = {
  contractDigest: string;
  contractId: string;
  displayName: string;
  description: string;
  participantKind: "app" | "agent";
  /** Required capability keys with their display metadata, sorted by key. */
  capabilities: Record<string, ApprovalCapability>;
};

/** The approval of a contract plus the NATS subjects a bound session gets. */
export interface UserContractApprovalPlan {
  approval: UserContractApproval;
  /** Sorted, unique wildcard subjects the session may publish to. */
  publishSubjects: string[];
  /** Sorted, unique wildcard subjects the session may subscribe to (the inbox is added at connect). */
  subscribeSubjects: string[];
}

/**
 * The session-independent plan never includes the inbox; the permission derivation needs some key to
 * build the inbox rule, which is then dropped.
 */
const PLACEHOLDER_SESSION_KEY = "A".repeat(43);

const PLATFORM_CAPABILITIES: Readonly<Record<string, ApprovalCapability>> = {
  [ADMIN_CAPABILITY]: {
    displayName: "Administer Trellis",
    description: "Full administrative access to this Trellis installation.",
  },
  [SERVICE_CAPABILITY]: {
    displayName: "Act as a service",
    description: "Capabilities reserved for deployed services.",
  },
};

function participantKindOf(manifest: ContractManifest): "app" | "agent" | undefined {
  return manifest.kind === "app" || manifest.kind === "agent" ? manifest.kind : undefined;
}

/** Metadata of `key` from the first contract that defines it (the contract itself, then its uses). */
function capabilityMetadata(key: string, definers: readonly ContractManifest[]): ApprovalCapability {
  for (const manifest of definers) {
    const metadata: CapabilityMetadata | undefined = manifest.capabilities?.[key];
    if (metadata !== undefined) {
      return {
        displayName: metadata.displayName,
        description: metadata.description,
        ...(metadata.consequence !== undefined && { consequence: metadata.consequence }),
      };
    }
  }
  return PLATFORM_CAPABILITIES[key] ?? { displayName: key, description: `Capability '${key}'.` };
}

/**
 * Plans the approval of an app or agent contract (§1.5 step 1). The contract must validate and be of
 * kind `app` or `agent`. Subjects come from the shared permission derivation: its own events
 * (publish), used RPCs and operations (call, control, transfers), used event publishes and feeds
 * (publish) and used event subscriptions (subscribe). Required capabilities are those of every
 * subject; each key's display metadata comes from the contract that defines it. A required `uses`
 * entry that does not resolve fails (`contract_dependency_unresolved`); optional ones are skipped.
 */
export function planUserContractApproval(
  contract: unknown,
  resolveContract: ContractResolver,
): Result<UserContractApprovalPlan, FlowError> {
  const validated = validateContractManifest(contract);
  if (!validated.ok) return Result.err(new FlowError("invalid_manifest", validated.error.message));
  const manifest = validated.value;
  const participantKind = participantKindOf(manifest);
  if (participantKind === undefined) {
    return Result.err(
      new FlowError(
        "contract_kind_not_allowed",
        `Contract '${manifest.id}' is a ${manifest.kind} contract; only app and agent contracts can be approved by users`,
      ),
    );
  }

  const permissions = deriveCallerPermissions({
    contract: manifest,
    resolveContract,
    sessionKey: PLACEHOLDER_SESSION_KEY,
  });
  const missing = permissions.unresolved.filter((use) => !use.optional);
  if (missing.length > 0) {
    const names = missing.map((use) =>
      use.surface === undefined
        ? use.contractId
        : `${use.contractId} ${use.surface.kind} '${use.surface.name}'`,
    );
    return Result.err(
      new FlowError("contract_dependency_unresolved", `Contract '${manifest.id}' uses ${names.join(", ")}`, {
        unresolved: names,
      }),
    );
  }

  const ownEventPublishes = analyzeContract(manifest).nats.publish.filter(
    (entry) => entry.kind === "event:publish",
  );
  const subscribeRules = permissions.subscribe.filter((rule) => rule.surface.kind !== "inbox");
  const rules: Pick<PermissionRule, "subject" | "requiredCapabilities">[] = [
    ...permissions.publish,
    ...subscribeRules,
    ...ownEventPublishes,
  ];

  const definers: ContractManifest[] = [manifest];
  for (const use of [
    ...Object.values(manifest.uses?.required ?? {}),
    ...Object.values(manifest.uses?.optional ?? {}),
  ]) {
    const used = resolveContract(use.contract);
    if (used !== undefined) definers.push(used);
  }
  const capabilities: Record<string, ApprovalCapability> = {};
  for (const key of sortedUnique(rules.flatMap((rule) => rule.requiredCapabilities))) {
    capabilities[key] = capabilityMetadata(key, definers);
  }

  return Result.ok({
    approval: {
      contractDigest: digestContractManifest(manifest),
      contractId: manifest.id,
      displayName: manifest.displayName,
      description: manifest.description,
      participantKind,
      capabilities,
    },
    publishSubjects: sortedUnique([
      ...permissions.publish.map((rule) => rule.subject),
      ...ownEventPublishes.map((entry) => entry.subject),
    ]),
    subscribeSubjects: sortedUnique(subscribeRules.map((rule) => rule.subject)),
  });
}

/** The capability keys a plan requires. */
export function requiredCapabilities(plan: UserContractApprovalPlan): string[] {
  return Object.keys(plan.approval.capabilities).sort();
}

/**
 * `true` when a stored grant covers every capability and subject of the plan (§1.5 step 3). The
 * digest the grant was given for is evidence only: a new digest asking for no more is covered.
 */
export function grantCoversPlan(grant: IdentityGrant, plan: UserContractApprovalPlan): boolean {
  if (grant.answer !== "approved" || grant.contractId !== plan.approval.contractId) return false;
  const covers = (held: readonly string[], needed: readonly string[]) => {
    const set = new Set(held);
    return needed.every((item) => set.has(item));
  };
  return (
    covers(grant.capabilities, requiredCapabilities(plan)) &&
    covers(grant.publishSubjects, plan.publishSubjects) &&
    covers(grant.subscribeSubjects, plan.subscribeSubjects)
  );
}

/** Whether a user may bind a planned contract now. */
export type UserApprovalDecision =
  /** A stored grant covers the plan. */
  | { status: "approved"; grant: IdentityGrant }
  /** The user must consent in the portal. */
  | { status: "approval_required" }
  /** The user lacks required capabilities; consent cannot help. */
  | { status: "insufficient_capabilities"; missingCapabilities: string[]; userCapabilities: string[] }
  /** The account is missing or deactivated. */
  | { status: "user_inactive" };

/** Input of {@link decideUserContractApproval}. */
export interface UserApprovalDecisionInput {
  plan: UserContractApprovalPlan;
  /** The account, or `undefined` when it no longer exists. */
  user: Pick<User, "active"> | undefined;
  /** The user's effective capabilities. */
  userCapabilities: readonly string[];
  /** The stored grant for (user, anchor), if any. */
  storedGrant: IdentityGrant | undefined;
}

/**
 * §1.5 steps 2, 3 and 5: an inactive (or missing) user is refused even with a stored grant; missing
 * capabilities are `insufficient_capabilities`; a covering stored grant approves; otherwise consent
 * is required.
 */
export function decideUserContractApproval(input: UserApprovalDecisionInput): UserApprovalDecision {
  if (input.user === undefined || !input.user.active) return { status: "user_inactive" };
  const held = new Set(input.userCapabilities);
  const missingCapabilities = requiredCapabilities(input.plan).filter((key) => !held.has(key));
  if (missingCapabilities.length > 0) {
    return {
      status: "insufficient_capabilities",
      missingCapabilities,
      userCapabilities: sortedUnique(input.userCapabilities),
    };
  }
  if (input.storedGrant !== undefined && grantCoversPlan(input.storedGrant, input.plan)) {
    return { status: "approved", grant: input.storedGrant };
  }
  return { status: "approval_required" };
}

/** {@link decideUserContractApproval} with the user, capabilities and grant read from the store. */
export function evaluateUserContractApproval(
  store: ControlPlaneStore,
  input: { userId: string; anchor: IdentityAnchor; plan: UserContractApprovalPlan },
): UserApprovalDecision {
  const user = store.users.get(input.userId);
  return decideUserContractApproval({
    plan: input.plan,
    user,
    userCapabilities: user === undefined ? [] : resolveUserCapabilities(user, store.capabilityGroups.list()),
    storedGrant: store.identityGrants.find(input.userId, input.anchor),
  });
}

const BUILTIN_BY_ID: ReadonlyMap<string, ContractManifest> = new Map(
  BUILTIN_CONTRACTS.map((module) => [module.CONTRACT_ID, module.CONTRACT]),
);

/**
 * Resolves used contracts for planning: a builtin contract (the control plane implements those, so
 * its own manifest is authoritative), else the newest stored *service* manifest of that id. App and
 * agent manifests are ignored because anyone may present one to `POST /auth/requests`, and they must
 * not be able to shadow a provider's surfaces. (Which digest is *active* is decided by the deployment
 * layer once it exists.)
 */
export function storeContractResolver(store: ControlPlaneStore): ContractResolver {
  return (contractId) => {
    const builtin = BUILTIN_BY_ID.get(contractId);
    if (builtin !== undefined) return builtin;
    return store.contracts.listByContractId(contractId).find((stored) => stored.manifest.kind === "service")
      ?.manifest;
  };
}
