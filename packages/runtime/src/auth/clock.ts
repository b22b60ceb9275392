/**
 * Clock-offset estimation: participants stamp `iat` with server time, so a skewed local clock does not
 * get every request refused with `iat_out_of_range`.
 */

/** A clock corrected by an offset learned from a server's `serverNow`. */
export class ServerClock {
  /** Milliseconds to add to the local clock to get the server's. */
  offsetMs = 0;

  /**
   * Learns the offset from a response that carried `serverNow` (unix seconds or milliseconds, or an
   * ISO string), assuming the server stamped it half-way through the round trip.
   */
  observe(serverNow: number | string, sentAtMs: number, receivedAtMs: number = Date.now()): number {
    this.offsetMs = estimateClockOffset(serverNow, sentAtMs, receivedAtMs);
    return this.offsetMs;
  }

  /** Server time in milliseconds. */
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  /** Server time in unix seconds: the `iat` to sign. */
  iat(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

/** Offset (ms) between a server clock and the local one, from one request/response pair (midpoint estimate). */
export function estimateClockOffset(
  serverNow: number | string,
  sentAtMs: number,
  receivedAtMs: number,
): number {
  let serverMs: number;
  if (typeof serverNow === "string") serverMs = Date.parse(serverNow);
  else serverMs = serverNow < 1e11 ? serverNow * 1000 : serverNow;
  if (!Number.isFinite(serverMs)) throw new TypeError(`serverNow '${serverNow}' is not a time`);
  const midpoint = sentAtMs + (receivedAtMs - sentAtMs) / 2;
  return Math.round(serverMs - midpoint);
}
