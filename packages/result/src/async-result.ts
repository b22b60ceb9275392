/**
 * `AsyncResult<T, E>`: a `Result` that is still being computed.
 *
 * It is a `PromiseLike<Result<T, E>>`, so `await asyncResult` yields the `Result`, and it offers the
 * same chainable methods as `Result` (`map`, `mapErr`, `andThen`, `match`, `unwrapOr`, `unwrap`,
 * `take`), whose callbacks may be synchronous or asynchronous.
 *
 * Failures that are part of the type travel as `Err`. A callback that throws, or a promise given to
 * `AsyncResult.from` that rejects, is treated as a defect: the awaited promise rejects. Use
 * `AsyncResult.fromPromise` (or `Result.tryAsync`) to turn rejections into `Err`s.
 *
 * @module
 */

import { UnexpectedError } from "./errors.js";
import { Err, Ok, type Result } from "./result.js";

/** A `Result` now or later: what a possibly-async step that can fail returns. */
export type MaybeAsync<T, E> = Result<T, E> | Promise<Result<T, E>>;

/** Handlers passed to `AsyncResult.match`; each may return a value or a promise of one. */
export interface AsyncMatchHandlers<T, E, A, B> {
  /** Called with the value of an `Ok`. */
  ok: (value: T) => A | PromiseLike<A>;
  /** Called with the error of an `Err`. */
  err: (error: E) => B | PromiseLike<B>;
}

/** A pending `Result<T, E>`: await it to get the `Result`, or chain methods on it directly. */
export class AsyncResult<T, E> implements PromiseLike<Result<T, E>> {
  readonly #promise: Promise<Result<T, E>>;

  private constructor(promise: Promise<Result<T, E>>) {
    this.#promise = promise;
  }

  /** Wraps a `Result`, a promise of one, or another `AsyncResult`. A rejection stays a rejection. */
  static from<T, E>(result: Result<T, E> | PromiseLike<Result<T, E>>): AsyncResult<T, E> {
    return new AsyncResult(Promise.resolve(result));
  }

  /** Creates an already-successful `AsyncResult`; with no argument its value is `void`. */
  static ok(): AsyncResult<void, never>;
  static ok<T>(value: T): AsyncResult<T, never>;
  static ok<T>(value?: T): AsyncResult<T | undefined, never> {
    return new AsyncResult(Promise.resolve(new Ok(value)));
  }

  /** Creates an already-failed `AsyncResult` holding `error`. */
  static err<E>(error: E): AsyncResult<never, E> {
    return new AsyncResult<never, E>(Promise.resolve(new Err(error)));
  }

  /** Resolution becomes `Ok`; rejection becomes `Err(mapError(reason))` (default: `UnexpectedError`). */
  static fromPromise<T>(promise: PromiseLike<T>): AsyncResult<T, UnexpectedError>;
  static fromPromise<T, E>(promise: PromiseLike<T>, mapError: (reason: unknown) => E): AsyncResult<T, E>;
  static fromPromise<T, E>(
    promise: PromiseLike<T>,
    mapError?: (reason: unknown) => E,
  ): AsyncResult<T, E | UnexpectedError> {
    const toError = mapError ?? ((reason: unknown) => UnexpectedError.from(reason));
    return new AsyncResult<T, E | UnexpectedError>(
      Promise.resolve(promise).then(
        (value) => new Ok(value),
        (reason: unknown) => new Err(toError(reason)),
      ),
    );
  }

  /** Implements `PromiseLike`: resolves with the underlying `Result`. */
  // biome-ignore lint/suspicious/noThenProperty: AsyncResult is awaitable by design.
  then<A = Result<T, E>, B = never>(
    onfulfilled?: ((result: Result<T, E>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  /** Transforms the value with `fn` (sync or async) once it is available. */
  map<U>(fn: (value: T) => U | PromiseLike<U>): AsyncResult<U, E> {
    return new AsyncResult<U, E>(
      this.#promise.then(async (result) =>
        result.ok ? new Ok(await fn(result.value)) : new Err(result.error),
      ),
    );
  }

  /** Transforms the error with `fn` (sync or async) once it is available. */
  mapErr<F>(fn: (error: E) => F | PromiseLike<F>): AsyncResult<T, F> {
    return new AsyncResult<T, F>(
      this.#promise.then(async (result) =>
        result.ok ? new Ok(result.value) : new Err(await fn(result.error)),
      ),
    );
  }

  /** Chains a step that may fail; `fn` may return a `Result`, a promise of one or an `AsyncResult`. */
  andThen<U, F>(fn: (value: T) => Result<U, F> | PromiseLike<Result<U, F>>): AsyncResult<U, E | F> {
    return new AsyncResult<U, E | F>(
      this.#promise.then((result): Result<U, E | F> | PromiseLike<Result<U, E | F>> =>
        result.ok ? fn(result.value) : new Err(result.error),
      ),
    );
  }

  /** Resolves with `handlers.ok(value)` or `handlers.err(error)`. */
  match<A, B>(handlers: AsyncMatchHandlers<T, E, A, B>): Promise<A | B> {
    return this.#promise.then((result) =>
      result.ok ? handlers.ok(result.value) : handlers.err(result.error),
    );
  }

  /** Resolves with the value, or with `fallback` for an `Err`. */
  unwrapOr<U>(fallback: U): Promise<T | U> {
    return this.#promise.then((result) => result.unwrapOr(fallback));
  }

  /** Resolves with the value; rejects like `Result.unwrap()` throws for an `Err`. */
  unwrap(): Promise<T> {
    return this.#promise.then((result) => result.unwrap());
  }

  /** Resolves with the value or the error, for early-return style code. */
  take(): Promise<T | E> {
    return this.#promise.then((result) => result.take());
  }
}
