/**
 * The control plane is its own session authority: the `trellis` service authenticates callers from
 * the store directly instead of calling `Auth.Requests.Validate` on itself. Sessions that end
 * (logout, revocation, account changes) are announced through {@link notifySessionInvalidated} so
 * authenticator caches drop them at once rather than after their TTL.
 */

import type { Result } from "@trellis/result";
import type { AuthError, Caller, SessionAuthority, SessionAuthorityRecord } from "@trellis/runtime";
import type { ControlPlaneContext } from "../context.js";
import { SESSION_TTL_MS } from "../store/sessions-repository.js";
import type { ControlPlaneStore } from "../store/store.js";
import { inboxPrefixOf, resolveSessionPrincipal, type SessionPrincipal } from "./principals.js";

type InvalidationListener = (sessionKey: string) => void;

/** Listeners per store: every authority over one store hears every invalidation of that store. */
const listenersByStore = new WeakMap<ControlPlaneStore, Set<InvalidationListener>>();

function listenersOf(store: ControlPlaneStore): Set<InvalidationListener> {
  let listeners = listenersByStore.get(store);
  if (listeners === undefined) {
    listeners = new Set();
    listenersByStore.set(store, listeners);
  }
  return listeners;
}

/**
 * Tells every session authority over `store` (and through them, the authenticators caching their
 * answers) that what they know about `sessionKey` is stale: the session ended or changed.
 */
export function notifySessionInvalidated(store: ControlPlaneStore, sessionKey: string): void {
  for (const listener of [...listenersOf(store)]) {
    try {
      listener(sessionKey);
    } catch {
      // A failing cache must not stop the others from hearing about the revocation.
    }
  }
}

/** The authenticator's view of a principal: who it is and what it may do. */
export function callerOf(principal: SessionPrincipal): Caller {
  if (principal.kind === "service") {
    const { session } = principal;
    return {
      type: "service",
      id: principal.id,
      name: principal.name,
      active: true,
      capabilities: principal.capabilities,
      ...(session.deploymentId !== null && { deploymentId: session.deploymentId }),
      ...(session.instanceId !== null && { instanceId: session.instanceId }),
    };
  }
  const { document, user, session } = principal;
  return {
    type: "user",
    id: user.userId,
    participantKind: document.participantKind,
    userId: user.userId,
    identity: document.identity,
    active: user.active,
    name: user.name,
    email: user.email ?? "",
    capabilities: principal.capabilities,
    contractId: session.contractId,
    contractDigest: session.contractDigest,
  };
}

/** Resolves sessions from the control-plane store. */
export class ControlPlaneSessionAuthority implements SessionAuthority {
  constructor(private readonly ctx: Pick<ControlPlaneContext, "store" | "now">) {}

  /** The principal behind `sessionKey`, read fresh from the store (no cache), or why there is none. */
  resolve(sessionKey: string, now: Date = this.ctx.now()): Result<SessionPrincipal, AuthError> {
    return resolveSessionPrincipal(this.ctx.store, sessionKey, now);
  }

  async lookup(sessionKey: string): Promise<SessionAuthorityRecord | undefined> {
    const resolved = this.resolve(sessionKey);
    if (!resolved.ok) return undefined;
    const principal = resolved.value;
    return {
      caller: callerOf(principal),
      inboxPrefix: inboxPrefixOf(sessionKey),
      ...(principal.kind === "user" && { publishSubjects: principal.publishSubjects }),
      expiresAt: Date.parse(principal.session.lastAuth) + SESSION_TTL_MS,
    };
  }

  onInvalidate(listener: (sessionKey: string) => void): () => void {
    const listeners = listenersOf(this.ctx.store);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Announces that `sessionKey` ended or changed (see {@link notifySessionInvalidated}). */
  invalidate(sessionKey: string): void {
    notifySessionInvalidated(this.ctx.store, sessionKey);
  }
}
