/**
 * Inbox repositories (runtime spec §2): remember which event ids a handler has already processed, so
 * a handler that is not idempotent can skip redeliveries (events are delivered at least once).
 */

/** Records processed message ids. */
export interface InboxRepository {
  /** Records `messageId`; true the first time it is seen, false for a repeat. */
  record(messageId: string): Promise<boolean>;
}

/** An in-process inbox (lost on exit): for tests and single-process handlers. */
export class MemoryInboxRepository implements InboxRepository {
  private readonly seen = new Set<string>();

  async record(messageId: string): Promise<boolean> {
    if (this.seen.has(messageId)) return false;
    this.seen.add(messageId);
    return true;
  }
}
