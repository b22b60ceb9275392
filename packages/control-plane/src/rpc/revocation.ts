/**
 * Ending sessions (auth spec §7 "Revocation model"): there are no JWT revocation lists — a revoked
 * session is deleted from SQL, dropped from authenticator caches, its live connections are kicked,
 * and `Auth.Sessions.Revoked` tells services to forget it.
 */
import type { ControlPlaneContext } from "../context.js";
import type { StoredSession } from "../store/sessions-repository.js";
import { notifySessionInvalidated } from "./session-authority.js";

/** The `origin`/`id` pair events report for a session: its identity evidence, else its principal. */
export function sessionEventIdentity(session: StoredSession): { origin: string; id: string } {
  return { origin: session.origin ?? session.type, id: session.externalId ?? session.trellisId };
}

/**
 * Finishes sessions already deleted from the store: drops cached authority, kicks their live
 * connections and publishes `Auth.Sessions.Revoked` for each. Keys whose session row was not read
 * beforehand are still kicked, with their key as the event's identity.
 */
export async function finishRevokedSessions(
  ctx: Pick<ControlPlaneContext, "store" | "connections" | "events" | "logger">,
  revoked: { sessionKeys: readonly string[]; known: readonly StoredSession[] },
  revokedBy: string,
): Promise<void> {
  const known = new Map(revoked.known.map((session) => [session.sessionKey, session]));
  for (const sessionKey of new Set(revoked.sessionKeys)) {
    notifySessionInvalidated(ctx.store, sessionKey);
    try {
      await ctx.connections.kickSession(sessionKey);
    } catch (cause) {
      ctx.logger.warn({ err: cause, sessionKey }, "Could not kick the connections of a revoked session");
    }
    const session = known.get(sessionKey);
    const identity = session ? sessionEventIdentity(session) : { origin: "session", id: sessionKey };
    await ctx.events.sessionRevoked({ ...identity, sessionKey, revokedBy });
  }
}

/** Deletes one session and finishes it; `false` when there was no such session. */
export async function revokeSession(
  ctx: Pick<ControlPlaneContext, "store" | "connections" | "events" | "logger" | "now">,
  sessionKey: string,
  revokedBy: string,
): Promise<boolean> {
  const session = ctx.store.sessions.get(sessionKey, ctx.now());
  const deleted = ctx.store.sessions.delete(sessionKey);
  if (!deleted) return false;
  await finishRevokedSessions(ctx, { sessionKeys: [sessionKey], known: session ? [session] : [] }, revokedBy);
  return true;
}

/**
 * Revokes an identity grant: deletes it and every session bound to it, then finishes those sessions.
 * `false` when the grant does not exist.
 */
export async function revokeIdentityGrant(
  ctx: Pick<ControlPlaneContext, "store" | "connections" | "events" | "logger" | "now">,
  identityGrantId: string,
  revokedBy: string,
): Promise<boolean> {
  const known = ctx.store.sessions.listByGrant(identityGrantId, ctx.now());
  const revoked = ctx.store.identityGrants.revoke(identityGrantId);
  if (!revoked.ok) return false;
  await finishRevokedSessions(ctx, { sessionKeys: revoked.value.sessionKeys, known }, revokedBy);
  return true;
}
