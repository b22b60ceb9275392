/**
 * Shared shapes of the events runtime (runtime spec §2): the event header, prepared events and the
 * compile-time helpers that type event names and payloads from a contract module.
 */
import type { AnyContractModule, EventPayload } from "@trellis/contracts";
import type { BaseError, Result } from "@trellis/result";

/** The header the runtime adds to every event payload. */
export interface EventHeader {
  /** ULID of the event; also its `Nats-Msg-Id`, so it is the de-duplication key. */
  readonly id: string;
  /** When the event was prepared, ISO 8601. */
  readonly time: string;
}

/** An event payload with its header, as it travels on the wire. */
export type EventEnvelope<TData = Record<string, unknown>> = Readonly<Omit<TData, "header">> & {
  readonly header: EventHeader;
};

/**
 * An event ready to be published: plain data (no connection, no contract id or digest), so it can be
 * stored in an outbox and published later, any number of times, with the same de-duplication id.
 */
export interface PreparedEvent<TPayload = EventEnvelope> {
  /** Logical event name, e.g. `Orders.Created`. */
  readonly event: string;
  /** The filled subject the event is published on. */
  readonly subject: string;
  /** The frozen payload, header included. */
  readonly payload: TPayload;
  /** The JSON encoding of {@link payload}: the message body. */
  readonly encodedPayload: Uint8Array;
  /** NATS headers: `Nats-Msg-Id` plus W3C trace context. */
  readonly headers: Readonly<Record<string, string>>;
}

/** What a listener handler knows about the event it is handling. */
export interface EventListenerContext {
  /** The event's id (`header.id`). */
  id: string;
  /** The event's time (`header.time`). */
  time: string;
  /** The subject the event arrived on. */
  subject: string;
  /** `durable` for consumer groups, `ephemeral` for live core-NATS listeners. */
  mode: "durable" | "ephemeral";
  /** The consumer group, for durable listeners. */
  group?: string;
  /** The stream sequence, for durable listeners. */
  sequence?: number;
  /** How many times this message has been delivered (durable listeners; 1 on first delivery). */
  deliveryCount?: number;
}

/**
 * An event handler. Returning nothing or `Result.ok` means handled; `Result.err` or a throw means
 * failed (durable: `nak`, redelivered; ephemeral: logged).
 */
export type EventHandler<TEvent = unknown> = (
  event: TEvent,
  context: EventListenerContext,
) => Result<void, BaseError> | Promise<Result<void, BaseError>> | void | Promise<void>;

/** Event names (owned and used) of a contract module. */
export type EventNameOf<M extends AnyContractModule> = keyof M["API"]["trellis"]["events"] & string;

/** The payload type of event `K` of module `M`, header included. */
export type EventPayloadOf<M extends AnyContractModule, K extends EventNameOf<M>> = EventPayload<M, K>;

/** What a caller gives to publish event `K` of module `M`: the payload without its header. */
export type EventDataOf<M extends AnyContractModule, K extends EventNameOf<M>> = Omit<
  EventPayload<M, K>,
  "header"
>;
