/**
 * Ephemeral event listeners (runtime spec §2 "Listen", `mode: "ephemeral"`): a plain core-NATS
 * subscription, live only, no acks. Invalid payloads are logged and skipped, handler failures logged,
 * and an `AbortSignal` (or `stop()`) unsubscribes.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type AnyContractModule, type EventRuntimeDescriptor, fillSubjectTemplate } from "@trellis/contracts";
import { HEADERS } from "../headers.js";
import type { Logger } from "../telemetry/logger.js";
import type { Metrics } from "../telemetry/metrics.js";
import { extractTraceContext, failSpan, SpanKind, tracer } from "../telemetry/tracing.js";
import type { SchemaSet } from "../validation/schemas.js";
import { assertSchemaKnown, decodeEvent, headerOf, invokeHandler, settlesWithin } from "./handling.js";
import type { EventHandler, EventListenerContext, EventNameOf, EventPayloadOf } from "./types.js";

/** Options of {@link listenEphemeral}. */
export interface EphemeralListenerOptions<M extends AnyContractModule, K extends EventNameOf<M>> {
  /** The contract declaring (or using) the event. */
  contract: M;
  /** Validators holding the event's schema (the owning contract's). */
  schemas: SchemaSet;
  /** The event to listen to. */
  eventName: K;
  /** Called for every valid event, one at a time. */
  handler: EventHandler<EventPayloadOf<M, K>>;
  /** Values filling the subject template; missing ones (or `*`) become wildcards. */
  subjectData?: Readonly<Record<string, unknown>>;
  /** Unsubscribes when aborted. */
  signal?: AbortSignal;
  /** Logger. */
  logger: Logger;
  /** Metrics sink. */
  metrics?: Metrics;
  /** How long `stop()` waits for the handler in progress, ms (default 5000). */
  stopTimeoutMs?: number;
}

/** A running ephemeral listener. */
export interface EphemeralEventListener {
  /** The subscribed subject (with wildcards). */
  readonly subject: string;
  /** Unsubscribes and waits (bounded) for the handler in progress; idempotent. */
  stop(): Promise<void>;
}

/**
 * Subscribes to an event with core NATS and resolves once the server has the subscription. An event
 * the contract does not declare, or whose schema is not in `schemas`, throws.
 */
export async function listenEphemeral<M extends AnyContractModule, K extends EventNameOf<M>>(
  nc: NatsConnection,
  options: EphemeralListenerOptions<M, K>,
): Promise<EphemeralEventListener> {
  const { contract, schemas, eventName, handler, logger, metrics } = options;
  const events: Readonly<Record<string, EventRuntimeDescriptor>> = contract.API.trellis.events;
  const descriptor = Object.hasOwn(events, eventName) ? events[eventName] : undefined;
  if (!descriptor)
    throw new Error(`event '${eventName}' is not declared by contract '${contract.CONTRACT_ID}'`);
  assertSchemaKnown(schemas, descriptor.event.schema, eventName);
  const subject = fillSubjectTemplate(descriptor.subject, options.subjectData ?? {}, {
    allowWildcards: true,
  });

  const sub = nc.subscribe(subject);
  const loop = (async () => {
    for await (const msg of sub) {
      const decoded = decodeEvent(msg.data, descriptor.event.schema, schemas);
      if (decoded.isErr()) {
        logger.warn(
          { event: eventName, subject: msg.subject, issues: decoded.error.issues },
          "Skipping an invalid event.",
        );
        metrics?.eventHandled(eventName, "skipped");
        metrics?.error({
          type: decoded.error.name,
          surface: "event",
          direction: "consumer",
          operation: eventName,
          phase: "validation",
        });
        continue;
      }
      const header = headerOf(decoded.value, msg.headers?.get(HEADERS.msgId) || undefined);
      const ctx: EventListenerContext = {
        id: header.id,
        time: header.time,
        subject: msg.subject,
        mode: "ephemeral",
      };
      const span = tracer.startSpan(
        `event.handle.${eventName}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: { "trellis.event": eventName, "trellis.event.id": header.id },
        },
        extractTraceContext(msg.headers),
      );
      const outcome = await invokeHandler(handler, decoded.value as EventPayloadOf<M, K>, ctx);
      if (outcome.isErr()) {
        failSpan(span, outcome.error);
        logger.error({ err: outcome.error, event: eventName, id: header.id }, "Event handler failed.");
        metrics?.error({
          type: outcome.error.name,
          surface: "event",
          direction: "consumer",
          operation: eventName,
          phase: "handler",
        });
      }
      metrics?.eventHandled(eventName, outcome.isOk() ? "ack" : "skipped");
      span.end();
    }
  })().catch((cause: unknown) => {
    logger.error({ err: cause, event: eventName }, "Ephemeral event listener stopped unexpectedly.");
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      options.signal?.removeEventListener("abort", onAbort);
      if (!sub.isClosed()) sub.unsubscribe();
      if (!(await settlesWithin(loop, options.stopTimeoutMs ?? 5000))) {
        logger.warn({ event: eventName }, "Ephemeral listener stopped while its handler was still running.");
      }
    })();
    return stopped;
  };
  const onAbort = () => void stop();
  if (options.signal?.aborted) {
    await stop();
  } else {
    options.signal?.addEventListener("abort", onAbort, { once: true });
    await nc.flush();
  }
  logger.debug({ event: eventName, subject }, "Ephemeral event listener started.");
  return { subject, stop };
}
