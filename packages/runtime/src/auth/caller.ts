/**
 * Who is calling: the authenticated caller of an inbound request, and the session authority that
 * knows what each session may do (runtime spec §1.2 step 4; architecture "RPC auth on the hot path").
 */
import type { AuthError } from "../errors/errors.js";

/** The authenticated participant behind a session. */
export interface Caller {
  /** `user`, `service`, `device`, … */
  type: string;
  /** Stable id (user id, service deployment id, device instance id). */
  id: string;
  /** Display name. */
  name?: string;
  /** Whether the principal is active. */
  active?: boolean;
  /** Capabilities the principal holds. */
  capabilities: string[];
  /** Other principal details (identity, deployment, …). */
  [detail: string]: unknown;
}

/** What a session may do, as known to the session authority. */
export interface SessionAuthorityRecord {
  /** The principal. */
  caller: Caller;
  /** Reply inbox prefix the session must use (`_INBOX.<sessionKey[0:16]>`). */
  inboxPrefix: string;
  /** NATS subjects (wildcards allowed) the session may publish to; omitted means "not restricted here". */
  publishSubjects?: string[];
  /**
   * The authority vouched for this record on the subject it was asked about only (a Validate answer
   * carries no subject list): a request on another subject must be looked up again.
   */
  subjectBound?: boolean;
  /** When the record stops being valid (ms since epoch). */
  expiresAt?: number;
}

/**
 * The verified proof of an inbound request, handed to the authority on a cache miss so that one backed
 * by `Auth.Requests.Validate` can forward it (runtime spec §1.2 step 4).
 */
export interface SessionLookupRequest {
  /** The caller's session key. */
  sessionKey: string;
  /** The `proof` header. */
  proof: string;
  /** Concrete subject the request arrived on. */
  subject: string;
  /** SHA-256 of the raw body, base64url. */
  payloadHash: string;
  /** The `iat` header, unix seconds. */
  iat: number;
  /** The `request-id` header. */
  requestId: string;
  /** Capabilities the surface requires (all of them). */
  requiredCapabilities: readonly string[];
}

/** An authority's answer that is neither a record nor "unknown session": a refusal or an outage. */
export interface SessionLookupFailure {
  /** The refusal to give the caller. */
  error: AuthError;
  /** The authority could not be asked (timeout, no responders, …): a cached record may still serve. */
  unavailable?: boolean;
}

/** What {@link SessionAuthority.lookup} answers. */
export type SessionLookup = SessionAuthorityRecord | SessionLookupFailure | undefined;

/** Is `lookup` a {@link SessionLookupFailure}? */
export function isSessionLookupFailure(lookup: SessionLookup): lookup is SessionLookupFailure {
  return lookup !== undefined && "error" in lookup;
}

/** Answers "who is this session and what may it do?" — the control plane in production. */
export interface SessionAuthority {
  /**
   * The record of a session, `undefined` when it is unknown, expired or revoked, or a failure. `request`
   * is the request being authenticated (authorities that keep their own records may ignore it).
   */
  lookup(sessionKey: string, request?: SessionLookupRequest): Promise<SessionLookup>;
  /** Registers a listener told when a session is revoked or closed; returns an unsubscribe function. */
  onInvalidate?(listener: (sessionKey: string) => void): () => void;
}

/** Does NATS subject pattern `pattern` (with `*` and `>`) match `subject`? */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/** A session authority held in memory: for tests, embedded use and single-process deployments. */
export class InMemorySessionAuthority implements SessionAuthority {
  private readonly records = new Map<string, SessionAuthorityRecord>();
  private readonly listeners = new Set<(sessionKey: string) => void>();

  /** Registers (or replaces) a session. */
  register(sessionKey: string, record: SessionAuthorityRecord): void {
    this.records.set(sessionKey, record);
    this.invalidate(sessionKey);
  }

  /** Revokes a session and tells every listener. */
  revoke(sessionKey: string): void {
    this.records.delete(sessionKey);
    this.invalidate(sessionKey);
  }

  private invalidate(sessionKey: string): void {
    for (const listener of this.listeners) listener(sessionKey);
  }

  async lookup(sessionKey: string): Promise<SessionAuthorityRecord | undefined> {
    const record = this.records.get(sessionKey);
    if (record?.expiresAt !== undefined && record.expiresAt <= Date.now()) return undefined;
    return record;
  }

  onInvalidate(listener: (sessionKey: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
