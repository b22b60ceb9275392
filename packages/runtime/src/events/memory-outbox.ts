/** An in-process outbox (runtime spec §2): for tests and for services without a database. Lost on exit. */
import {
  loadPreparedEvent,
  type OutboxEntry,
  type OutboxRepository,
  type OutboxState,
  type StoredPreparedEvent,
  storePreparedEvent,
} from "./outbox.js";
import type { PreparedEvent } from "./types.js";

interface MemoryRow extends StoredPreparedEvent {
  state: Exclude<OutboxState, "claimed">;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  nextAttemptAt: number;
  lastError?: string;
}

/** Options of the outbox repositories that lease claimed entries. */
export interface OutboxLeaseOptions {
  /** How long a claimed entry stays hidden from other dispatchers, ms (default 30000). */
  claimLeaseMs?: number;
}

/** An outbox held in memory; `claimDue` leases entries by moving their next attempt time. */
export class MemoryOutboxRepository implements OutboxRepository {
  private readonly rows = new Map<string, MemoryRow>();
  private readonly leaseMs: number;

  constructor(options: OutboxLeaseOptions = {}) {
    this.leaseMs = options.claimLeaseMs ?? 30_000;
  }

  /** Stores a prepared event as pending (synchronous). */
  add(prepared: PreparedEvent<unknown>): void {
    const stored = storePreparedEvent(prepared);
    if (this.rows.has(stored.id)) return;
    const now = Date.now();
    this.rows.set(stored.id, {
      ...stored,
      state: "pending",
      attempts: 0,
      createdAt: now,
      updatedAt: now,
      nextAttemptAt: now,
    });
  }

  async claimDue(limit: number, now: Date): Promise<OutboxEntry[]> {
    const at = now.getTime();
    const due = [...this.rows.values()]
      .filter((row) => row.state !== "dispatched" && row.nextAttemptAt <= at)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
      .slice(0, Math.max(0, limit));
    return due.map((row) => {
      const entry: OutboxEntry = {
        id: row.id,
        prepared: loadPreparedEvent(row),
        state: row.state,
        attempts: row.attempts,
        createdAt: new Date(row.createdAt),
        ...(row.lastError !== undefined && { lastError: row.lastError }),
      };
      row.nextAttemptAt = at + this.leaseMs;
      row.updatedAt = at;
      return entry;
    });
  }

  async markDispatched(id: string): Promise<void> {
    const row = this.rows.get(id);
    if (!row) return;
    row.state = "dispatched";
    row.attempts++;
    row.updatedAt = Date.now();
  }

  async markFailed(id: string, error: string, nextAttemptAt: Date): Promise<void> {
    const row = this.rows.get(id);
    if (!row) return;
    row.state = "failed";
    row.attempts++;
    row.lastError = error;
    row.nextAttemptAt = nextAttemptAt.getTime();
    row.updatedAt = Date.now();
  }

  /** The state of an entry (for tests and diagnostics). */
  stateOf(id: string): Exclude<OutboxState, "claimed"> | undefined {
    return this.rows.get(id)?.state;
  }
}
