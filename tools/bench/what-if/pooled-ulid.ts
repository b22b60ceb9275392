/**
 * What-if for the RPC benchmark: a ULID whose 80 random bits come from a pooled random buffer (one
 * `randomFillSync` per 256 ids) instead of one `crypto.getRandomValues` call per character, as `ulid`
 * 3 does. `tsconfig.json` here maps the `ulid` package to this module, so the runtime sources use it
 * unchanged: `npx tsx --tsconfig tools/bench/what-if/tsconfig.json tools/bench/rpc.ts`.
 */
import { randomFillSync } from "node:crypto";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

/** A 26-character ULID: 48-bit millisecond time, then 80 random bits, Crockford base32. */
export function ulid(now: number = Date.now()): string {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  let time = "";
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  let random = "";
  for (let i = 0; i < 16; i++) random += CROCKFORD[(pool[offset++] ?? 0) & 31];
  return time + random;
}

/** Stands in for `ulid`'s `monotonicFactory` too, so the runtime can import either name. */
export function monotonicFactory(): (now?: number) => string {
  return ulid;
}
