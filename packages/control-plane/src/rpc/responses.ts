/** Small constructors of handler answers. */
import { Result } from "@trellis/result";
import { AuthError } from "@trellis/runtime";

/** `Ok({ success })`. */
export function success(value = true): Result<{ success: boolean }, never> {
  return Result.ok({ success: value });
}

/** `Err(AuthError)` with a reason, a message and optional context. */
export function refuse(
  reason: string,
  message: string,
  context?: Record<string, unknown>,
): Result<never, AuthError> {
  return Result.err(new AuthError(reason, message, context ? { context } : {}));
}

/** The caller's user id, or a refusal when the caller is not a user. */
export function callerUserId(caller: { type: string; id: string }): Result<string, AuthError> {
  return caller.type === "user"
    ? Result.ok(caller.id)
    : Result.err(new AuthError("forbidden", "Only user sessions may call this"));
}
