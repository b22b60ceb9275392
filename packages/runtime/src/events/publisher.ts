/**
 * The event publisher (runtime spec §2 "Publish"): `prepare` builds a validated, frozen payload with
 * its header, fills the subject and sets `Nats-Msg-Id` plus trace context; `publishPrepared` is a
 * JetStream publish with an ack, de-duplicated by the stream within its duplicate window.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { context, type Span, trace } from "@opentelemetry/api";
import {
  type AnyContractModule,
  type EventRuntimeDescriptor,
  fillSubjectTemplate,
  SubjectTemplateError,
} from "@trellis/contracts";
import { AsyncResult, Result } from "@trellis/result";
import { TransportError, ValidationError } from "../errors/errors.js";
import { HEADERS } from "../headers.js";
import { newUlid } from "../ids.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { failSpan, injectTraceContext, SpanKind, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { deepFreeze, headerOf } from "./handling.js";
import type { EventDataOf, EventHeader, EventNameOf, EventPayloadOf, PreparedEvent } from "./types.js";

/** Options of {@link EventPublisher}. */
export interface EventPublisherOptions<M extends AnyContractModule = AnyContractModule> {
  /** JetStream client of the participant's connection. */
  js: JetStreamClient;
  /** The contract whose events (owned, or used for publishing) are published. */
  contract: M;
  /** Validators of the event schemas. */
  schemas: SchemaSet;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
  /** How long to wait for the JetStream ack, ms (default: the JetStream client's, 5000). */
  ackTimeoutMs?: number;
}

/** The JetStream acknowledgement of a published event. */
export interface EventPublishAck {
  /** The stream that stored it (`trellis` for contract events). */
  stream: string;
  /** Its stream sequence (the original's, for a duplicate). */
  seq: number;
  /** True when the stream already held an event with this `Nats-Msg-Id` (nothing new was stored). */
  duplicate: boolean;
}

/** Publishes a contract's events to JetStream. */
export class EventPublisher<M extends AnyContractModule = AnyContractModule> {
  private readonly events: Readonly<Record<string, EventRuntimeDescriptor>>;

  constructor(private readonly options: EventPublisherOptions<M>) {
    this.events = options.contract.API.trellis.events;
  }

  /**
   * Builds the event: `{...data, header: {id, time}}` validated against the event schema and frozen,
   * the subject filled from it, and the headers. Invalid data or missing subject data is a
   * `ValidationError`; nothing is sent. An event the contract does not declare throws.
   */
  prepare<K extends EventNameOf<M>>(
    eventName: K,
    data: EventDataOf<M, K>,
  ): Result<PreparedEvent<EventPayloadOf<M, K>>, ValidationError> {
    const span = tracer.startSpan(`event.publish.${eventName}`, { kind: SpanKind.PRODUCER });
    try {
      return this.build<K>(eventName, data, span);
    } finally {
      span.end();
    }
  }

  /** Publishes a prepared event with a JetStream ack, using its id as `Nats-Msg-Id`. */
  publishPrepared(prepared: PreparedEvent<unknown>): AsyncResult<EventPublishAck, TransportError> {
    return AsyncResult.from(this.send(prepared));
  }

  /** Prepares and publishes an event; resolves once JetStream has acknowledged it. */
  publish<K extends EventNameOf<M>>(
    eventName: K,
    data: EventDataOf<M, K>,
  ): AsyncResult<EventPublishAck, ValidationError | TransportError> {
    const span = tracer.startSpan(`event.publish.${eventName}`, { kind: SpanKind.PRODUCER });
    const run = async (): Promise<Result<EventPublishAck, ValidationError | TransportError>> => {
      try {
        const prepared = this.build<K>(eventName, data, span);
        if (prepared.isErr()) return Result.err(prepared.error);
        const ack = await this.send(prepared.value);
        if (ack.isErr()) failSpan(span, ack.error);
        return ack;
      } finally {
        span.end();
      }
    };
    return AsyncResult.from(run());
  }

  private descriptor(eventName: string): EventRuntimeDescriptor {
    const descriptor = Object.hasOwn(this.events, eventName) ? this.events[eventName] : undefined;
    if (!descriptor) {
      throw new Error(
        `event '${eventName}' is not declared by contract '${this.options.contract.CONTRACT_ID}'`,
      );
    }
    return descriptor;
  }

  private build<K extends EventNameOf<M>>(
    eventName: K,
    data: EventDataOf<M, K>,
    span: Span,
  ): Result<PreparedEvent<EventPayloadOf<M, K>>, ValidationError> {
    const descriptor = this.descriptor(eventName);
    const header: EventHeader = { id: newUlid(), time: new Date().toISOString() };
    span.setAttributes({
      "messaging.system": "nats",
      "trellis.event": eventName,
      "trellis.event.id": header.id,
    });
    const refuse = (error: ValidationError, phase: string) => {
      failSpan(span, error);
      this.options.metrics?.error({
        type: error.name,
        surface: "event",
        direction: "publisher",
        operation: eventName,
        phase,
      });
      return Result.err(error);
    };

    // The wire form is JSON: validating its round trip checks exactly what listeners will receive.
    let wire: unknown;
    try {
      wire = JSON.parse(JSON.stringify({ ...(data as object), header }));
    } catch (cause) {
      return refuse(
        new ValidationError([{ path: "", message: "the event data cannot be encoded as JSON" }], {
          cause,
          context: { event: eventName },
        }),
        "encoding",
      );
    }
    const valid = this.options.schemas.validate<Record<string, unknown>>(descriptor.event.schema, wire);
    if (valid.isErr()) return refuse(valid.error, "validation");
    const payload = valid.value;

    let subject: string;
    try {
      subject = fillSubjectTemplate(descriptor.subject, payload);
    } catch (cause) {
      if (!(cause instanceof SubjectTemplateError)) throw cause;
      const pointer = cause.context?.pointer;
      return refuse(
        new ValidationError([{ path: typeof pointer === "string" ? pointer : "", message: cause.message }], {
          cause,
          context: { event: eventName, subject: descriptor.subject },
        }),
        "subject",
      );
    }
    span.setAttribute("messaging.destination.name", subject);

    const carrier = natsHeaders();
    injectTraceContext(carrier, trace.setSpan(context.active(), span));
    const headers: Record<string, string> = { [HEADERS.msgId]: header.id };
    for (const key of carrier.keys()) headers[key] = carrier.get(key);

    return Result.ok({
      event: eventName,
      subject,
      // The validated value is typed by the schema, which the contract ties to `EventPayloadOf<M, K>`.
      payload: deepFreeze(payload) as EventPayloadOf<M, K>,
      encodedPayload: new TextEncoder().encode(JSON.stringify(payload)),
      headers,
    });
  }

  private async send(prepared: PreparedEvent<unknown>): Promise<Result<EventPublishAck, TransportError>> {
    const { logger, metrics, js } = this.options;
    const msgID = prepared.headers[HEADERS.msgId] ?? headerIdOf(prepared.payload);
    const headers = natsHeaders();
    for (const [key, value] of Object.entries(prepared.headers)) {
      if (key !== HEADERS.msgId) headers.set(key, value);
    }
    try {
      const ack = await js.publish(prepared.subject, prepared.encodedPayload, {
        ...(msgID && { msgID }),
        headers,
        ...(this.options.ackTimeoutMs !== undefined && { timeout: this.options.ackTimeoutMs }),
      });
      metrics?.eventPublished(prepared.event);
      if (ack.duplicate) {
        logger.debug({ event: prepared.event, id: msgID, seq: ack.seq }, "Event already stored (duplicate).");
      }
      return Result.ok({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate });
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      const error = new TransportError(
        "trellis.event.publish_failed",
        `Publishing event '${prepared.event}' on '${prepared.subject}' failed: ${reason}`,
        {
          cause,
          context: { event: prepared.event, ...(msgID && { eventId: msgID }) },
          hint: "Check the connection and that a JetStream stream captures the subject (events.> → 'trellis').",
        },
      );
      logger.warn({ err: error, event: prepared.event }, "Event publish failed.");
      metrics?.error({
        type: error.name,
        surface: "event",
        direction: "publisher",
        operation: prepared.event,
        phase: "publish",
      });
      return Result.err(error);
    }
  }
}

function headerIdOf(payload: unknown): string | undefined {
  if (typeof payload !== "object" || payload === null) return undefined;
  const id = headerOf(payload as Record<string, unknown>, undefined).id;
  return id === "" ? undefined : id;
}
