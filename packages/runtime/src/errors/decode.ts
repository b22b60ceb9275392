/** Rebuilds errors received over the wire (runtime spec §0.1, "Client-side reconstruction"). */
import type { ErrorClassLike } from "@trellis/contracts";
import { type BaseError, UnexpectedError } from "@trellis/result";
import { z } from "zod";
import {
  AuthError,
  type ErrorEnvelope,
  KVError,
  RemoteError,
  type RuntimeError,
  TransportError,
  ValidationError,
  type ValidationIssue,
} from "./errors.js";

const envelopeSchema = z.looseObject({
  id: z.string(),
  type: z.string().min(1),
  message: z.string(),
  context: z.record(z.string(), z.unknown()).optional(),
  traceId: z.string().optional(),
});

/** Parses an error body; `undefined` when it is not an error envelope. */
export function parseErrorEnvelope(value: unknown): ErrorEnvelope | undefined {
  const parsed = envelopeSchema.safeParse(value);
  return parsed.success ? (parsed.data as ErrorEnvelope) : undefined;
}

function withCommon<E extends RuntimeError>(error: E, envelope: ErrorEnvelope): E {
  if (envelope.traceId) error.traceId = envelope.traceId;
  return error;
}

const issuesSchema = z.array(z.object({ path: z.string(), message: z.string() }));

/** Builders of the builtin error types a method may declare. */
const BUILTIN_DECODERS: Record<string, (e: ErrorEnvelope) => BaseError> = {
  ValidationError: (e) => {
    const issues = issuesSchema.safeParse(e.issues);
    const list: ValidationIssue[] = issues.success ? issues.data : [{ path: "", message: e.message }];
    return withCommon(new ValidationError(list, { id: e.id, ...(e.context && { context: e.context }) }), e);
  },
  AuthError: (e) =>
    withCommon(
      new AuthError(typeof e.reason === "string" ? e.reason : "invalid_request", e.message, {
        id: e.id,
        ...(e.context && { context: e.context }),
      }),
      e,
    ),
  TransportError: (e) =>
    withCommon(
      new TransportError(typeof e.code === "string" ? e.code : "trellis.request.failed", e.message, {
        id: e.id,
        ...(e.context && { context: e.context }),
        ...(typeof e.hint === "string" && { hint: e.hint }),
      }),
      e,
    ),
  KVError: (e) =>
    withCommon(
      new KVError(e.message, {
        id: e.id,
        ...(e.context && { context: e.context }),
        ...(typeof e.operation === "string" && { operation: e.operation }),
      }),
      e,
    ),
  UnexpectedError: (e) => new UnexpectedError(e.message, { ...(e.context && { context: e.context }) }),
};

/** How a method describes the errors it may return. */
export interface DeclaredErrors {
  /** Error type names the method declares. */
  declaredErrorTypes: readonly string[];
  /** Classes of contract-local declared errors, by type. */
  runtimeErrors: Readonly<Record<string, ErrorClassLike>>;
}

/**
 * Rebuilds a remote error: a declared builtin or contract error becomes its class (its payload is
 * validated first); anything else becomes a {@link RemoteError} that keeps the raw data.
 */
export function decodeRemoteError(envelope: ErrorEnvelope, declared: DeclaredErrors): BaseError {
  if (declared.declaredErrorTypes.includes(envelope.type)) {
    const local = declared.runtimeErrors[envelope.type];
    if (local) {
      try {
        return local.fromSerializable(envelope);
      } catch {
        return new RemoteError(envelope);
      }
    }
    const builtin = BUILTIN_DECODERS[envelope.type];
    if (builtin) return builtin(envelope);
  }
  return new RemoteError(envelope);
}
