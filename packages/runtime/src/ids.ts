/**
 * ULIDs for request, event, error and instance ids. `ulid()` from the `ulid` package draws each random
 * character separately (≈ 30 µs per id, more than an Ed25519 signature); its monotonic factory draws
 * once per millisecond and increments, which keeps ids unique and ordered at well under 1 µs.
 */
import { monotonicFactory } from "ulid";

/** A fresh ULID (monotonic within this process). */
export const newUlid: () => string = monotonicFactory();
