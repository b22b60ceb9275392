/**
 * ULIDs for request, event, error and instance ids. `ulid()` from the `ulid` package draws each random
 * character separately (≈ 30 µs per id, more than an Ed25519 signature); its monotonic factory draws
 * once per millisecond and increments, which keeps ids unique and ordered at well under 1 µs. Its
 * random characters come from a pooled buffer ({@link randomByte}), so even the first id of each
 * millisecond costs no system call of its own.
 */
import { randomFillSync } from "node:crypto";
import { monotonicFactory } from "ulid";

const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolAt = POOL_BYTES;

/** A cryptographically random byte, from a buffer refilled by one `randomFillSync` per 4 KiB. */
export function randomByte(): number {
  if (poolAt >= POOL_BYTES) {
    randomFillSync(pool);
    poolAt = 0;
  }
  return pool[poolAt++] as number;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** `bytes` cryptographically random bytes as lowercase hex (from the same pool). */
export function randomHex(bytes: number): string {
  let hex = "";
  for (let i = 0; i < bytes; i++) hex += HEX[randomByte()];
  return hex;
}

/** A fresh ULID (monotonic within this process). */
export const newUlid: () => string = monotonicFactory(() => randomByte() / 256);
