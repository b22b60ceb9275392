/**
 * The runtime token a participant presents as its NATS `auth_token` (auth spec §2.3, §3.2 step 3),
 * checked in the spec's order, each failure with its denial code.
 */
import { Result } from "@trellis/result";
import { natsConnectValue, verifyDomainSignature } from "@trellis/runtime/auth";
import { z } from "zod";

/** A verified runtime token. */
export interface RuntimeToken {
  /** The participant's session key. */
  sessionKey: string;
  /** Issued-at, unix seconds. */
  iat: number;
  /** Digest of the contract the participant presents. */
  contractDigest: string;
}

/** Why a connect was refused (the `error` of the authorization response). */
export class CalloutDenial extends Error {
  override readonly name = "CalloutDenial";
  constructor(
    /** The spec's denial code, e.g. `iat_out_of_range`. */
    readonly code: string,
    message?: string,
  ) {
    super(message ?? code);
  }
}

const tokenSchema = z.object({
  v: z.literal(1),
  sessionKey: z.string().regex(/^([A-Za-z0-9_-]{43})?$/),
  iat: z.number().int(),
  contractDigest: z.string().regex(/^[A-Za-z0-9_-]+$/),
  sig: z.string().regex(/^([A-Za-z0-9_-]{86})?$/),
});

/** Allowed |now − iat| in seconds. */
export const IAT_WINDOW_SECONDS = 30;

/** Parses and verifies a runtime token; `nowSeconds` is the server clock. */
export function verifyRuntimeToken(
  authToken: string | undefined,
  nowSeconds: number,
): Result<RuntimeToken, CalloutDenial> {
  if (!authToken) return Result.err(new CalloutDenial("auth_token_required"));
  let raw: unknown;
  try {
    raw = JSON.parse(authToken);
  } catch {
    return Result.err(new CalloutDenial("invalid_auth_token", "auth token is not JSON"));
  }
  const parsed = tokenSchema.safeParse(raw);
  if (!parsed.success)
    return Result.err(new CalloutDenial("invalid_auth_token", parsed.error.issues[0]?.message));
  const token = parsed.data;
  if (token.sessionKey === "") return Result.err(new CalloutDenial("missing_session_key"));
  if (token.sig === "") return Result.err(new CalloutDenial("missing_sig"));
  if (Math.abs(Math.floor(nowSeconds) - token.iat) > IAT_WINDOW_SECONDS)
    return Result.err(new CalloutDenial("iat_out_of_range"));
  if (
    !verifyDomainSignature(
      token.sessionKey,
      "nats-connect",
      natsConnectValue(token.iat, token.contractDigest),
      token.sig,
    )
  ) {
    return Result.err(new CalloutDenial("invalid_signature"));
  }
  return Result.ok({ sessionKey: token.sessionKey, iat: token.iat, contractDigest: token.contractDigest });
}
