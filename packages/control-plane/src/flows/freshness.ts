/**
 * Freshness of `iat`-bearing proofs (auth spec §7): every one is refused when it is more than 30
 * seconds away from the server clock; the refusal carries `serverNow` so the client can correct its
 * clock and retry once.
 */
import { Result } from "@trellis/result";
import { FlowError } from "./errors.js";

/** Largest accepted |serverNow − iat|, in seconds. */
export const IAT_SKEW_SECONDS = 30;

/** The server clock in whole unix seconds. */
export function serverNowSeconds(now: Date): number {
  return Math.floor(now.getTime() / 1000);
}

/** `Err(iat_out_of_range + serverNow)` when `iat` is more than 30 s away from `now`. */
export function checkIatFreshness(iat: number, now: Date): Result<void, FlowError> {
  const serverNow = serverNowSeconds(now);
  if (!Number.isSafeInteger(iat) || Math.abs(serverNow - iat) > IAT_SKEW_SECONDS) {
    return Result.err(new FlowError("iat_out_of_range", undefined, { serverNow }));
  }
  return Result.ok();
}
