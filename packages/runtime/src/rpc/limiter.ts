import type { Msg, Subscription } from "@nats-io/transport-node";

/** A counting semaphore that bounds how many requests are handled at once. */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  }

  /** Waits for a free slot. */
  acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Frees a slot, handing it to the next waiter if any. */
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

/**
 * Handles each message of `sub` with at most `limit` handlers running at once (a bad `limit` throws
 * here, synchronously); the promise settles when the subscription ends. `handle` must not reject.
 */
export function handleConcurrently(
  sub: Subscription,
  limit: number,
  handle: (msg: Msg) => Promise<void>,
): Promise<void> {
  const limiter = new ConcurrencyLimiter(limit);
  return (async () => {
    for await (const msg of sub) {
      await limiter.acquire();
      void handle(msg).finally(() => limiter.release());
    }
  })();
}
