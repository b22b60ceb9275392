/**
 * The callout's concurrency limiter (auth spec §3.2 step 2): at most 32 requests in flight, 256
 * queued, 8 in flight per client IP and 16 per server; anything beyond is refused as `rate_limited`.
 */

/** Limits of {@link CalloutLimiter}. */
export interface CalloutLimits {
  /** In flight overall. */
  maxInFlight: number;
  /** Waiting for a slot. */
  maxQueued: number;
  /** In flight per client IP. */
  perClient: number;
  /** In flight per server. */
  perServer: number;
}

/** The spec's defaults. */
export const DEFAULT_CALLOUT_LIMITS: CalloutLimits = {
  maxInFlight: 32,
  maxQueued: 256,
  perClient: 8,
  perServer: 16,
};

/** Admits callout requests within the limits. */
export class CalloutLimiter {
  private inFlight = 0;
  private readonly queue: (() => void)[] = [];
  private readonly byClient = new Map<string, number>();
  private readonly byServer = new Map<string, number>();

  constructor(private readonly limits: CalloutLimits = DEFAULT_CALLOUT_LIMITS) {}

  /** Runs `task` when admitted and returns `true`; returns `false` without running it when over a limit. */
  async run(client: string, server: string, task: () => Promise<void>): Promise<boolean> {
    if ((this.byClient.get(client) ?? 0) >= this.limits.perClient) return false;
    if ((this.byServer.get(server) ?? 0) >= this.limits.perServer) return false;
    if (this.inFlight >= this.limits.maxInFlight) {
      if (this.queue.length >= this.limits.maxQueued) return false;
      await new Promise<void>((resolve) => this.queue.push(resolve));
    } else {
      this.inFlight++;
    }
    this.bump(this.byClient, client, 1);
    this.bump(this.byServer, server, 1);
    try {
      await task();
      return true;
    } finally {
      this.bump(this.byClient, client, -1);
      this.bump(this.byServer, server, -1);
      const next = this.queue.shift();
      if (next) next();
      else this.inFlight--;
    }
  }

  private bump(map: Map<string, number>, key: string, delta: number): void {
    const value = (map.get(key) ?? 0) + delta;
    if (value <= 0) map.delete(key);
    else map.set(key, value);
  }
}
