/**
 * Error classes shared by every Trellis package.
 *
 * `BaseError` names itself after the concrete subclass that was constructed, carries optional
 * structured `context`, and turns into a plain JSON-safe object via `toSerializable()`.
 * `UnexpectedError` is the catch-all used when a thrown value or a rejection is turned into an `Err`.
 *
 * @module
 */

/** Options accepted by the `BaseError` constructor. */
export interface BaseErrorOptions {
  /** The underlying failure (thrown value, rejection reason, lower-level error). */
  cause?: unknown;
  /** Structured, JSON-friendly details about the failure. */
  context?: Record<string, unknown>;
}

/** Plain-object form of a `BaseError`, safe to put on the wire or in logs. */
export interface SerializedError {
  /** The error's `name`, i.e. its class name unless a subclass overrides it. */
  type: string;
  /** The human-readable message. */
  message: string;
  /** Structured details, present only when the error was given some. */
  context?: Record<string, unknown>;
}

/**
 * Root of the Trellis error hierarchy.
 *
 * `name` defaults to the name of the class that was actually constructed (`new.target.name`), so
 * subclasses need no boilerplate. A subclass can choose another name with either
 * `static override name = "Custom"` or an instance field `override readonly name = "Custom"`.
 */
export class BaseError extends Error {
  /** Structured details about the failure, if any were given. */
  declare readonly context?: Record<string, unknown>;

  /** Creates an error with a message and optional `cause` and `context`. */
  constructor(message: string, options?: BaseErrorOptions) {
    super(message, options !== undefined && "cause" in options ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    if (options?.context !== undefined) {
      this.context = options.context;
    }
  }

  /** Returns `{ type, message, context? }`, where `type` is the error's `name`. */
  toSerializable(): SerializedError {
    const serialized: SerializedError = { type: this.name, message: this.message };
    if (this.context !== undefined) {
      serialized.context = this.context;
    }
    return serialized;
  }

  /** Same as `toSerializable()`; lets `JSON.stringify` produce the serialized form. */
  toJSON(): SerializedError {
    return this.toSerializable();
  }
}

/** Describes an arbitrary thrown value in a short human-readable string. */
function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === "string") return thrown;
  if (thrown === undefined || thrown === null) return String(thrown);
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}

/** An unanticipated failure (a thrown exception, a rejected promise) wrapped with its `cause`. */
export class UnexpectedError extends BaseError {
  /** Creates an unexpected-failure error; the default message is "Unexpected error". */
  constructor(message = "Unexpected error", options?: BaseErrorOptions) {
    super(message, options);
  }

  /** Wraps any thrown value as the `cause`; the message is derived from it unless one is given. */
  static from(thrown: unknown, message?: string): UnexpectedError {
    if (thrown instanceof UnexpectedError && message === undefined) return thrown;
    return new UnexpectedError(message ?? `Unexpected error: ${describeThrown(thrown)}`, { cause: thrown });
  }
}
