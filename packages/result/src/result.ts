/**
 * Synchronous `Result<T, E>`: either an `Ok` holding a value or an `Err` holding an error.
 *
 * Both variants share one method set (`map`, `mapErr`, `andThen`, `match`, `unwrapOr`, `unwrap`,
 * `take`), so a `Result` can be transformed without checking which variant it is. The `Result`
 * value (merged with the `Result` type) holds the constructors and helpers: `Result.ok`,
 * `Result.err`, `Result.try`, `Result.tryAsync`, `Result.all`, `Result.isResult`.
 *
 * Tip: annotate the return type of functions that return both variants
 * (`function f(): Result<number, MyError>`), otherwise TypeScript infers `Ok<number, never> | Err<never, MyError>`.
 *
 * @module
 */

import { AsyncResult } from "./async-result.js";
import { BaseError, UnexpectedError } from "./errors.js";

/** Handlers passed to `match`: one for each variant. */
export interface MatchHandlers<T, E, A, B> {
  /** Called with the value of an `Ok`. */
  ok: (value: T) => A;
  /** Called with the error of an `Err`. */
  err: (error: E) => B;
}

/** The successful variant of `Result`, holding `value`. `E` is only carried for typing. */
export class Ok<T, E> {
  /** Discriminant: always `true` for `Ok`. */
  readonly ok = true as const;

  /** Wraps a success value. Prefer `Result.ok(value)`. */
  constructor(
    /** The success value. */
    readonly value: T,
  ) {}

  /** Type guard: `true` for `Ok`. */
  isOk(): this is Ok<T, E> {
    return true;
  }

  /** Type guard: `false` for `Ok`. */
  isErr(): this is Err<T, E> {
    return false;
  }

  /** Transforms the value with `fn`. */
  map<U>(fn: (value: T) => U): Result<U, E> {
    return new Ok(fn(this.value));
  }

  /** Leaves an `Ok` unchanged (only the error type changes). */
  mapErr<F>(_fn: (error: E) => F): Result<T, F> {
    return new Ok(this.value);
  }

  /** Chains a step that may itself fail: returns `fn(value)`. */
  andThen<U, F>(fn: (value: T) => Result<U, F>): Result<U, E | F> {
    return fn(this.value);
  }

  /** Calls `handlers.ok` with the value and returns its result. */
  match<A, B>(handlers: MatchHandlers<T, E, A, B>): A | B {
    return handlers.ok(this.value);
  }

  /** Returns the value (the fallback is ignored). */
  unwrapOr<U>(_fallback: U): T | U {
    return this.value;
  }

  /** Returns the value. */
  unwrap(): T {
    return this.value;
  }

  /** Returns the value (the `Err` variant returns its error) for early-return style code. */
  take(): T | E {
    return this.value;
  }
}

/** The failed variant of `Result`, holding `error`. `T` is only carried for typing. */
export class Err<T, E> {
  /** Discriminant: always `false` for `Err`. */
  readonly ok = false as const;

  /** Wraps an error. Prefer `Result.err(error)`. */
  constructor(
    /** The error. */
    readonly error: E,
  ) {}

  /** Type guard: `false` for `Err`. */
  isOk(): this is Ok<T, E> {
    return false;
  }

  /** Type guard: `true` for `Err`. */
  isErr(): this is Err<T, E> {
    return true;
  }

  /** Leaves an `Err` unchanged (only the value type changes). */
  map<U>(_fn: (value: T) => U): Result<U, E> {
    return new Err(this.error);
  }

  /** Transforms the error with `fn`. */
  mapErr<F>(fn: (error: E) => F): Result<T, F> {
    return new Err(fn(this.error));
  }

  /** Short-circuits: `fn` is not called and the `Err` is returned as is. */
  andThen<U, F>(_fn: (value: T) => Result<U, F>): Result<U, E | F> {
    return new Err(this.error);
  }

  /** Calls `handlers.err` with the error and returns its result. */
  match<A, B>(handlers: MatchHandlers<T, E, A, B>): A | B {
    return handlers.err(this.error);
  }

  /** Returns `fallback`. */
  unwrapOr<U>(fallback: U): T | U {
    return fallback;
  }

  /** Throws: the error itself if it is an `Error`, otherwise a `BaseError` whose `cause` is the error. */
  unwrap(): T {
    if (this.error instanceof Error) throw this.error;
    throw new BaseError("Called unwrap() on an Err holding a non-Error value", { cause: this.error });
  }

  /** Returns the error (the `Ok` variant returns its value) for early-return style code. */
  take(): T | E {
    return this.error;
  }
}

/** Either `Ok<T, E>` (success, `ok: true`, `value`) or `Err<T, E>` (failure, `ok: false`, `error`). */
export type Result<T, E> = Ok<T, E> | Err<T, E>;

/** Value type carried by a `Result` type (distributes over unions). */
export type OkValue<R> = R extends Ok<infer T, unknown> ? T : R extends Err<infer T, unknown> ? T : never;

/** Error type carried by a `Result` type (distributes over unions). */
export type ErrValue<R> = R extends Ok<unknown, infer E> ? E : R extends Err<unknown, infer E> ? E : never;

/** Maps a tuple or array of `Result`s to the tuple or array of their value types. */
export type OkValues<R extends readonly Result<unknown, unknown>[]> = {
  -readonly [K in keyof R]: OkValue<R[K]>;
};

/** Creates an `Ok`; called with no argument it creates `Ok<void>`. */
function ok(): Ok<void, never>;
function ok<T>(value: T): Ok<T, never>;
function ok<T>(value?: T): Ok<T | undefined, never> {
  return new Ok(value);
}

/** Creates an `Err` holding `error`. */
function err<E>(error: E): Err<never, E> {
  return new Err(error);
}

/** `true` if `x` is an `Ok` or an `Err`. */
function isResult(x: unknown): x is Result<unknown, unknown> {
  return x instanceof Ok || x instanceof Err;
}

/** Runs `fn`, returning `Ok(returned value)` or `Err(mapError(thrown))` (default: `UnexpectedError`). */
function tryCatch<T>(fn: () => T): Result<T, UnexpectedError>;
function tryCatch<T, E>(fn: () => T, mapError: (thrown: unknown) => E): Result<T, E>;
function tryCatch<T, E>(fn: () => T, mapError?: (thrown: unknown) => E): Result<T, E | UnexpectedError> {
  try {
    return new Ok(fn());
  } catch (thrown) {
    return mapError === undefined ? new Err(UnexpectedError.from(thrown)) : new Err(mapError(thrown));
  }
}

/** Runs a possibly async `fn`; sync throws and rejections become `Err(mapError(reason))`. */
function tryAsync<T>(fn: () => T | PromiseLike<T>): AsyncResult<T, UnexpectedError>;
function tryAsync<T, E>(fn: () => T | PromiseLike<T>, mapError: (thrown: unknown) => E): AsyncResult<T, E>;
function tryAsync<T, E>(
  fn: () => T | PromiseLike<T>,
  mapError?: (thrown: unknown) => E,
): AsyncResult<T, E | UnexpectedError> {
  // The Promise executor turns a synchronous throw from `fn` into a rejection.
  const promise = new Promise<T>((resolve) => resolve(fn()));
  return mapError === undefined
    ? AsyncResult.fromPromise(promise)
    : AsyncResult.fromPromise(promise, mapError);
}

/** Returns the first `Err` in `results`, or `Ok` of all values (in order) when every one is `Ok`. */
function all<const R extends readonly Result<unknown, unknown>[]>(
  results: R,
): Result<OkValues<R>, ErrValue<R[number]>> {
  const values: unknown[] = [];
  for (const result of results) {
    if (!result.ok) return result as Err<never, ErrValue<R[number]>>;
    values.push(result.value);
  }
  return new Ok(values as OkValues<R>);
}

/** Constructors and helpers for `Result` (merged with the `Result` type of the same name). */
export const Result = {
  ok,
  err,
  try: tryCatch,
  tryAsync,
  all,
  isResult,
} as const;

/** Standalone type guard: `true` if `result` is an `Ok`. */
export function isOk<T, E>(result: Result<T, E>): result is Ok<T, E> {
  return result.ok;
}

/** Standalone type guard: `true` if `result` is an `Err`. */
export function isErr<T, E>(result: Result<T, E>): result is Err<T, E> {
  return !result.ok;
}

export { err, ok };
