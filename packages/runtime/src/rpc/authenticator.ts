/**
 * Authenticating inbound requests on the hot path: verify the proof locally, refuse replays within the
 * iat window, and look the session up in a bounded cache of the session authority. Once warm, no
 * control-plane round trip happens per request; while the authority is unreachable, warm sessions keep
 * being served from the cache for a bounded time (stale-while-error).
 */
import { Result } from "@trellis/result";
import {
  type Caller,
  isSessionLookupFailure,
  type SessionAuthority,
  type SessionAuthorityRecord,
  type SessionLookup,
  type SessionLookupRequest,
  subjectMatches,
} from "../auth/caller.js";
import { sha256, verifyDigest } from "../auth/keys.js";
import { rpcProofInputFromHash } from "../auth/proofs.js";
import { AuthError } from "../errors/errors.js";
import { newUlid } from "../ids.js";

/** The security-relevant parts of an inbound request. */
export interface InboundRequest {
  /** Concrete subject the request arrived on. */
  subject: string;
  /** Raw body bytes. */
  payload: Uint8Array;
  /** Value of the `session-key` header. */
  sessionKey?: string;
  /** Value of the `proof` header. */
  proof?: string;
  /** Value of the `iat` header. */
  iat?: string;
  /** Value of the `request-id` header. */
  requestId?: string;
  /** Capabilities the surface requires (all of them). */
  requiredCapabilities: readonly string[];
}

/** A request that passed authentication. */
export interface AuthenticatedRequest {
  /** The principal. */
  caller: Caller;
  /** The caller's session key. */
  sessionKey: string;
  /** The caller's reply inbox prefix. */
  inboxPrefix: string;
  /** The request id. */
  requestId: string;
}

/** Decides whether an inbound request is authentic and allowed. */
export interface CallerAuthenticator {
  /** Authenticates and authorizes one request. */
  authenticate(request: InboundRequest): Promise<Result<AuthenticatedRequest, AuthError>>;
}

/** Options of {@link ProofCallerAuthenticator}. */
export interface ProofAuthenticatorOptions {
  /** Where session records come from. */
  authority: SessionAuthority;
  /** Allowed |now − iat|, seconds (default 30). */
  iatWindowSeconds?: number;
  /** How long a looked-up record is trusted, ms (default 30 000). */
  cacheTtlMs?: number;
  /** How long after its lookup a record may still serve while the authority is unreachable, ms (default 600 000). */
  staleTtlMs?: number;
  /** How long a stale record serves before the authority is asked again, ms (default 5000). */
  staleRetryMs?: number;
  /** Most records cached at once (default 10 000). */
  cacheSize?: number;
  /** Clock (ms since epoch). */
  now?: () => number;
}

/** The default {@link CallerAuthenticator}: local proof check, replay cache, cached session authority. */
export class ProofCallerAuthenticator implements CallerAuthenticator {
  private readonly authority: SessionAuthority;
  private readonly windowSeconds: number;
  private readonly cacheTtlMs: number;
  private readonly staleTtlMs: number;
  private readonly staleRetryMs: number;
  private readonly cacheSize: number;
  private readonly now: () => number;
  /** Cached answers: trusted until `until`, servable during an outage until `staleUntil`. */
  private readonly sessions = new Map<
    string,
    {
      record: SessionAuthorityRecord | undefined;
      until: number;
      staleUntil: number;
      /** Subjects a `subjectBound` record was vouched for. */
      subjects: Set<string>;
    }
  >();
  /** Bumped on every invalidation, so a lookup that raced with one is not cached. */
  private invalidations = 0;
  private readonly seen = new Map<string, number>();
  private readonly stopListening?: () => void;

  constructor(options: ProofAuthenticatorOptions) {
    this.authority = options.authority;
    this.windowSeconds = options.iatWindowSeconds ?? 30;
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
    this.staleTtlMs = options.staleTtlMs ?? 600_000;
    this.staleRetryMs = options.staleRetryMs ?? 5000;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.now = options.now ?? Date.now;
    this.stopListening = options.authority.onInvalidate?.((sessionKey) => this.invalidate(sessionKey));
  }

  /** Forgets a session's cached record (e.g. on a revocation event). */
  invalidate(sessionKey: string): void {
    this.invalidations++;
    this.sessions.delete(sessionKey);
  }

  /** Stops listening to the authority's invalidations. */
  close(): void {
    this.stopListening?.();
  }

  private refuse(
    reason: ConstructorParameters<typeof AuthError>[0],
    message: string,
    context?: Record<string, unknown>,
  ) {
    return Result.err(new AuthError(reason, message, context ? { context } : {}));
  }

  async authenticate(request: InboundRequest): Promise<Result<AuthenticatedRequest, AuthError>> {
    const { sessionKey, proof, requestId } = request;
    if (!sessionKey) return this.refuse("missing_session_key", "The request has no session-key header");
    if (!proof) return this.refuse("missing_proof", "The request has no proof header");
    const iat = Number(request.iat);
    if (request.iat === undefined || !/^-?\d+$/.test(request.iat) || !Number.isSafeInteger(iat)) {
      return this.refuse("invalid_signature", "The iat header is missing or not an integer");
    }
    if (!requestId) return this.refuse("invalid_signature", "The request has no request-id header");
    const nowMs = this.now();
    if (Math.abs(nowMs / 1000 - iat) > this.windowSeconds) {
      return this.refuse(
        "iat_out_of_range",
        `iat is more than ${this.windowSeconds}s away from server time`,
        {
          serverNow: Math.floor(nowMs / 1000),
        },
      );
    }
    const payloadHash = sha256(request.payload);
    const digest = sha256(
      rpcProofInputFromHash({ sessionKey, subject: request.subject, iat, requestId }, payloadHash),
    );
    if (!verifyDigest(sessionKey, digest, proof)) {
      return this.refuse("invalid_signature", "The proof does not match the request");
    }
    const replayKey = `${sessionKey}:${requestId}`;
    if (this.seen.has(replayKey)) return this.refuse("invalid_signature", "The request id was already used");
    this.rememberRequest(replayKey, nowMs);

    const record = await this.lookup(
      {
        sessionKey,
        proof,
        subject: request.subject,
        payloadHash: Buffer.from(payloadHash).toString("base64url"),
        iat,
        requestId,
        requiredCapabilities: request.requiredCapabilities,
      },
      nowMs,
    );
    if (isSessionLookupFailure(record)) return Result.err(record.error);
    if (!record || record.caller.active === false) {
      return this.refuse("session_not_found", "The session is unknown, expired or revoked");
    }
    if (
      record.publishSubjects &&
      !record.publishSubjects.some((pattern) => subjectMatches(pattern, request.subject))
    ) {
      return this.refuse("insufficient_permissions", `The session may not publish to '${request.subject}'`, {
        requiredCapabilities: request.requiredCapabilities,
      });
    }
    const held = new Set(record.caller.capabilities);
    const missing = request.requiredCapabilities.filter((capability) => !held.has(capability));
    if (missing.length > 0) {
      return this.refuse("insufficient_permissions", `Missing capabilities: ${missing.join(", ")}`, {
        requiredCapabilities: request.requiredCapabilities,
        userCapabilities: record.caller.capabilities,
      });
    }
    return Result.ok({ caller: record.caller, sessionKey, inboxPrefix: record.inboxPrefix, requestId });
  }

  private rememberRequest(key: string, nowMs: number): void {
    // Entries older than the window can never match again: an older iat is refused before this check.
    const horizon = nowMs - 2 * this.windowSeconds * 1000;
    if (this.seen.size >= 100_000) {
      for (const [seenKey, at] of this.seen) {
        if (at >= horizon) break;
        this.seen.delete(seenKey);
      }
    }
    this.seen.set(key, nowMs);
  }

  private async lookup(request: SessionLookupRequest, nowMs: number): Promise<SessionLookup> {
    const { sessionKey } = request;
    const cached = this.sessions.get(sessionKey);
    // A record vouched for on other subjects only is re-checked for this one.
    const known = !cached?.record?.subjectBound || cached.subjects.has(request.subject);
    if (cached && known && cached.until > nowMs) return cached.record;
    const invalidations = this.invalidations;
    const found = await this.authority.lookup(sessionKey, request);
    if (isSessionLookupFailure(found)) {
      // Refusals are never cached: the next request asks again (its subject or capabilities may differ).
      // (A subject it was not vouched for is served too: the caller's own NATS permissions still bound
      // what it can publish, and an outage must not break warm callers.)
      if (!found.unavailable || !cached?.record || cached.staleUntil <= nowMs) return found;
      // Stale-while-error: keep serving the warm session and ask the authority again a little later.
      cached.until = Math.min(nowMs + this.staleRetryMs, cached.staleUntil);
      return cached.record;
    }
    // A revocation heard while the lookup was in flight wins over its (older) answer.
    if (invalidations !== this.invalidations) return found;
    if (!cached && this.sessions.size >= this.cacheSize)
      this.sessions.delete(this.sessions.keys().next().value as string);
    const expiresAt = found?.expiresAt ?? Number.POSITIVE_INFINITY;
    // Unknown sessions are cached briefly too, so a flood of bad keys cannot hammer the authority.
    const until = found ? Math.min(nowMs + this.cacheTtlMs, expiresAt) : nowMs + 1000;
    const staleUntil = found ? Math.min(nowMs + this.staleTtlMs, expiresAt) : until;
    const subjects = new Set(found && cached?.record ? cached.subjects : []);
    subjects.add(request.subject);
    this.sessions.set(sessionKey, { record: found, until, staleUntil, subjects });
    return found;
  }
}

/** The caller of RPCs marked `authRequired: false`. */
export const SYSTEM_CALLER: Caller = {
  type: "service",
  id: "system",
  active: true,
  name: "System",
  capabilities: ["service"],
};

/** A fresh request id. */
export function newRequestId(): string {
  return newUlid();
}
