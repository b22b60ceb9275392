/**
 * Principal resolution for user sessions (auth spec §3.2 step 4, last branch). Service and device
 * principals are resolved by the deployment layers; a key nobody knows is `session_not_found`.
 */
import { Result } from "@trellis/result";
import { type UserSessionDocument, UserSessionDocumentSchema } from "../auth/user-session.js";
import type { ControlPlaneStore } from "../store/store.js";
import { resolveUserCapabilities } from "../users/capabilities.js";
import type { Principal, PrincipalResolver } from "./callout.js";
import { CalloutDenial, type RuntimeToken } from "./token.js";

/** A resolved, connectable user session. */
export interface ResolvedUserSession {
  /** The session document. */
  document: UserSessionDocument;
  /** The user's current capabilities. */
  capabilities: string[];
  /** The NATS principal. */
  principal: Principal;
}

/**
 * Checks a user session against the presented digest and the user's current state; shared by the
 * callout and `Auth.Requests.Validate`.
 */
export function resolveUserSession(
  store: ControlPlaneStore,
  sessionKey: string,
  presentedDigest: string | undefined,
): Result<ResolvedUserSession, CalloutDenial> {
  const session = store.sessions.get(sessionKey);
  if (session?.type !== "user") return Result.err(new CalloutDenial("session_not_found"));
  if (presentedDigest !== undefined && session.contractDigest !== presentedDigest) {
    return Result.err(new CalloutDenial("contract_changed"));
  }
  const document = UserSessionDocumentSchema.safeParse(session.session);
  if (!document.success)
    return Result.err(new CalloutDenial("session_not_found", "malformed session document"));
  const user = store.users.get(document.data.userId);
  if (!user) return Result.err(new CalloutDenial("user_not_found"));
  if (!user.active) return Result.err(new CalloutDenial("user_inactive"));
  const capabilities = resolveUserCapabilities(user, store.capabilityGroups.list());
  const held = new Set(capabilities);
  if (!document.data.delegatedCapabilities.every((capability) => held.has(capability))) {
    return Result.err(new CalloutDenial("insufficient_permissions"));
  }
  return Result.ok({
    document: document.data,
    capabilities,
    principal: {
      kind: "user",
      scopeId: user.userId,
      name: user.email ?? user.userId,
      publish: document.data.delegatedPublishSubjects,
      subscribe: document.data.delegatedSubscribeSubjects,
      respMax: 1,
    },
  });
}

/** Resolves user sessions for the callout; later steps chain service and device resolvers in front. */
export class UserPrincipalResolver implements PrincipalResolver {
  constructor(private readonly store: ControlPlaneStore) {}

  async resolve(token: RuntimeToken): Promise<Result<Principal, CalloutDenial>> {
    return resolveUserSession(this.store, token.sessionKey, token.contractDigest).map(
      (resolved) => resolved.principal,
    );
  }
}
