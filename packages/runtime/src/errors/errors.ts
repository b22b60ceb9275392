/**
 * The runtime's error classes and the wire envelope (runtime spec §0.1):
 * `{ id, type, message, context?, traceId?, ...typeSpecificFields }`.
 */
import { BaseError, UnexpectedError } from "@trellis/result";
import { newUlid } from "../ids.js";

/** Wire form of any Trellis error. */
export interface ErrorEnvelope {
  /** ULID of this occurrence. */
  id: string;
  /** Stable type name. */
  type: string;
  /** Human-readable message. */
  message: string;
  /** Diagnostic context. */
  context?: Record<string, unknown>;
  /** W3C trace id of the failed request. */
  traceId?: string;
  /** Type-specific fields. */
  [field: string]: unknown;
}

/** Options shared by the runtime's error constructors. */
export interface RuntimeErrorOptions {
  /** The underlying cause. */
  cause?: unknown;
  /** Diagnostic context. */
  context?: Record<string, unknown>;
  /** Occurrence id (a new ULID by default). */
  id?: string;
  /** W3C trace id. */
  traceId?: string;
}

/** Base of the runtime's builtin errors: an id, optional trace id and a wire form. */
export class RuntimeError extends BaseError {
  /** ULID of this occurrence. */
  readonly id: string;
  /** W3C trace id, when known. */
  traceId?: string;

  constructor(message: string, options: RuntimeErrorOptions = {}) {
    super(message, options);
    this.id = options.id ?? newUlid();
    if (options.traceId) this.traceId = options.traceId;
  }

  /** Type-specific wire fields. */
  protected wireFields(): Record<string, unknown> {
    return {};
  }

  /** The wire envelope. */
  toEnvelope(): ErrorEnvelope {
    const out: ErrorEnvelope = { ...this.wireFields(), id: this.id, type: this.name, message: this.message };
    if (this.context) out.context = this.context;
    if (this.traceId) out.traceId = this.traceId;
    return out;
  }

  override toSerializable(): ErrorEnvelope {
    return this.toEnvelope();
  }
}

/** One schema problem: where and what. */
export interface ValidationIssue {
  /** JSON Pointer of the offending value (`""` for the root). */
  path: string;
  /** What is wrong. */
  message: string;
}

/** A payload failed its schema. */
export class ValidationError extends RuntimeError {
  /** Every schema problem found. */
  readonly issues: ValidationIssue[];

  constructor(issues: ValidationIssue[], options: RuntimeErrorOptions = {}) {
    const lines = issues.map((issue) => `${issue.path || "/"}: ${issue.message}.`);
    super(`Validation failed. ${lines.join("\n")}`, options);
    this.issues = issues;
  }

  protected override wireFields() {
    return { issues: this.issues };
  }
}

/** Why a request was not authenticated or authorized. */
export type AuthReason =
  | "invalid_request"
  | "missing_session_key"
  | "missing_proof"
  | "session_not_found"
  | "session_expired"
  | "session_revoked"
  | "invalid_signature"
  | "iat_out_of_range"
  | "reply_subject_mismatch"
  | "insufficient_permissions"
  | "forbidden"
  | "contract_changed"
  | (string & {});

/** Authentication or authorization failed. */
export class AuthError extends RuntimeError {
  /** Machine-readable reason. */
  readonly reason: AuthReason;

  constructor(reason: AuthReason, message?: string, options: RuntimeErrorOptions = {}) {
    super(message ?? `Request refused: ${reason}`, options);
    this.reason = reason;
  }

  protected override wireFields() {
    return { reason: this.reason };
  }
}

/** Transport failure codes. */
export type TransportCode =
  | "trellis.request.unavailable"
  | "trellis.request.denied"
  | "trellis.request.failed"
  | "trellis.request.timeout"
  | "trellis.request.retry_exhausted"
  | "trellis.request.invalid_response"
  | "trellis.rpc.response_send_failed"
  | "trellis.feed.subscribe_timeout"
  | "trellis.feed.subscribe_closed"
  | "trellis.feed.subscribe_aborted"
  | "trellis.feed.failed"
  | "trellis.runtime.connect_failed"
  | "trellis.bootstrap.failed"
  | (string & {});

/** The message did not make it there and back. */
export class TransportError extends RuntimeError {
  /** Machine-readable code, e.g. `trellis.request.unavailable`. */
  readonly code: TransportCode;
  /** What the user can do about it. */
  readonly hint?: string;

  constructor(code: TransportCode, message: string, options: RuntimeErrorOptions & { hint?: string } = {}) {
    super(message, options);
    this.code = code;
    if (options.hint) this.hint = options.hint;
  }

  protected override wireFields() {
    return this.hint ? { code: this.code, hint: this.hint } : { code: this.code };
  }
}

/** A remote error whose type the method does not declare; its raw data is kept. */
export class RemoteError extends RuntimeError {
  /** The remote error as received. */
  readonly remoteError: ErrorEnvelope;

  constructor(remote: ErrorEnvelope, options: RuntimeErrorOptions = {}) {
    super(`${remote.type}: ${remote.message}`, { ...options, id: remote.id });
    this.remoteError = remote;
    if (remote.traceId) this.traceId = remote.traceId;
  }

  protected override wireFields() {
    return { remoteError: this.remoteError };
  }
}

/** A KV operation failed (`context.reason`: `not found`, `exists`, `revision mismatch`, …). */
export class KVError extends RuntimeError {
  /** The operation that failed. */
  readonly operation?: string;

  constructor(message: string, options: RuntimeErrorOptions & { operation?: string; reason?: string } = {}) {
    const context = options.reason ? { ...options.context, reason: options.reason } : options.context;
    super(message, { ...options, ...(context && { context }) });
    if (options.operation) this.operation = options.operation;
  }

  /** The machine reason, from `context.reason`. */
  get reason(): string | undefined {
    const reason = this.context?.reason;
    return typeof reason === "string" ? reason : undefined;
  }

  protected override wireFields() {
    return this.operation ? { operation: this.operation } : {};
  }
}

/** The message every serialized unexpected error carries. */
export const UNEXPECTED_ERROR_MESSAGE = "An unexpected error has occurred";

/** Wraps anything thrown into an `UnexpectedError` envelope with the cause in `context`. */
export function unexpectedEnvelope(cause: unknown, context: Record<string, unknown> = {}): ErrorEnvelope {
  const causeError = cause instanceof Error ? cause : undefined;
  return {
    id: newUlid(),
    type: UnexpectedError.name,
    message: UNEXPECTED_ERROR_MESSAGE,
    context: {
      ...context,
      causeMessage: causeError ? causeError.message : String(cause),
      ...(causeError?.stack && { causeStack: causeError.stack }),
    },
  };
}

/** The wire envelope of any error value: runtime and declared errors keep their fields, anything else is unexpected. */
export function toErrorEnvelope(error: unknown): ErrorEnvelope {
  if (error instanceof RemoteError) return unexpectedEnvelope(error);
  if (error instanceof RuntimeError) return error.toEnvelope();
  if (error instanceof BaseError) {
    const serialized: Record<string, unknown> = { ...error.toSerializable() };
    const id = typeof serialized.id === "string" ? serialized.id : newUlid();
    if (error instanceof UnexpectedError) {
      return { ...unexpectedEnvelope(error.cause ?? error, error.context), id };
    }
    return { ...serialized, id, type: String(serialized.type ?? error.name), message: error.message };
  }
  return unexpectedEnvelope(error);
}

/** Where an error crossed a service boundary (runtime spec §0.1, "Boundary annotation"). */
export interface ErrorBoundary {
  /** The context key naming the surface kind: `method`, `feed`, `operation`, `event` or `jobType`. */
  surface: "method" | "feed" | "operation" | "event" | "jobType";
  /** The surface's logical name. */
  name: string;
  /** The request's id, when known. */
  requestId?: string | undefined;
  /** The trace id, when known. */
  traceId?: string | undefined;
  /** The serving service. */
  service: string;
  /** The serving contract. */
  contract: { CONTRACT_ID: string; CONTRACT_DIGEST: string };
}

/** The envelope of an error leaving a handler, with the boundary context added and `context.subject` removed. */
export function annotateBoundaryError(error: unknown, boundary: ErrorBoundary): ErrorEnvelope {
  const envelope = toErrorEnvelope(error);
  const { subject: _subject, ...context } = envelope.context ?? {};
  envelope.context = {
    ...context,
    [boundary.surface]: boundary.name,
    ...(boundary.requestId && { requestId: boundary.requestId }),
    service: boundary.service,
    contractId: boundary.contract.CONTRACT_ID,
    contractDigest: boundary.contract.CONTRACT_DIGEST,
  };
  if (boundary.traceId) envelope.traceId = boundary.traceId;
  return envelope;
}
