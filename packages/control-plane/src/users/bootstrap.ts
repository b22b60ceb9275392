/**
 * Administrator bootstrap. When no active admin exists, startup calls {@link ensureAdminBootstrap}:
 * it makes sure a local user `admin` exists (inactive until bootstrapped) and issues a single-use,
 * 24 h `local_password_reset` account flow for it whose URL the caller logs. Opening the URL and
 * choosing a password ({@link completeAdminBootstrap}) sets the password, grants the `admin` group,
 * activates the account and consumes the flow. {@link ensureDevAdmin} is the non-interactive path for
 * development and CI.
 */
import { Result } from "@trellis/result";
import { type AccountFlow, accountFlowUnavailability } from "../store/account-flows-repository.js";
import { ADMIN_GROUP_KEY } from "../store/capability-groups-repository.js";
import { sortedUnique } from "../store/codec.js";
import { AccountFlowUnavailableError } from "../store/errors.js";
import { LOCAL_PROVIDER } from "../store/identities-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User } from "../store/users-repository.js";
import { activeAdminIds } from "./capabilities.js";
import { type PasswordPolicyError, UsernameTakenError } from "./errors.js";
import {
  checkPasswordPolicy,
  DEFAULT_PASSWORD_POLICY,
  hashPassword,
  type PasswordPolicy,
} from "./passwords.js";

/** Lifetime of the bootstrap flow (24 h). */
export const ADMIN_BOOTSTRAP_TTL_MS = 24 * 60 * 60 * 1000;

/** Username of the bootstrapped local administrator. */
export const DEFAULT_ADMIN_USERNAME = "admin";

/** Portal path where a local password is set from an account flow. */
export const ACCOUNT_PASSWORD_PATH = "/_trellis/portal/account/password";

/** `true` when at least one active user holds `admin` (directly or via groups). */
export function hasActiveAdmin(store: ControlPlaneStore): boolean {
  return activeAdminIds(store).length > 0;
}

/** `<publicOrigin>/_trellis/portal/account/password?flowId=<flowId>`. */
export function accountPasswordUrl(publicOrigin: string, flowId: string): string {
  return `${publicOrigin.replace(/\/+$/, "")}${ACCOUNT_PASSWORD_PATH}?flowId=${encodeURIComponent(flowId)}`;
}

/**
 * `true` for the flows {@link ensureAdminBootstrap} issues: system-created (`createdByUserId` null)
 * `local_password_reset` flows for a local username. Admin-issued resets always carry their creator.
 */
export function isAdminBootstrapFlow(flow: AccountFlow): boolean {
  return (
    flow.kind === "local_password_reset" &&
    flow.createdByUserId === null &&
    flow.targetUserId !== null &&
    flow.targetLocalUsername !== null
  );
}

/** Options of {@link ensureAdminBootstrap}. */
export interface AdminBootstrapOptions {
  /** Public origin of the control plane, e.g. `https://trellis.example.com`. */
  publicOrigin: string;
  now?: Date;
  /** Default `admin`. */
  username?: string;
}

/** Result of {@link ensureAdminBootstrap}. */
export type AdminBootstrapStatus =
  | { status: "admin_present" }
  | {
      status: "bootstrap_required";
      userId: string;
      username: string;
      /** The secret flow id (only its hash is stored). */
      flowId: string;
      /** The URL to log: opening it lets the operator choose the admin password. */
      url: string;
      expiresAt: string;
    };

/**
 * When no active admin exists: creates (once) the local user `admin` — inactive, group `admin` — and a
 * fresh single-use 24 h bootstrap flow for it, replacing bootstrap flows issued earlier (their ids
 * were only ever logged, so they cannot be shown again). Returns the URL for the caller to log.
 * When an active admin exists, does nothing.
 */
export function ensureAdminBootstrap(
  store: ControlPlaneStore,
  options: AdminBootstrapOptions,
): AdminBootstrapStatus {
  const now = options.now ?? store.clock();
  const username = options.username ?? DEFAULT_ADMIN_USERNAME;
  return store.transaction((): AdminBootstrapStatus => {
    if (hasActiveAdmin(store)) return { status: "admin_present" };

    let identity = store.identities.findLocal(username);
    if (identity === undefined) {
      const user = store.users
        .create({ name: username, email: null, active: false, capabilityGroups: [ADMIN_GROUP_KEY] }, now)
        .unwrap();
      identity = store.identities
        .link(
          { userId: user.userId, provider: LOCAL_PROVIDER, subject: username, displayName: username },
          now,
        )
        .unwrap();
    }

    for (const previous of store.accountFlows.listPendingForUser("local_password_reset", identity.userId)) {
      if (isAdminBootstrapFlow(previous)) store.accountFlows.deleteByHash(previous.flowIdHash);
    }
    const { flowId, flow } = store.accountFlows.create(
      {
        kind: "local_password_reset",
        ttlMs: ADMIN_BOOTSTRAP_TTL_MS,
        targetUserId: identity.userId,
        targetIdentityId: identity.identityId,
        targetLocalUsername: username,
        createdByUserId: null,
      },
      now,
    );
    return {
      status: "bootstrap_required",
      userId: identity.userId,
      username,
      flowId,
      url: accountPasswordUrl(options.publicOrigin, flowId),
      expiresAt: flow.expiresAt,
    };
  });
}

/** Options of {@link completeLocalPasswordReset} / {@link completeAdminBootstrap}. */
export interface CompletePasswordFlowOptions {
  now?: Date;
  policy?: PasswordPolicy;
}

/** Failures of completing a password flow. */
export type PasswordFlowError = AccountFlowUnavailableError | PasswordPolicyError | UsernameTakenError;

/**
 * Completes a `local_password_reset` account flow: checks the policy, sets the password of the
 * target user's local identity (linking one with the flow's username if the user has none), and
 * consumes the flow — all at once, so a flow works exactly once. A bootstrap flow
 * ({@link isAdminBootstrapFlow}) also grants the `admin` group and activates the account.
 * Unknown, expired, used or non-password flows fail with `flow_not_found|flow_expired|flow_consumed`.
 */
export async function completeLocalPasswordReset(
  store: ControlPlaneStore,
  flowId: string,
  password: string,
  options: CompletePasswordFlowOptions = {},
): Promise<Result<User, PasswordFlowError>> {
  return completePasswordFlow(store, flowId, password, options, false);
}

/** Like {@link completeLocalPasswordReset}, but only accepts admin bootstrap flows. */
export async function completeAdminBootstrap(
  store: ControlPlaneStore,
  flowId: string,
  password: string,
  options: CompletePasswordFlowOptions = {},
): Promise<Result<User, PasswordFlowError>> {
  return completePasswordFlow(store, flowId, password, options, true);
}

async function completePasswordFlow(
  store: ControlPlaneStore,
  flowId: string,
  password: string,
  options: CompletePasswordFlowOptions,
  bootstrapOnly: boolean,
): Promise<Result<User, PasswordFlowError>> {
  const now = options.now ?? store.clock();
  const acceptable = (flow: AccountFlow | undefined): flow is AccountFlow & { targetUserId: string } =>
    flow !== undefined &&
    flow.kind === "local_password_reset" &&
    flow.targetUserId !== null &&
    (!bootstrapOnly || isAdminBootstrapFlow(flow));

  const found = store.accountFlows.getUsable(flowId, now);
  if (!found.ok) return Result.err(found.error);
  if (!acceptable(found.value)) return Result.err(new AccountFlowUnavailableError("flow_not_found"));
  const policy = checkPasswordPolicy(password, options.policy ?? DEFAULT_PASSWORD_POLICY);
  if (!policy.ok) return Result.err(policy.error);

  const hash = await hashPassword(password);

  return store.transaction((): Result<User, PasswordFlowError> => {
    // Re-read: the flow may have been used while the password was being hashed.
    const flow = store.accountFlows.findByFlowId(flowId);
    if (!acceptable(flow)) {
      return Result.err(new AccountFlowUnavailableError("flow_not_found"));
    }
    const unavailable = accountFlowUnavailability(flow, now);
    if (unavailable !== undefined) return Result.err(new AccountFlowUnavailableError(unavailable));
    const user = store.users.get(flow.targetUserId);
    if (user === undefined) return Result.err(new AccountFlowUnavailableError("flow_not_found"));

    let identity = store.identities.findLocalByUser(user.userId);
    if (identity === undefined) {
      const username = flow.targetLocalUsername;
      if (username === null) return Result.err(new AccountFlowUnavailableError("flow_not_found"));
      if (store.identities.findLocal(username) !== undefined)
        return Result.err(new UsernameTakenError(username));
    }

    // Every check has passed: from here on nothing fails, so consuming first is safe.
    const consumed = store.accountFlows.consume(flowId, now);
    if (!consumed.ok) return Result.err(consumed.error);
    if (identity === undefined) {
      identity = store.identities
        .link(
          {
            userId: user.userId,
            provider: LOCAL_PROVIDER,
            subject: flow.targetLocalUsername ?? "",
            displayName: user.name,
          },
          now,
        )
        .unwrap();
    }
    store.localCredentials.setPassword(identity.identityId, hash, { mustChangePassword: false }, now);
    if (!isAdminBootstrapFlow(flow)) return Result.ok(user);
    return Result.ok(
      store.users
        .update(
          user.userId,
          { active: true, capabilityGroups: sortedUnique([...user.capabilityGroups, ADMIN_GROUP_KEY]) },
          now,
        )
        .unwrap(),
    );
  });
}

/** Options of {@link ensureDevAdmin}. */
export interface DevAdminOptions {
  username: string;
  password: string;
  name?: string;
  email?: string | null;
  policy?: PasswordPolicy;
  now?: Date;
}

/**
 * Development/CI path: makes `username` an active local administrator with `password` — creating the
 * account and local identity if needed, otherwise re-activating it, adding the `admin` group and
 * resetting the password (and any lockout). No flow, no URL.
 */
export async function ensureDevAdmin(
  store: ControlPlaneStore,
  options: DevAdminOptions,
): Promise<Result<User, PasswordPolicyError>> {
  const now = options.now ?? store.clock();
  const policy = checkPasswordPolicy(options.password, options.policy ?? DEFAULT_PASSWORD_POLICY);
  if (!policy.ok) return Result.err(policy.error);
  const hash = await hashPassword(options.password);

  return store.transaction((): Result<User, PasswordPolicyError> => {
    const identity = store.identities.findLocal(options.username);
    let user: User;
    let identityId: string;
    if (identity === undefined) {
      user = store.users
        .create(
          {
            name: options.name ?? options.username,
            email: options.email ?? null,
            active: true,
            capabilityGroups: [ADMIN_GROUP_KEY],
          },
          now,
        )
        .unwrap();
      identityId = store.identities
        .link(
          {
            userId: user.userId,
            provider: LOCAL_PROVIDER,
            subject: options.username,
            displayName: user.name,
          },
          now,
        )
        .unwrap().identityId;
    } else {
      const current = store.users.get(identity.userId);
      if (current === undefined) throw new Error(`local identity '${options.username}' has no account`);
      user = store.users
        .update(
          current.userId,
          {
            active: true,
            capabilityGroups: sortedUnique([...current.capabilityGroups, ADMIN_GROUP_KEY]),
            ...(options.name === undefined ? {} : { name: options.name }),
            ...(options.email === undefined ? {} : { email: options.email }),
          },
          now,
        )
        .unwrap();
      identityId = identity.identityId;
    }
    store.localCredentials.setPassword(identityId, hash, { mustChangePassword: false }, now);
    return Result.ok(user);
  });
}
