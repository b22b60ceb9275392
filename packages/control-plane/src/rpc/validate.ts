/**
 * `Auth.Requests.Validate` (auth spec §5.2): a service hands over the proof headers of a request it
 * received; the control plane verifies the proof, refuses replays, resolves the calling session and
 * answers whether it may publish to that subject with the required capabilities.
 */
import { holdsAllCapabilities } from "@trellis/contracts";
import { Result } from "@trellis/result";
import { AuthError, subjectMatches } from "@trellis/runtime";
import { rpcProofInputFromHash, sha256, verifyDigest } from "@trellis/runtime/auth";
import { inboxPrefixOf, type SessionPrincipal } from "./principals.js";
import type { ReplayCache } from "./replay-cache.js";
import type { AuthRpcInput, AuthRpcOutput } from "./types.js";

/** Allowed |server time − iat|, seconds. */
export const VALIDATE_IAT_WINDOW_SECONDS = 30;

/** What validation needs. */
export interface ValidateRequestDeps {
  /** Resolves the principal of a session at a time (the control plane's session authority). */
  resolve(sessionKey: string, now: Date): Result<SessionPrincipal, AuthError>;
  /** Server clock. */
  now(): Date;
  /** Request ids already seen. */
  replay: ReplayCache;
}

type ValidateInput = AuthRpcInput<"Auth.Requests.Validate">;
type ValidateOutput = AuthRpcOutput<"Auth.Requests.Validate">;
type ValidateCaller = ValidateOutput["caller"];

/** A SHA-256 digest in base64url (no padding), or `undefined` when it is not one. */
function decodePayloadHash(payloadHash: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(payloadHash)) return undefined;
  const bytes = Buffer.from(payloadHash, "base64url");
  return bytes.length === 32 ? bytes : undefined;
}

/** The caller as services see it. */
export function validatedCallerOf(principal: SessionPrincipal): ValidateCaller {
  if (principal.kind === "service") {
    return {
      type: "service",
      id: principal.id,
      name: principal.name,
      active: true,
      capabilities: principal.capabilities,
    };
  }
  const { document, user, session } = principal;
  return {
    type: "user",
    participantKind: document.participantKind,
    userId: user.userId,
    identity: document.identity,
    active: user.active,
    name: user.name,
    email: user.email ?? "",
    capabilities: principal.capabilities,
    lastAuth: session.lastAuth,
  };
}

/** Validates one request envelope; refusals are `AuthError`s with the spec's reasons. */
export function validateRequest(
  deps: ValidateRequestDeps,
  input: ValidateInput,
): Result<ValidateOutput, AuthError> {
  const { sessionKey, subject, iat, requestId, proof } = input;
  const payloadHash = decodePayloadHash(input.payloadHash);
  if (payloadHash === undefined) {
    return Result.err(new AuthError("invalid_signature", "payloadHash is not a base64url SHA-256 digest"));
  }
  const nowMs = deps.now().getTime();
  const serverNow = Math.floor(nowMs / 1000);
  // Whole seconds on both sides, so a proof exactly 30 s old is still accepted.
  if (!Number.isSafeInteger(iat) || Math.abs(serverNow - iat) > VALIDATE_IAT_WINDOW_SECONDS) {
    return Result.err(
      new AuthError("iat_out_of_range", `iat is more than ${VALIDATE_IAT_WINDOW_SECONDS}s from server time`, {
        context: { serverNow },
      }),
    );
  }
  const digest = sha256(rpcProofInputFromHash({ sessionKey, subject, iat, requestId }, payloadHash));
  if (!verifyDigest(sessionKey, digest, proof)) {
    return Result.err(new AuthError("invalid_signature", "The proof does not match the request"));
  }
  if (!deps.replay.remember(sessionKey, requestId, nowMs)) {
    return Result.err(new AuthError("invalid_signature", "The request id was already used"));
  }
  const resolved = deps.resolve(sessionKey, new Date(nowMs));
  if (!resolved.ok) return Result.err(resolved.error);
  const principal = resolved.value;

  // Users by their delegated subjects, services by their materialized publish grants.
  const subjectAllowed = principal.publishSubjects.some((pattern) => subjectMatches(pattern, subject));
  const capabilitiesHeld = holdsAllCapabilities(new Set(principal.capabilities), input.capabilities ?? []);
  return Result.ok({
    allowed: subjectAllowed && capabilitiesHeld,
    inboxPrefix: inboxPrefixOf(sessionKey),
    caller: validatedCallerOf(principal),
  });
}
