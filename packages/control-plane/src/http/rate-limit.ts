/**
 * Fixed-window rate limiting per remote address (auth spec §5.1: `httpRateLimit` requests per
 * minute on `/auth/*`). Over the limit: 429 with `Retry-After` (seconds until the window ends).
 */
import type { MiddlewareHandler } from "hono";
import { type HttpEnv, remoteAddress } from "./env.js";

/** Options of {@link rateLimit}. */
export type RateLimitOptions = {
  /** Requests allowed per address and window. */
  limit: number;
  /** Window length (default one minute). */
  windowMs?: number;
  /** Clock in milliseconds. */
  now?: () => number;
};

type Window = { startedAt: number; count: number };

/** Windows kept before expired ones are swept. */
const SWEEP_THRESHOLD = 10_000;

/** A rate limiter; the same instance can guard several route groups with one budget. */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler<HttpEnv> {
  const windowMs = options.windowMs ?? 60_000;
  const now = options.now ?? Date.now;
  const windows = new Map<string, Window>();
  return async (c, next) => {
    const at = now();
    if (windows.size > SWEEP_THRESHOLD) {
      for (const [key, window] of windows) if (at - window.startedAt >= windowMs) windows.delete(key);
    }
    const key = remoteAddress(c);
    let window = windows.get(key);
    if (window === undefined || at - window.startedAt >= windowMs) {
      window = { startedAt: at, count: 0 };
      windows.set(key, window);
    }
    window.count += 1;
    if (window.count > options.limit) {
      const retryAfter = Math.max(1, Math.ceil((window.startedAt + windowMs - at) / 1000));
      return c.json({ reason: "rate_limited", message: "Too many requests; retry later", retryAfter }, 429, {
        "Retry-After": String(retryAfter),
      });
    }
    await next();
  };
}
