/**
 * Who is behind a session key, read fresh from the store: the principal of a user session (its
 * delegated capabilities and publish subjects, re-checked against the account) or of a service
 * session (re-checked like the callout does: enabled instance and deployment, accepted offer, current
 * materialized authority; capabilities and publish subjects from the materialized grants). Shared by
 * the session authority, `Auth.Requests.Validate` and `Auth.Sessions.Me`.
 */
import { SERVICE_CAPABILITY } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { AuthError } from "@trellis/runtime";
import type { UserSessionDocument } from "../auth/user-session.js";
import { resolveServiceSession } from "../callout/service-principals.js";
import { resolveUserSession } from "../callout/user-principals.js";
import { sortedUnique } from "../store/codec.js";
import type { StoredSession } from "../store/sessions-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import type { User } from "../store/users-repository.js";

/** The reply inbox prefix of a session key: `_INBOX.<sessionKey[0:16]>` (auth spec §1.2). */
export function inboxPrefixOf(sessionKey: string): string {
  return `_INBOX.${sessionKey.slice(0, 16)}`;
}

/** A user session that may act: its document, the account and what was delegated to it. */
export interface UserPrincipal {
  kind: "user";
  session: StoredSession;
  document: UserSessionDocument;
  user: User;
  /** Capabilities delegated to the session (never the service-only `service`). */
  capabilities: string[];
  /** Subject patterns the session may publish to. */
  publishSubjects: string[];
}

/** A service session of a provisioned, enabled instance whose deployment authority is materialized. */
export interface ServicePrincipal {
  kind: "service";
  session: StoredSession;
  /** Stable id: the deployment id. */
  id: string;
  /** Display name: the deployment id. */
  name: string;
  /** `service`, the instance's capabilities and the materialized capability grants. */
  capabilities: string[];
  /** Subject patterns the service may publish to: its materialized publish grants. */
  publishSubjects: string[];
}

/** The principal behind a live session. */
export type SessionPrincipal = UserPrincipal | ServicePrincipal;

/**
 * Resolves the principal of `sessionKey` at `now`. Refusals carry the spec's reasons:
 * `session_not_found`, `user_not_found`, `user_inactive`, `insufficient_permissions` (the user lost a
 * delegated capability), `service_disabled`, `contract_changed`, `service_authority_miss` (as the
 * callout refuses services) and `unknown_device` (device sessions are not served yet).
 */
export function resolveSessionPrincipal(
  store: ControlPlaneStore,
  sessionKey: string,
  now: Date,
): Result<SessionPrincipal, AuthError> {
  const session = store.sessions.get(sessionKey, now);
  if (session === undefined) {
    return Result.err(new AuthError("session_not_found", "The session is unknown, expired or revoked"));
  }
  switch (session.type) {
    case "user":
      return resolveUser(store, session);
    case "service":
      return resolveService(store, session);
    case "device":
      return Result.err(new AuthError("unknown_device", "Device sessions are not served yet"));
  }
}

function resolveUser(store: ControlPlaneStore, session: StoredSession): Result<UserPrincipal, AuthError> {
  const resolved = resolveUserSession(store, session.sessionKey, undefined);
  if (!resolved.ok) return Result.err(new AuthError(resolved.error.code, resolved.error.message));
  const { document } = resolved.value;
  const user = store.users.get(document.userId);
  if (user === undefined) return Result.err(new AuthError("user_not_found", "The session's user is gone"));
  return Result.ok({
    kind: "user",
    session,
    document,
    user,
    capabilities: sortedUnique(document.delegatedCapabilities).filter(
      (capability) => capability !== SERVICE_CAPABILITY,
    ),
    publishSubjects: [...document.delegatedPublishSubjects],
  });
}

function resolveService(
  store: ControlPlaneStore,
  session: StoredSession,
): Result<ServicePrincipal, AuthError> {
  const digest = session.contractDigest;
  if (digest === null) {
    return Result.err(new AuthError("contract_changed", "The service session records no contract digest"));
  }
  const resolved = resolveServiceSession(store, session.sessionKey, digest);
  if (resolved === undefined) {
    return Result.err(new AuthError("service_disabled", "The session's service instance no longer exists"));
  }
  if (!resolved.ok) return Result.err(new AuthError(resolved.error.code, resolved.error.message));
  const { instance, capabilities, principal } = resolved.value;
  return Result.ok({
    kind: "service",
    session,
    id: instance.deploymentId,
    name: instance.deploymentId,
    capabilities,
    publishSubjects: principal.publish,
  });
}
