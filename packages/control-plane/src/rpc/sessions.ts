/**
 * `Auth.Sessions.*`: the caller's own session (`Me`, `Logout`) and administration of every session
 * (`List`, `Revoke`).
 */
import { Result } from "@trellis/result";
import { mapPage } from "./paging.js";
import { callerUserId, refuse, success } from "./responses.js";
import { finishRevokedSessions, revokeIdentityGrant, revokeSession } from "./revocation.js";

/** How long after answering a logout its connections are kicked, ms. */
const LOGOUT_KICK_DELAY_MS = 100;

import type { AuthRpcDeps, AuthRpcHandlers, AuthRpcOutput } from "./types.js";
import { ContractNames, participantView, sessionListKey } from "./views.js";

type SessionsRpc =
  | "Auth.Sessions.Me"
  | "Auth.Sessions.Logout"
  | "Auth.Sessions.List"
  | "Auth.Sessions.Revoke";

/** Handlers of `Auth.Sessions.*`. */
export function sessionHandlers({ ctx, authority }: AuthRpcDeps): AuthRpcHandlers<SessionsRpc> {
  const { store } = ctx;
  return {
    "Auth.Sessions.Me": async ({ context }) => {
      if (context.sessionKey === undefined)
        return refuse("missing_session_key", "The request has no session");
      const resolved = authority.resolve(context.sessionKey);
      if (!resolved.ok) return Result.err(resolved.error);
      const principal = resolved.value;
      if (principal.kind === "service") {
        return Result.ok({
          participantKind: "service",
          user: null,
          device: null,
          service: {
            type: "service",
            id: principal.id,
            name: principal.name,
            active: true,
            capabilities: principal.capabilities,
          },
        });
      }
      const { document, user } = principal;
      const lastLogin = store.identities.get(document.identity.identityId)?.lastLoginAt ?? undefined;
      const me: AuthRpcOutput<"Auth.Sessions.Me"> = {
        participantKind: document.participantKind,
        user: {
          userId: user.userId,
          active: user.active,
          name: user.name,
          email: user.email ?? "",
          capabilities: principal.capabilities,
          identity: document.identity,
          ...(lastLogin !== undefined && { lastLogin }),
        },
        device: null,
        service: null,
      };
      return Result.ok(me);
    },

    "Auth.Sessions.Logout": async ({ context }) => {
      const userId = callerUserId(context.caller);
      if (!userId.ok) return Result.err(userId.error);
      if (context.sessionKey === undefined)
        return refuse("missing_session_key", "The request has no session");
      // The session is deleted now; its connections are kicked only after the reply has gone out,
      // otherwise the caller's own connection would be dropped before it hears `success`.
      const sessionKey = context.sessionKey;
      const session = store.sessions.get(sessionKey, ctx.now());
      if (!session) return success();
      store.sessions.delete(sessionKey);
      setTimeout(() => {
        void finishRevokedSessions(ctx, { sessionKeys: [sessionKey], known: [session] }, userId.value).catch(
          (cause: unknown) => ctx.logger.warn({ err: cause, sessionKey }, "Could not finish a logout"),
        );
      }, LOGOUT_KICK_DELAY_MS);
      return success();
    },

    "Auth.Sessions.List": async ({ input }) => {
      const names = new ContractNames(store);
      const page = store.sessions.list(
        { offset: input.offset, limit: input.limit },
        input.user === undefined ? {} : { type: "user", trellisId: input.user },
        ctx.now(),
      );
      return Result.ok(
        mapPage(page, (session) => ({
          key: sessionListKey(session),
          sessionKey: session.sessionKey,
          createdAt: session.createdAt,
          lastAuth: session.lastAuth,
          ...participantView(store, names, session),
        })),
      );
    },

    "Auth.Sessions.Revoke": async ({ input, context }) => {
      const session = store.sessions.get(input.sessionKey, ctx.now());
      if (session === undefined) return success(false);
      const revokedBy = context.caller.id;
      // A user session takes its approval with it: the app or agent has to ask for consent again.
      if (session.type === "user" && session.identityGrantId !== null) {
        await revokeIdentityGrant(ctx, session.identityGrantId, revokedBy);
      }
      await revokeSession(ctx, session.sessionKey, revokedBy);
      return success();
    },
  };
}
