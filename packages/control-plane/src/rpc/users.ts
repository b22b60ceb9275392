/**
 * `Auth.Users.*`: account administration (list, read, create, update — never demoting the last active
 * administrator), a user's own password change, and password reset links.
 */
import { Result } from "@trellis/result";
import { ValidationError } from "@trellis/runtime";
import { LOCAL_PROVIDER } from "../store/identities-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User } from "../store/users-repository.js";
import { accountPasswordUrl } from "../users/bootstrap.js";
import { updateUser } from "../users/capabilities.js";
import { UsernameTakenError } from "../users/errors.js";
import { setLocalPassword } from "../users/local-accounts.js";
import { localLogin, passwordPolicy } from "../users/passwords.js";
import { mapPage } from "./paging.js";
import { callerUserId, refuse, success } from "./responses.js";
import { finishRevokedSessions } from "./revocation.js";
import { notifySessionInvalidated } from "./session-authority.js";
import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";

type UsersRpc =
  | "Auth.Users.List"
  | "Auth.Users.Get"
  | "Auth.Users.Create"
  | "Auth.Users.Update"
  | "Auth.Users.Password.Change"
  | "Auth.Users.PasswordReset.Create";

type UserView = AuthRpcOutput<"Auth.Users.Get">["user"];

/** Lifetime of a password reset link when the request names none (24 h). */
export const PASSWORD_RESET_DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/** An account with its linked identities, as the admin RPCs show it. */
export function userView(store: ControlPlaneStore, user: User): UserView {
  return {
    userId: user.userId,
    active: user.active,
    name: user.name,
    ...(user.email !== null && { email: user.email }),
    capabilities: user.capabilities,
    capabilityGroups: user.capabilityGroups,
    identities: store.identities.listByUser(user.userId).map((identity) => ({
      identityId: identity.identityId,
      provider: identity.provider,
      subject: identity.subject,
      displayName: identity.displayName || null,
      email: identity.email || null,
      emailVerified: identity.emailVerified,
      linkedAt: identity.linkedAt,
      lastLoginAt: identity.lastLoginAt,
    })),
  };
}

/**
 * Creates an account, reserving `username` as its local identity when given. No password is set:
 * the user chooses one through a password reset link (`Auth.Users.PasswordReset.Create`).
 */
function createUser(
  store: ControlPlaneStore,
  input: {
    name?: string;
    email?: string;
    username?: string;
    active?: boolean;
    capabilities?: string[];
    capabilityGroups?: string[];
  },
  now: Date,
): Result<User, UsernameTakenError> {
  return store.transaction((): Result<User, UsernameTakenError> => {
    const { username } = input;
    if (username !== undefined && store.identities.findLocal(username) !== undefined) {
      return Result.err(new UsernameTakenError(username));
    }
    const user = store.users
      .create(
        {
          name: input.name ?? username ?? input.email ?? "",
          email: input.email ?? null,
          active: input.active ?? true,
          capabilities: input.capabilities ?? [],
          capabilityGroups: input.capabilityGroups ?? [],
        },
        now,
      )
      .unwrap();
    if (username !== undefined) {
      store.identities
        .link(
          {
            userId: user.userId,
            provider: LOCAL_PROVIDER,
            subject: username,
            displayName: user.name || null,
            email: user.email,
          },
          now,
        )
        .unwrap();
    }
    return Result.ok(user);
  });
}

/** Handlers of `Auth.Users.*`. */
export function userHandlers({ ctx }: AuthRpcDeps): AuthRpcHandlers<UsersRpc> {
  const { store } = ctx;
  const policy = () => passwordPolicy({ minLength: ctx.config.auth.passwordMinLength });
  return {
    "Auth.Users.List": async ({ input }) =>
      Result.ok(
        mapPage(store.users.list({ offset: input.offset, limit: input.limit }), (user) =>
          userView(store, user),
        ),
      ),

    "Auth.Users.Get": async ({ input }) => {
      const user = store.users.get(input.userId);
      if (user === undefined) return refuse("user_not_found", `User '${input.userId}' not found`);
      return Result.ok({ user: userView(store, user) });
    },

    "Auth.Users.Create": async ({ input }) => {
      const created = createUser(store, input, ctx.now());
      if (!created.ok) return refuse(created.error.reason, created.error.message);
      return Result.ok({ user: userView(store, created.value) });
    },

    "Auth.Users.Update": async ({ input }) => {
      const { userId, email, ...rest } = input;
      const updated = updateUser(
        store,
        userId,
        { ...rest, ...(email !== undefined && { email: email === "" ? null : email }) },
        ctx.now(),
      );
      if (!updated.ok) return refuse(updated.error.reason, updated.error.message);
      // Activity and capabilities are re-checked on every lookup; drop what caches hold now.
      for (const session of store.sessions.listByUser(userId, ctx.now())) {
        notifySessionInvalidated(store, session.sessionKey);
      }
      return success();
    },

    "Auth.Users.Password.Change": async ({ input, context }) => {
      const userId = callerUserId(context.caller);
      if (!userId.ok) return Result.err(userId.error);
      const identity = store.identities.findLocalByUser(userId.value);
      if (identity === undefined) return refuse("invalid_request", "The account has no local password");
      const now = ctx.now();
      // Checking the current password as a login applies the lockout against guessing.
      const login = await localLogin(store, identity.subject, input.currentPassword, now);
      if (!login.ok) return refuse(login.error.reason, login.error.message);
      const changed = await setLocalPassword(store, identity.identityId, input.newPassword, {
        policy: policy(),
        now,
      });
      if (!changed.ok) {
        return Result.err(new ValidationError([{ path: "/newPassword", message: changed.error.message }]));
      }
      // Everyone else holding the old password's sessions is signed out; this session stays.
      const others = store.sessions
        .listByUser(userId.value, now)
        .filter((session) => session.sessionKey !== context.sessionKey);
      const sessionKeys = store.sessions.deleteByUser(userId.value, {
        ...(context.sessionKey !== undefined && { exceptSessionKey: context.sessionKey }),
      });
      await finishRevokedSessions(ctx, { sessionKeys, known: others }, userId.value);
      return success();
    },

    "Auth.Users.PasswordReset.Create": async ({ input, context }) => {
      const user = store.users.get(input.userId);
      if (user === undefined) return refuse("user_not_found", `User '${input.userId}' not found`);
      const identity = store.identities.findLocalByUser(user.userId);
      if (identity === undefined) {
        return refuse("invalid_request", `User '${user.userId}' has no local username to reset`);
      }
      const { flowId, flow } = store.accountFlows.create(
        {
          kind: "local_password_reset",
          ttlMs:
            input.expiresInSeconds === undefined
              ? PASSWORD_RESET_DEFAULT_TTL_MS
              : input.expiresInSeconds * 1000,
          targetUserId: user.userId,
          targetIdentityId: identity.identityId,
          targetLocalUsername: identity.subject,
          // Never null: a creator-less reset flow would count as an admin bootstrap flow.
          createdByUserId: context.caller.id,
        },
        ctx.now(),
      );
      return Result.ok({
        flowId,
        url: accountPasswordUrl(ctx.publicOrigin, flowId),
        expiresAt: flow.expiresAt,
      });
    },
  };
}
