/**
 * Who is behind a session key, read fresh from the store: the principal of a user session (its
 * delegated capabilities and publish subjects, re-checked against the account) or of a service
 * session. Shared by the session authority, `Auth.Requests.Validate` and `Auth.Sessions.Me`.
 */
import { SERVICE_CAPABILITY } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { AuthError } from "@trellis/runtime";
import { z } from "zod";
import type { UserSessionDocument } from "../auth/user-session.js";
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

/** A service session. */
export interface ServicePrincipal {
  kind: "service";
  session: StoredSession;
  /** Stable id: the deployment id when known, else the session's trellis id. */
  id: string;
  /** Display name: the deployment id when known. */
  name: string;
  /** `service` plus the capabilities recorded on the session. */
  capabilities: string[];
}

/** The principal behind a live session. */
export type SessionPrincipal = UserPrincipal | ServicePrincipal;

/** What a service session document may record (written by the service bootstrap/callout). */
const ServiceSessionDocumentSchema = z.looseObject({
  name: z.string().optional(),
  capabilities: z.array(z.string()).optional(),
});

/**
 * Resolves the principal of `sessionKey` at `now`. Refusals carry the spec's reasons:
 * `session_not_found`, `user_not_found`, `user_inactive`, `insufficient_permissions` (the user lost a
 * delegated capability) and `unknown_device` (device sessions are not served yet).
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
      return Result.ok(servicePrincipal(session));
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

function servicePrincipal(session: StoredSession): ServicePrincipal {
  const parsed = ServiceSessionDocumentSchema.safeParse(session.session);
  const document = parsed.success ? parsed.data : {};
  const id = session.deploymentId ?? session.trellisId;
  return {
    kind: "service",
    session,
    id,
    name: document.name ?? id,
    capabilities: sortedUnique([SERVICE_CAPABILITY, ...(document.capabilities ?? [])]),
  };
}
