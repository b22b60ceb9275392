/**
 * The transactional outbox (runtime spec §2 "Prepared events / outbox"). A service prepares an event
 * and stores it with `OutboxRepository.add` in the same transaction as its own state change; a
 * dispatcher later publishes it with `publishPrepared`. Because the prepared event keeps its id as
 * `Nats-Msg-Id`, re-dispatching it (after a crash between publish and `markDispatched`) is absorbed
 * by JetStream de-duplication within the stream's duplicate window.
 *
 * Commit-then-notify: wake the dispatcher only after the transaction has committed. An event added
 * in a transaction that rolls back is never stored, so it is never published.
 */
import type { BaseError, Result } from "@trellis/result";
import { HEADERS } from "../headers.js";
import { deepFreeze, headerOf } from "./handling.js";
import type { EventPublishAck } from "./publisher.js";
import type { PreparedEvent } from "./types.js";

/** Life cycle of an outbox entry. `claimed` exists only in stores without transactions (NATS KV). */
export type OutboxState = "pending" | "claimed" | "dispatched" | "failed";

/** One stored event, as handed to a dispatcher by `claimDue`. */
export interface OutboxEntry {
  /** The event id (`header.id`, also its `Nats-Msg-Id`). */
  id: string;
  /** The event to publish, exactly as prepared. */
  prepared: PreparedEvent<unknown>;
  /** State when it was claimed. */
  state: OutboxState;
  /** Publish attempts made before this one. */
  attempts: number;
  /** When it was added. */
  createdAt: Date;
  /** The last publish error, if any. */
  lastError?: string;
}

/**
 * Where prepared events wait to be published. `claimDue` hands out due entries (`pending`, or
 * `failed` whose retry time has come) and hides them from other dispatchers for a lease; an entry
 * whose dispatcher died before marking it becomes due again when the lease ends.
 */
export interface OutboxRepository {
  /** Stores a prepared event as `pending` (SQLite: synchronously, inside the caller's transaction). Re-adding the same event is a no-op. */
  add(prepared: PreparedEvent<unknown>): void | Promise<void>;
  /** Claims up to `limit` entries due at `now`, oldest first. */
  claimDue(limit: number, now: Date): Promise<OutboxEntry[]>;
  /** Records a successful publish. */
  markDispatched(id: string): Promise<void>;
  /** Records a failed publish; the entry is retried at `nextAttemptAt`. */
  markFailed(id: string, error: string, nextAttemptAt: Date): Promise<void>;
}

/** Anything that can publish a prepared event (an `EventPublisher`). */
export interface PreparedEventPublisher {
  /** Publishes with a JetStream ack. */
  publishPrepared(prepared: PreparedEvent<unknown>): PromiseLike<Result<EventPublishAck, BaseError>>;
}

/** Options of {@link dispatchOutbox}. */
export interface DispatchOutboxOptions {
  /** Most entries claimed in one pass (default 25). */
  limit?: number;
  /** Delay before a failed entry is retried, ms (default 1000). */
  retryDelayMs?: number;
  /** Clock (default `new Date()`). */
  now?: () => Date;
}

/** What one dispatch pass did. */
export interface OutboxDispatchReport {
  /** Entries claimed. */
  claimed: number;
  /** Entries published and marked dispatched (duplicates included). */
  dispatched: number;
  /** Of those, how many JetStream had already stored (a re-dispatch). */
  duplicates: number;
  /** Entries whose publish failed, now `failed` with a retry time. */
  failed: number;
}

/**
 * One dispatch pass: `claimDue` → `publishPrepared` → `markDispatched`, or `markFailed` with
 * `nextAttemptAt = now + retryDelayMs`. Entries are published one at a time, oldest first.
 */
export async function dispatchOutbox(
  repository: OutboxRepository,
  publisher: PreparedEventPublisher,
  options: DispatchOutboxOptions = {},
): Promise<OutboxDispatchReport> {
  const now = options.now ?? (() => new Date());
  const limit = options.limit ?? 25;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const entries = await repository.claimDue(limit, now());
  const report: OutboxDispatchReport = { claimed: entries.length, dispatched: 0, duplicates: 0, failed: 0 };
  for (const entry of entries) {
    const result = await publisher.publishPrepared(entry.prepared);
    if (result.isOk()) {
      await repository.markDispatched(entry.id);
      report.dispatched++;
      if (result.value.duplicate) report.duplicates++;
    } else {
      await repository.markFailed(entry.id, result.error.message, new Date(now().getTime() + retryDelayMs));
      report.failed++;
    }
  }
  return report;
}

/** The stored (text) form of a prepared event, shared by the outbox implementations. */
export interface StoredPreparedEvent {
  /** Event id. */
  id: string;
  /** Event name. */
  event: string;
  /** Subject. */
  subject: string;
  /** The encoded payload, as UTF-8 text. */
  payload: string;
  /** Headers. */
  headers: Record<string, string>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The id of a prepared event: its `Nats-Msg-Id`, else its `header.id`; throws when it has neither. */
export function preparedEventId(prepared: PreparedEvent<unknown>): string {
  const fromHeader = prepared.headers[HEADERS.msgId];
  if (fromHeader) return fromHeader;
  const payload = prepared.payload;
  const id =
    typeof payload === "object" && payload !== null
      ? headerOf(payload as Record<string, unknown>, undefined).id
      : "";
  if (!id) throw new Error(`prepared event '${prepared.event}' has neither a Nats-Msg-Id nor a header.id`);
  return id;
}

/** Converts a prepared event to its stored form. */
export function storePreparedEvent(prepared: PreparedEvent<unknown>): StoredPreparedEvent {
  return {
    id: preparedEventId(prepared),
    event: prepared.event,
    subject: prepared.subject,
    payload: decoder.decode(prepared.encodedPayload),
    headers: { ...prepared.headers },
  };
}

/** Rebuilds a prepared event from its stored form (same bytes, same headers, frozen payload). */
export function loadPreparedEvent(stored: Omit<StoredPreparedEvent, "id">): PreparedEvent<unknown> {
  return {
    event: stored.event,
    subject: stored.subject,
    payload: deepFreeze(JSON.parse(stored.payload) as unknown),
    encodedPayload: encoder.encode(stored.payload),
    headers: { ...stored.headers },
  };
}
