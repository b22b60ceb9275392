/**
 * The one error type of the login/session flows. Each failure carries a stable `reason` (the wire
 * name clients branch on); the HTTP layer maps reasons to status codes in one place
 * (`http/errors.ts`). `details` are extra JSON fields of the error body (e.g. `serverNow`).
 */
import { BaseError } from "@trellis/result";

/** Stable reasons of refused flow requests. */
export type FlowErrorReason =
  // Request shape and proofs
  | "invalid_request"
  | "invalid_signature"
  | "iat_out_of_range"
  | "invalid_origin"
  // POST /auth/requests
  | "invalid_redirect_to"
  | "unknown_provider"
  | "invalid_manifest"
  | "manifest_required"
  | "contract_digest_mismatch"
  | "contract_kind_not_allowed"
  | "contract_dependency_unresolved"
  // Browser flow lifecycle
  | "flow_expired"
  | "flow_conflict"
  | "login_required"
  | "already_authenticated"
  | "session_key_mismatch"
  | "authtoken_already_used"
  // Local login
  | "invalid_credentials"
  | "account_locked"
  | "user_inactive"
  // Consent
  | "approval_required"
  | "approval_denied"
  | "insufficient_capabilities"
  // Logout
  | "invalid_logout_request"
  | "invalid_return_to"
  | "invalid_logout_signature"
  | "logout_session_not_found"
  // Account flows (admin bootstrap, password reset)
  | "flow_not_found"
  | "flow_consumed"
  | "password_too_short"
  | "password_too_long"
  | "username_taken";

/** JSON-safe extra fields of an error body. */
export type FlowErrorDetails = Record<string, string | number | boolean | string[] | null>;

/** A refused flow request. */
export class FlowError extends BaseError {
  constructor(
    /** Stable wire reason. */
    readonly reason: FlowErrorReason,
    message?: string,
    /** Extra fields of the error body. */
    readonly details: FlowErrorDetails = {},
  ) {
    super(message ?? defaultMessage(reason), { context: { reason, ...details } });
  }
}

function defaultMessage(reason: FlowErrorReason): string {
  switch (reason) {
    case "invalid_request":
      return "The request is malformed";
    case "invalid_signature":
      return "Invalid signature";
    case "iat_out_of_range":
      return "The proof's iat is more than 30 seconds away from the server clock";
    case "invalid_origin":
      return "This endpoint may only be called from the login portal";
    case "invalid_redirect_to":
      return "redirectTo must be a relative path, a loopback http(s) URL or an allowed web origin";
    case "unknown_provider":
      return "Unknown identity provider";
    case "invalid_manifest":
      return "The presented contract is not a valid manifest";
    case "manifest_required":
      return "The contract digest is unknown; retry with the contract manifest";
    case "contract_digest_mismatch":
      return "The contract does not match the claimed digest";
    case "contract_kind_not_allowed":
      return "Only app and agent contracts can be approved by users";
    case "contract_dependency_unresolved":
      return "The contract uses a contract or surface that is not installed";
    case "flow_expired":
      return "The login flow has expired";
    case "flow_conflict":
      return "The login flow was changed concurrently; retry";
    case "login_required":
      return "Sign in first";
    case "already_authenticated":
      return "Someone has already signed in to this login flow";
    case "session_key_mismatch":
      return "The session key is not the one that started the flow";
    case "authtoken_already_used":
      return "This login has already been bound";
    case "invalid_credentials":
      return "Invalid username or password";
    case "account_locked":
      return "Account is temporarily locked after too many failed logins; try again later";
    case "user_inactive":
      return "User account is inactive";
    case "approval_required":
      return "The user has not approved this contract";
    case "approval_denied":
      return "The user denied this contract";
    case "insufficient_capabilities":
      return "The user lacks capabilities the contract requires";
    case "invalid_logout_request":
      return "The logout request is malformed";
    case "invalid_return_to":
      return "returnTo does not match the session's app origin";
    case "invalid_logout_signature":
      return "Invalid logout signature";
    case "logout_session_not_found":
      return "No session for this session key";
    case "flow_not_found":
      return "Account flow not found";
    case "flow_consumed":
      return "Account flow has already been used";
    case "password_too_short":
      return "Password is too short";
    case "password_too_long":
      return "Password is too long";
    case "username_taken":
      return "Username is already taken";
  }
}
