/**
 * The replay cache of `Auth.Requests.Validate` (auth spec §7): a `(sessionKey, requestId)` pair is
 * accepted once while its entry lives (30 s, the iat window). Per process, as the runtime's own.
 */

/** Default lifetime of an entry: the ±30 s proof freshness window. */
export const REPLAY_WINDOW_MS = 30_000;

/** Remembers request ids for a while and refuses to see one twice. */
export class ReplayCache {
  /** Key → when it may be forgotten (ms since epoch), in insertion order. */
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly windowMs: number = REPLAY_WINDOW_MS,
    private readonly maxEntries: number = 100_000,
  ) {}

  /** Records `requestId` of `sessionKey`; `false` when it was seen within the window (a replay). */
  remember(sessionKey: string, requestId: string, nowMs: number): boolean {
    this.prune(nowMs);
    const key = `${sessionKey}:${requestId}`;
    const until = this.entries.get(key);
    if (until !== undefined && until > nowMs) return false;
    this.entries.delete(key);
    this.entries.set(key, nowMs + this.windowMs);
    return true;
  }

  /** How many entries are held. */
  get size(): number {
    return this.entries.size;
  }

  private prune(nowMs: number): void {
    for (const [key, until] of this.entries) {
      // Entries are in insertion order and share one lifetime, so the first live one ends the sweep
      // (unless the cache is over its bound, when the oldest go regardless).
      if (until > nowMs && this.entries.size < this.maxEntries) break;
      this.entries.delete(key);
    }
  }
}
