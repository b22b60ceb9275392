/**
 * Events (runtime spec §2): publishing with JetStream de-duplication, ephemeral and durable
 * listeners, the transactional outbox and the inbox.
 *
 * @module
 */
export * from "./consumer-group.js";
export * from "./ephemeral.js";
export * from "./inbox.js";
export * from "./kv-inbox.js";
export * from "./kv-outbox.js";
export * from "./memory-outbox.js";
export {
  type DispatchOutboxOptions,
  dispatchOutbox,
  type OutboxDispatchReport,
  type OutboxEntry,
  type OutboxRepository,
  type OutboxState,
  type PreparedEventPublisher,
  preparedEventId,
  type StoredPreparedEvent,
} from "./outbox.js";
export * from "./outbox-dispatcher.js";
export * from "./publisher.js";
export * from "./sqlite-inbox.js";
export * from "./sqlite-outbox.js";
export * from "./types.js";
