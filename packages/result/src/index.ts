/**
 * `@trellis/result`: typed success/failure values instead of exceptions.
 *
 * - `Result<T, E>` (`Ok` | `Err`) with `map`, `mapErr`, `andThen`, `match`, `unwrapOr`, `unwrap`, `take`,
 *   plus the `Result.ok / err / try / tryAsync / all / isResult` helpers.
 * - `AsyncResult<T, E>`: an awaitable `Result` with the same chainable methods.
 * - `BaseError` / `UnexpectedError`: the error hierarchy used across Trellis.
 *
 * @module
 */

export { type AsyncMatchHandlers, AsyncResult, type MaybeAsync } from "./async-result.js";
export { BaseError, type BaseErrorOptions, type SerializedError, UnexpectedError } from "./errors.js";
export {
  Err,
  type ErrValue,
  err,
  isErr,
  isOk,
  type MatchHandlers,
  Ok,
  type OkValue,
  type OkValues,
  ok,
  Result,
} from "./result.js";
