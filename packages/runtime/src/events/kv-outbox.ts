/**
 * The NATS KV outbox (runtime spec §2): for services whose state lives in NATS rather than in a SQL
 * database. One key per event id; the value is a JSON record. Without transactions, claiming is a
 * compare-and-set on the entry's revision (`pending|failed` → `claimed`), so only one dispatcher
 * wins; a claim whose dispatcher died expires after the lease and the entry becomes due again.
 * The bucket is a provisioned resource: pass it in, this class never creates it.
 */
import type { KV } from "@nats-io/kv";
import type { OutboxLeaseOptions } from "./memory-outbox.js";
import {
  loadPreparedEvent,
  type OutboxEntry,
  type OutboxRepository,
  type OutboxState,
  type StoredPreparedEvent,
  storePreparedEvent,
} from "./outbox.js";
import type { PreparedEvent } from "./types.js";

/** The JSON value stored under each key of a KV outbox bucket. */
export interface KvOutboxRecord extends StoredPreparedEvent {
  /** Current state. */
  state: OutboxState;
  /** Publish attempts made. */
  attempts: number;
  /** Unix ms. */
  createdAt: number;
  /** Unix ms. */
  updatedAt: number;
  /** When a `pending`/`failed` entry is due, unix ms. */
  nextAttemptAt: number;
  /** When a `claimed` entry's lease ends, unix ms. */
  claimedUntil?: number;
  /** The last publish error. */
  lastError?: string;
}

const encoder = new TextEncoder();

function isDue(record: KvOutboxRecord, at: number): boolean {
  if (record.state === "pending" || record.state === "failed") return record.nextAttemptAt <= at;
  if (record.state === "claimed") return (record.claimedUntil ?? 0) <= at;
  return false;
}

/** An outbox in a NATS KV bucket, claimed with revision CAS. */
export class KvOutboxRepository implements OutboxRepository {
  private readonly leaseMs: number;

  constructor(
    private readonly kv: KV,
    options: OutboxLeaseOptions = {},
  ) {
    this.leaseMs = options.claimLeaseMs ?? 30_000;
  }

  /** Stores a prepared event as pending; adding an event already stored is a no-op. */
  async add(prepared: PreparedEvent<unknown>): Promise<void> {
    const stored = storePreparedEvent(prepared);
    const now = Date.now();
    const record: KvOutboxRecord = {
      ...stored,
      state: "pending",
      attempts: 0,
      createdAt: now,
      updatedAt: now,
      nextAttemptAt: now,
    };
    try {
      await this.kv.create(stored.id, encoder.encode(JSON.stringify(record)));
    } catch (cause) {
      const existing = await this.kv.get(stored.id);
      if (existing?.operation === "PUT") return;
      throw cause;
    }
  }

  async claimDue(limit: number, now: Date): Promise<OutboxEntry[]> {
    const at = now.getTime();
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    // Event ids are ULIDs: sorting keys sorts by creation time.
    keys.sort();
    const claimed: OutboxEntry[] = [];
    for (const key of keys) {
      if (claimed.length >= limit) break;
      const entry = await this.kv.get(key);
      if (entry?.operation !== "PUT") continue;
      const record = entry.json<KvOutboxRecord>();
      if (!isDue(record, at)) continue;
      const next: KvOutboxRecord = {
        ...record,
        state: "claimed",
        claimedUntil: at + this.leaseMs,
        updatedAt: at,
      };
      try {
        await this.kv.update(key, encoder.encode(JSON.stringify(next)), entry.revision);
      } catch {
        // Another dispatcher changed the entry since it was read: it won the claim.
        continue;
      }
      claimed.push({
        id: record.id,
        prepared: loadPreparedEvent(record),
        state: record.state,
        attempts: record.attempts,
        createdAt: new Date(record.createdAt),
        ...(record.lastError !== undefined && { lastError: record.lastError }),
      });
    }
    return claimed;
  }

  async markDispatched(id: string): Promise<void> {
    await this.change(id, (record, now) => {
      const { claimedUntil: _lease, lastError: _error, ...rest } = record;
      return { ...rest, state: "dispatched", attempts: record.attempts + 1, updatedAt: now };
    });
  }

  async markFailed(id: string, error: string, nextAttemptAt: Date): Promise<void> {
    await this.change(id, (record, now) => {
      const { claimedUntil: _lease, ...rest } = record;
      return {
        ...rest,
        state: "failed",
        attempts: record.attempts + 1,
        lastError: error,
        nextAttemptAt: nextAttemptAt.getTime(),
        updatedAt: now,
      };
    });
  }

  /** The stored record of an event (for diagnostics and tests). */
  async recordOf(id: string): Promise<KvOutboxRecord | undefined> {
    const entry = await this.kv.get(id);
    return entry?.operation === "PUT" ? entry.json<KvOutboxRecord>() : undefined;
  }

  /** Deletes dispatched entries last updated before `before`; returns how many were removed. */
  async purgeDispatched(before: Date): Promise<number> {
    let removed = 0;
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(key);
    for (const key of keys) {
      const record = await this.recordOf(key);
      if (record?.state === "dispatched" && record.updatedAt < before.getTime()) {
        await this.kv.purge(key);
        removed++;
      }
    }
    return removed;
  }

  /** Read-modify-write with CAS, retried a few times if the entry changes underneath. */
  private async change(
    id: string,
    next: (record: KvOutboxRecord, now: number) => KvOutboxRecord,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const entry = await this.kv.get(id);
      if (entry?.operation !== "PUT") return;
      const value = next(entry.json<KvOutboxRecord>(), Date.now());
      try {
        await this.kv.update(id, encoder.encode(JSON.stringify(value)), entry.revision);
        return;
      } catch (cause) {
        if (attempt >= 2) throw cause;
      }
    }
  }
}
