/**
 * Operation lifecycle errors (runtime spec §0.1) and the decoding of error frames received from a
 * control subject (§4.6): lifecycle and builtin errors are rebuilt as their classes; any other type
 * becomes a `TransportError` `trellis.operation.control_error` naming it.
 */
import { BUILTIN_ERROR_TYPES } from "@trellis/contracts";
import type { BaseError } from "@trellis/result";
import { decodeRemoteError, parseErrorEnvelope } from "../errors/decode.js";
import {
  type ErrorEnvelope,
  RuntimeError,
  type RuntimeErrorOptions,
  TransportError,
} from "../errors/errors.js";
import type { OperationState } from "./model.js";

/** No operation with this id exists in the service's operations bucket. */
export class OperationNotFoundError extends RuntimeError {
  constructor(
    /** The id asked for. */
    readonly operationId: string,
    options: RuntimeErrorOptions = {},
  ) {
    super(`Operation '${operationId}' does not exist`, options);
  }

  protected override wireFields() {
    return { operationId: this.operationId };
  }
}

/** Details of an {@link OperationAlreadyTerminalError}. */
export interface AlreadyTerminalDetails {
  /** The terminal state. */
  state?: OperationState;
  /** The operation's logical name. */
  operation?: string;
  /** The service that owns it. */
  service?: string;
}

/** A mutation or signal reached an operation that already completed, failed or was cancelled. */
export class OperationAlreadyTerminalError extends RuntimeError {
  /** The terminal state. */
  readonly state?: OperationState;
  /** The operation's logical name. */
  readonly operation?: string;
  /** The service that owns it. */
  readonly service?: string;

  constructor(
    /** The operation. */
    readonly operationId: string,
    details: AlreadyTerminalDetails = {},
    options: RuntimeErrorOptions = {},
  ) {
    super(`Operation '${operationId}' is already ${details.state ?? "terminal"} and cannot change`, options);
    if (details.state) this.state = details.state;
    if (details.operation) this.operation = details.operation;
    if (details.service) this.service = details.service;
  }

  protected override wireFields() {
    return {
      operationId: this.operationId,
      ...(this.state && { state: this.state }),
      ...(this.operation && { operation: this.operation }),
      ...(this.service && { service: this.service }),
    };
  }
}

/** Details of an {@link OperationMismatchError}. */
export interface MismatchDetails {
  /** The service that was asked. */
  expectedService: string;
  /** The operation that was asked. */
  expectedOperation: string;
  /** The record's service. */
  actualService?: string;
  /** The record's operation. */
  actualOperation?: string;
}

/** The id names an operation of another service or another operation key. */
export class OperationMismatchError extends RuntimeError {
  /** The service that was asked. */
  readonly expectedService: string;
  /** The operation that was asked. */
  readonly expectedOperation: string;
  /** The record's service. */
  readonly actualService?: string;
  /** The record's operation. */
  readonly actualOperation?: string;

  constructor(
    /** The operation. */
    readonly operationId: string,
    details: MismatchDetails,
    options: RuntimeErrorOptions = {},
  ) {
    super(
      `Operation '${operationId}' is '${details.actualOperation ?? "?"}' of '${details.actualService ?? "?"}', ` +
        `not '${details.expectedOperation}' of '${details.expectedService}'`,
      options,
    );
    this.expectedService = details.expectedService;
    this.expectedOperation = details.expectedOperation;
    if (details.actualService !== undefined) this.actualService = details.actualService;
    if (details.actualOperation !== undefined) this.actualOperation = details.actualOperation;
  }

  protected override wireFields() {
    return {
      operationId: this.operationId,
      expectedService: this.expectedService,
      expectedOperation: this.expectedOperation,
      ...(this.actualService !== undefined && { actualService: this.actualService }),
      ...(this.actualOperation !== undefined && { actualOperation: this.actualOperation }),
    };
  }
}

/** Error types every operation may send: the builtins; the lifecycle errors are decoded apart. */
export const OPERATION_DECLARED_ERRORS = {
  declaredErrorTypes: [...BUILTIN_ERROR_TYPES],
  runtimeErrors: {},
};

const STATES = new Set(["pending", "running", "completed", "failed", "cancelled"]);

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function common(envelope: ErrorEnvelope): RuntimeErrorOptions {
  return {
    id: envelope.id,
    ...(envelope.context && { context: envelope.context }),
    ...(envelope.traceId && { traceId: envelope.traceId }),
  };
}

/** Rebuilds a lifecycle error when its data is complete; `undefined` otherwise. */
function decodeLifecycle(envelope: ErrorEnvelope): BaseError | undefined {
  const operationId = text(envelope.operationId);
  if (operationId === undefined) return undefined;
  switch (envelope.type) {
    case "OperationNotFoundError":
      return new OperationNotFoundError(operationId, common(envelope));
    case "OperationAlreadyTerminalError": {
      const state = text(envelope.state);
      const operation = text(envelope.operation);
      const service = text(envelope.service);
      return new OperationAlreadyTerminalError(
        operationId,
        {
          ...(state && STATES.has(state) && { state: state as OperationState }),
          ...(operation && { operation }),
          ...(service && { service }),
        },
        common(envelope),
      );
    }
    case "OperationMismatchError": {
      const expectedService = text(envelope.expectedService);
      const expectedOperation = text(envelope.expectedOperation);
      if (expectedService === undefined || expectedOperation === undefined) return undefined;
      const actualService = text(envelope.actualService);
      const actualOperation = text(envelope.actualOperation);
      return new OperationMismatchError(
        operationId,
        {
          expectedService,
          expectedOperation,
          ...(actualService !== undefined && { actualService }),
          ...(actualOperation !== undefined && { actualOperation }),
        },
        common(envelope),
      );
    }
    default:
      return undefined;
  }
}

/** Rebuilds the error of an `error` frame (runtime spec §4.6). */
export function decodeOperationError(value: unknown): BaseError {
  const envelope = parseErrorEnvelope(value);
  if (!envelope) {
    return new TransportError("trellis.operation.control_error", "The service sent an invalid error frame", {
      context: { controlErrorType: null, controlErrorMessage: null },
    });
  }
  const lifecycle = decodeLifecycle(envelope);
  if (lifecycle) return lifecycle;
  if ((BUILTIN_ERROR_TYPES as readonly string[]).includes(envelope.type)) {
    return decodeRemoteError(envelope, OPERATION_DECLARED_ERRORS);
  }
  return new TransportError(
    "trellis.operation.control_error",
    `The operation control request failed: ${envelope.type}: ${envelope.message}`,
    {
      context: { controlErrorType: envelope.type, controlErrorMessage: envelope.message },
      ...(envelope.traceId && { traceId: envelope.traceId }),
    },
  );
}
