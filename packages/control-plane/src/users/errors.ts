/**
 * Expected failures of the user-account logic, each with a stable `reason`.
 */
import { BaseError } from "@trellis/result";

/** Why a password was refused by the policy. */
export type PasswordPolicyReason = "password_too_short" | "password_too_long";

/** The password does not satisfy the password policy. */
export class PasswordPolicyError extends BaseError {
  constructor(
    readonly reason: PasswordPolicyReason,
    readonly limit: number,
  ) {
    super(
      reason === "password_too_short"
        ? `Password must be at least ${limit} characters long`
        : `Password must be at most ${limit} characters long`,
      { context: { limit } },
    );
  }
}

/** A password policy was configured below the floor (a configuration error, thrown). */
export class InvalidPasswordPolicyError extends BaseError {
  readonly reason = "invalid_password_policy" as const;
}

/** Why a local login was refused. */
export type AuthFailureReason = "invalid_credentials" | "account_locked" | "user_inactive";

/** A refused local login. `invalid_credentials` does not say whether the username or the password was wrong. */
export class AuthFailure extends BaseError {
  constructor(readonly reason: AuthFailureReason) {
    super(authFailureMessage(reason));
  }
}

function authFailureMessage(reason: AuthFailureReason): string {
  switch (reason) {
    case "invalid_credentials":
      return "Invalid username or password";
    case "account_locked":
      return "Account is temporarily locked after too many failed logins; try again later";
    case "user_inactive":
      return "User account is inactive";
  }
}

/** The change would leave no active administrator. */
export class LastAdminRequiredError extends BaseError {
  readonly reason = "last_admin_required" as const;

  constructor(message = "At least one active administrator must remain") {
    super(message);
  }
}

/** The local username is already used by another account. */
export class UsernameTakenError extends BaseError {
  readonly reason = "username_taken" as const;

  constructor(username: string) {
    super(`Username '${username}' is already taken`, { context: { username } });
  }
}
