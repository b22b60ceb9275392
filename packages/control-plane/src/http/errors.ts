/**
 * The one place where flow error reasons become HTTP status codes, and the error body shape
 * `{reason, message, ...details}` every JSON route answers with.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { FlowError, FlowErrorReason } from "../flows/errors.js";

const STATUS_BY_REASON: Readonly<Record<FlowErrorReason, ContentfulStatusCode>> = {
  invalid_request: 400,
  invalid_signature: 400,
  iat_out_of_range: 400,
  invalid_redirect_to: 400,
  unknown_provider: 400,
  session_key_mismatch: 400,
  authtoken_already_used: 400,
  invalid_logout_request: 400,
  invalid_return_to: 400,
  password_too_short: 400,
  password_too_long: 400,
  invalid_logout_signature: 401,
  logout_session_not_found: 401,
  invalid_origin: 403,
  login_required: 403,
  invalid_credentials: 403,
  account_locked: 403,
  user_inactive: 403,
  approval_required: 403,
  approval_denied: 403,
  insufficient_capabilities: 403,
  flow_not_found: 404,
  invalid_manifest: 409,
  manifest_required: 409,
  contract_digest_mismatch: 409,
  contract_kind_not_allowed: 409,
  contract_dependency_unresolved: 409,
  already_authenticated: 409,
  flow_conflict: 409,
  username_taken: 409,
  flow_expired: 410,
  flow_consumed: 410,
};

/** The HTTP status of a refused flow request. */
export function httpStatusFor(reason: FlowErrorReason): ContentfulStatusCode {
  return STATUS_BY_REASON[reason];
}

/** The JSON body of a refused request. */
export function errorBody(error: FlowError): Record<string, unknown> {
  return { reason: error.reason, message: error.message, ...error.details };
}

/** Answers a refused request with its status and `{reason, message, ...details}`. */
export function errorResponse(c: Context, error: FlowError): Response {
  return c.json(errorBody(error), httpStatusFor(error.reason));
}
